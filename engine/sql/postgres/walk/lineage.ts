// PostgreSQL's own lineage helpers: values assigned by DML (RETURNING sees them), and the casts that keep
// a value a direct copy. The dialect-independent ones are in engine/sql/lineage.ts.
import type { ColumnRef, ResultColumn } from '../../types.ts';
import { strList, type Json } from '../names.ts';
import { STAR } from './scope.ts';

/** A cast that keeps the value as it is: to text or varchar without a length (a length truncates). */
function isTextCast(n: Json): boolean {
  const t = n?.TypeCast?.typeName;
  if (!t || t.typmods || t.arrayBounds || t.setof || t.pct_type) return false;
  const names = strList(t.names as Json[] | undefined);
  const last = names[names.length - 1];
  return (last === 'text' || last === 'varchar') && (names.length === 1 || (names.length === 2 && names[0] === 'pg_catalog'));
}

export function stripTextCasts(n: Json): Json {
  while (isTextCast(n)) n = n.TypeCast.arg;
  return n;
}

/** Adds `src` to what `col` was assigned (a column may be assigned by several clauses). */
export function assign(m: Map<string, ColumnRef[]>, col: string, src: ColumnRef[]): void {
  const prev = m.get(col);
  if (prev) prev.push(...src);
  else m.set(col, src.slice());
}

/**
 * INSERT ... SELECT / VALUES: the i-th output goes to the i-th column. Without the column names, or
 * when positions are unreliable (an unexpanded '*'), every value may land in any column ('*' key).
 */
export function assignByPosition(m: Map<string, ColumnRef[]>, cols: string[] | null, outs: ResultColumn[]): void {
  if (!cols || outs.some((o) => o.name === STAR)) {
    for (const o of outs) assign(m, STAR, o.sources);
    return;
  }
  for (let i = 0; i < outs.length && i < cols.length; i++) assign(m, cols[i] as string, (outs[i] as ResultColumn).sources);
}

/** Sources assigned to `col` (its own and the any-column ones); null when none. */
export function assignedTo(m: Map<string, ColumnRef[]>, col: string): ColumnRef[] | null {
  const own = m.get(col);
  const any = m.get(STAR);
  const all = own && any ? [...own, ...any] : (own ?? any);
  return all && all.length ? all : null;
}

export function allAssigned(m: Map<string, ColumnRef[]>): ColumnRef[] | null {
  const all: ColumnRef[] = [];
  for (const v of m.values()) all.push(...v);
  return all.length ? all : null;
}

/** Sources of the '*' outputs, their '*' columns narrowed to `col`. */
export function starSources(outs: ResultColumn[], col: string): ColumnRef[] {
  const out: ColumnRef[] = [];
  for (const o of outs) {
    if (o.name !== STAR) continue;
    for (const s of o.sources) out.push(s.column === STAR ? { schema: s.schema, table: s.table, column: col } : s);
  }
  return out;
}
