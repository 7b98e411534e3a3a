// Which mask each result column gets, from the statement's lineage and the decision's masks: the rule in
// docs/decision-contract.md ("How the gateway applies masks"). Pure; the gateway turns each one into a function.
import { SHAPE_KEEPING_METHODS, type Mask } from '../decision/decision.ts';
import type { ColumnRef, ResultColumn } from '../sql/types.ts';

/** The method (and params) one result column is masked with. */
export type ColumnMaskSpec = Pick<Mask, 'method' | 'params'>;

const REDACT: ColumnMaskSpec = Object.freeze({ method: 'redact', params: Object.freeze({}) }) as ColumnMaskSpec;
const NULL: ColumnMaskSpec = Object.freeze({ method: 'null', params: Object.freeze({}) }) as ColumnMaskSpec;

const key = (c: ColumnRef): string => `${c.schema}.${c.table}.${c.column}`;

/**
 * Per result column, the mask it gets, or null when it is shown as it is:
 * - no masked source: null;
 * - a masked source reaching it only through functions its mask lists as content-free (`count(ssn)`):
 *   that source does not count;
 * - a direct copy (`derived: false`) of exactly one masked source: that mask's method (`partial` etc.);
 * - anything else derived from one masked source: that mask's `derived` method (default `redact`), never a
 *   shape-keeping one; from several: `null` if every one says so, else `redact`;
 * - a `*` the analysis could not expand over a table with masked columns: NULL.
 *
 * @example
 * planMasks([{ name: 's', sources: [ssn], derived: true }], [{ column: ssn, method: 'partial', params: {} }])
 * // → [{ method: 'redact', params: {} }]
 */
export function planMasks(columns: readonly ResultColumn[], masks: readonly Mask[]): (ColumnMaskSpec | null)[] {
  if (masks.length === 0) return columns.map(() => null);
  const byColumn = new Map<string, Mask>();
  const byTable = new Set<string>();
  for (const m of masks) {
    byColumn.set(key(m.column), m);
    byTable.add(`${m.column.schema}.${m.column.table}`);
  }
  return columns.map((rc) => {
    const hits = new Set<Mask>();
    for (const s of rc.sources) {
      const m = byColumn.get(key(s));
      if (m) {
        if (!contentFree(rc, s, m)) hits.add(m);
      } else if (s.column === '*' && byTable.has(`${s.schema}.${s.table}`)) return NULL;
    }
    if (hits.size === 0) return null;
    if (hits.size === 1) {
      const m = [...hits][0]!;
      if (!rc.derived) return { method: m.method, params: m.params };
      return derivedSpec(m);
    }
    return [...hits].every((m) => derivedSpec(m).method === 'null') ? NULL : REDACT;
  });
}

/**
 * For a whole row serialized to JSON (ResultColumn.json_keys): per key, the mask its value gets — by the
 * same rule, as if the key were a result column of its own (a copied column keeps its method) — or null
 * when nothing masked flows into it. Null when the column has no key plan.
 *
 * @example
 * planJsonKeys({ name: 'row_to_json', sources: [id, ssn], derived: true, json_keys: [{ key: 'id', sources: [id], derived: false }, { key: 'ssn', sources: [ssn], derived: false }] }, masks)
 * // → Map { 'id' => null, 'ssn' => { method: 'partial', params: { keep_last: 4 } } }
 */
export function planJsonKeys(column: ResultColumn, masks: readonly Mask[]): Map<string, ColumnMaskSpec | null> | null {
  if (!column.json_keys) return null;
  const specs = planMasks(
    column.json_keys.map((k) => ({ name: k.key, sources: k.sources, derived: k.derived })),
    masks,
  );
  return new Map(column.json_keys.map((k, i) => [k.key, specs[i] ?? null]));
}

/** The mask for a value derived from `m`'s column: its `derived`, never shape-keeping. */
function derivedSpec(m: Mask): ColumnMaskSpec {
  const d = m.derived;
  if (!d || SHAPE_KEEPING_METHODS.includes(d.method)) return REDACT;
  return d;
}

/** `s` reaches `rc` only through calls that `m` lists as returning none of the column's content. */
function contentFree(rc: ResultColumn, s: ColumnRef, m: Mask): boolean {
  if (!m.content_free?.length || !rc.through) return false;
  const t = rc.through.find((x) => x.schema === s.schema && x.table === s.table && x.column === s.column);
  if (!t || t.functions.length === 0) return false;
  const safe = new Set(m.content_free);
  // `pg_catalog.count(...)` is `count(...)`; any other schema names another function.
  return t.functions.every((f) => safe.has(f) || (f.startsWith('pg_catalog.') && safe.has(f.slice('pg_catalog.'.length))));
}
