// What walking one statement accumulates, whatever the dialect: the tables and columns it reads and
// writes, the functions it calls, its predicates and what lineage it could not follow.
import type { ColumnRef, StatementAnalysis, TableAccess, Unresolved } from './types.ts';

interface Access {
  schema: string;
  table: string;
  cols: Set<string>;
}

/** Facts of one top-level statement, merged as the walk finds them. */
export class Facts {
  readonly reads = new Map<string, Access>();
  readonly writes = new Map<string, Access>();
  readonly functions = new Set<string>();
  readonly preds = new Map<string, ColumnRef>();
  readonly unresolved = new Map<string, Unresolved>();
  dataModifyingCte = false;
  createsTable = false;
  opaque = false;
  litDep = false;
  /** A data-modifying CTE ran UPDATE/DELETE without a WHERE / with a trivial one. */
  cteWhereMissing = false;
  cteWhereTrivial = false;

  read(schema: string, table: string, col: string | null): void {
    add(this.reads, schema, table, col);
  }
  write(schema: string, table: string, cols: readonly string[]): void {
    const a = add(this.writes, schema, table, null);
    for (const c of cols) a.cols.add(c);
  }
  pred(r: ColumnRef): void {
    const k = r.schema + '\u0000' + r.table + '\u0000' + r.column;
    if (!this.preds.has(k)) this.preds.set(k, r);
  }
  unresolve(reason: string, column: string | undefined): void {
    const k = column === undefined ? reason : reason + '\u0000' + column;
    if (!this.unresolved.has(k)) this.unresolved.set(k, column === undefined ? { reason } : { reason, column });
  }
}

function add(m: Map<string, Access>, schema: string, table: string, col: string | null): Access {
  const k = schema + '\u0000' + table;
  let a = m.get(k);
  if (!a) {
    a = { schema, table, cols: new Set() };
    m.set(k, a);
  }
  if (col !== null) a.cols.add(col);
  return a;
}

/** Sources without repeats (same schema, table and column), first occurrence kept. */
export function dedupe(src: ColumnRef[]): ColumnRef[] {
  if (src.length < 2) return src.slice();
  const seen = new Set<string>();
  const out: ColumnRef[] = [];
  for (const s of src) {
    const k = s.schema + '\u0000' + s.table + '\u0000' + s.column;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(s);
  }
  return out;
}

/** The tables of a Facts map as the policy input lists them. */
export function accesses(m: ReadonlyMap<string, Access>): TableAccess[] {
  const out: TableAccess[] = [];
  for (const a of m.values()) out.push({ schema: a.schema, table: a.table, columns: [...a.cols] });
  return out;
}

/**
 * A nested statement's facts (EXECUTE IMMEDIATE's, EXPLAIN's, a called function body's) count for the
 * statement around it. `column`: the result column its unresolved lineage flows into, when that is the
 * caller's (a function called in a select item) rather than the nested statement's own.
 */
export function absorb(f: Facts, n: StatementAnalysis, column: (u: Unresolved) => string | undefined = (u) => u.column): void {
  for (const r of n.reads) {
    if (r.columns.length === 0) f.read(r.schema, r.table, null);
    for (const c of r.columns) f.read(r.schema, r.table, c);
  }
  for (const x of n.writes) f.write(x.schema, x.table, x.columns);
  for (const fn of n.functions) f.functions.add(fn);
  for (const p of n.predicates_on) f.pred(p);
  for (const u of n.unresolved) f.unresolve(u.reason, column(u));
  if (n.opaque) f.opaque = true;
  if (n.literal_dependent) f.litDep = true;
  if (n.data_modifying_cte) f.dataModifyingCte = true;
  if (n.creates_table_from_query) f.createsTable = true;
}
