// Column references against FROM items, whatever the dialect: which item a qualifier names, whether an
// item has a column, what flows from it, and the scope level an unqualified name resolves at.
import { STAR, use, useNamed, type Flow } from './lineage.ts';
import type { ColumnRef, ResultColumn } from './types.ts';
import type { Scope } from './walk.ts';

/** A FROM item visible to column references; a dialect's Rel adds the kinds of item only it has. */
export interface FromItem {
  /** Name a qualified reference uses: the alias, else the table / function name. */
  name: string;
  /**
   * Base table or view: its schema as the dialect qualifies tables (PostgreSQL `public`, Snowflake
   * `DATABASE.SCHEMA`) and its name; null for derived items.
   */
  schema: string | null;
  table: string | null;
  aliased: boolean;
  /** Catalog columns of a base table, null when unknown. */
  cols: string[] | null;
  /** Output columns of a derived item (subquery, CTE, view, function); '*' entries stand for columns not known by name. */
  outs: ResultColumn[] | null;
  /** A catalog view expanded through its definition (schema/table name the view, outs its lineage). */
  view: boolean;
}

/** Whether an item has column `col`: 0 = no such column, 1 = a known column, 2 = columns unknown, it may. */
export type Has = 0 | 1 | 2;

/**
 * The FROM item a qualifier names, from this level outwards: one part is an alias or a table name; more
 * parts name an unaliased table, its schema parts matched by the dialect's rule `schemaMatches`.
 */
export function findItem<R extends FromItem>(q: string[], sc: Scope<R>, schemaMatches: (r: R, q: string[]) => boolean): R | null {
  const n = q.length;
  for (let s: Scope<R> | null = sc; s; s = s.parent) {
    for (const r of s.rels) {
      if (n === 1) {
        if (r.name === q[0]) return r;
      } else if (!r.aliased && r.table === q[n - 1] && schemaMatches(r, q)) {
        return r;
      }
    }
  }
  return null;
}

/** Whether a table, view or derived item has column `col` (see Has). */
export function itemHas(r: FromItem, col: string): Has {
  if (r.outs) {
    let star = false;
    for (const o of r.outs) {
      if (o.name === col) return 1;
      if (o.name === STAR) star = true;
    }
    return star ? 2 : 0;
  }
  if (!r.cols) return 2;
  return r.cols.includes(col) ? 1 : 0;
}

/**
 * Column `col` of a table, view or derived item flows into the value (sink) and/or is a predicate; a view's
 * column is a read of the view too. Returns true when it is a plain column passed through unchanged.
 */
export function itemColumn(w: Flow, r: FromItem, col: string, sink: ColumnRef[] | null, pred: boolean): boolean {
  if (r.outs) {
    const plain = useNamed(w, r.outs, col, sink, pred);
    if (r.view) w.facts.read(r.schema as string, r.table as string, col);
    return plain;
  }
  use(w, { schema: r.schema as string, table: r.table as string, column: col }, sink, pred, true);
  return true;
}

/** What the items of one level say about a column: 1 if one surely has it, else 2 if one may, else 0. */
export function levelHas<R>(rels: readonly R[], has: (r: R) => Has): Has {
  let maybe = false;
  for (const r of rels) {
    const h = has(r);
    if (h === 1) return 1;
    if (h === 2) maybe = true;
  }
  return maybe ? 2 : 0;
}

/** A column resolved against the given items only (JOIN USING / NATURAL): those that may have it, else all. */
export function resolveAmong<R>(rels: readonly R[], has: (r: R) => Has, column: (r: R) => unknown): void {
  let any = false;
  for (const r of rels) {
    if (has(r) !== 0) {
      column(r);
      any = true;
    }
  }
  if (!any) for (const r of rels) column(r);
}

/**
 * A column no FROM item has (per the catalog): attributed to every item of the nearest level that has
 * any, which counts as resolved there.
 */
export function everyCandidate<R>(sc: Scope<R>, column: (r: R) => unknown): void {
  for (let s: Scope<R> | null = sc; s; s = s.parent) {
    if (s.rels.length === 0) continue;
    s.local++;
    for (const r of s.rels) column(r);
    return;
  }
}

/** Counts a reference to `rel`'s rows on the nearest scope that holds it. */
export function markLocal<R>(rel: R, sc: Scope<R>): void {
  for (let s: Scope<R> | null = sc; s; s = s.parent) {
    if (s.rels.includes(rel)) {
      s.local++;
      return;
    }
  }
}

/** The column names of a table, view or derived item when known (a '*' among them: some are not). */
export function itemColumns(r: FromItem): string[] | null {
  return r.cols ?? r.outs?.map((o) => o.name) ?? null;
}

/**
 * NATURAL JOIN: the column names both sides have, in the left side's order; null when a side's names
 * are not all known (`names`: a FROM item's column names, see itemColumns).
 */
export function naturalColumns<R>(left: readonly R[], right: readonly R[], names: (r: R) => string[] | null): string[] | null {
  const l = nameSet(left, names);
  const r = nameSet(right, names);
  if (!l || !r) return null;
  return [...l].filter((c) => r.has(c));
}

function nameSet<R>(rels: readonly R[], names: (r: R) => string[] | null): Set<string> | null {
  const s = new Set<string>();
  for (const r of rels) {
    const cs = names(r);
    if (!cs || cs.includes(STAR)) return null;
    for (const c of cs) s.add(c);
  }
  return s;
}
