// Catalog views followed through their definitions, whatever the dialect: memoized per statement, bounded
// in depth (a view inside itself is not followed), their outputs named as the catalog names them.
import { STAR, withThrough } from './lineage.ts';
import type { ResultColumn } from './types.ts';
import type { Walk } from './walk.ts';

/** Views inside views (PostgreSQL: and functions inside functions) deeper than this are reported, not followed. */
export const MAX_EXPANSION = 16;

/** A view's definition as the dialect reads it: the query to walk, or why it cannot be (the parser's error, if any). */
export type ViewBody<N> = { query: N } | { error: string | null };

/**
 * Output lineage of catalog view `key` (schema.table as the catalog keys it), memoized per statement: its
 * facts are recorded the first time. `guard` names it among the catalog objects being expanded; `read`
 * parses its definition; `walk` walks the query in a scope of its own (and in the namespace the dialect
 * resolves a view's names in); `cols` are the catalog's column names for it. A view met inside itself,
 * nested deeper than MAX_EXPANSION, or whose definition cannot be analyzed is reported as unresolved and
 * has no lineage (null).
 */
export function viewLineage<N>(
  w: Walk<unknown, unknown>,
  key: string,
  guard: string,
  read: () => ViewBody<N>,
  walk: (query: N) => ResultColumn[],
  cols: string[] | null,
): ResultColumn[] | null {
  const memo = w.viewMemo.get(key);
  if (memo !== undefined) return memo;
  let outs: ResultColumn[] | null = null;
  if (w.expanding.has(guard) || w.expanding.size >= MAX_EXPANSION) {
    w.facts.unresolve(`view: ${key} is nested too deeply (or in itself) to follow`, undefined);
  } else {
    const body = read();
    if (!('query' in body)) {
      w.facts.unresolve(`view: the definition of ${key} cannot be analyzed${body.error !== null ? ` (${body.error})` : ''}`, undefined);
    } else {
      w.expanding.add(guard);
      const saved = w.col;
      try {
        outs = walk(body.query);
      } finally {
        w.expanding.delete(guard);
        w.col = saved;
      }
      // The catalog's column list is authoritative for the view's names (pg_get_viewdef spells them as aliases).
      if (cols && cols.length === outs.length && !outs.some((o) => o.name === STAR)) {
        outs = outs.map((o, i) => withThrough({ name: cols[i] as string, sources: o.sources, derived: o.derived }, o.through));
      }
    }
  }
  w.viewMemo.set(key, outs);
  return outs;
}
