// Pure helpers over result columns and their sources: renaming, set-operation arms,
// `through` bookkeeping, values assigned by DML, and the casts that keep a value a direct copy.
import { dedupe } from '../../facts.ts';
import type { ColumnRef, ResultColumn, ThroughRef } from '../../types.ts';
import { strList, type Json } from '../names.ts';
import { STAR } from './scope.ts';

export function rename(outs: ResultColumn[], names: string[]): ResultColumn[] {
  if (names.length === 0) return outs;
  return outs.map((o, i) => (i < names.length && o.name !== STAR ? withThrough({ name: names[i] as string, sources: o.sources, derived: o.derived }, o.through) : o));
}

/** `o` with `through` set when there is any (absent otherwise, so plain outputs keep their shape). */
export function withThrough(o: ResultColumn, through: ThroughRef[] | undefined): ResultColumn {
  if (through?.length) o.through = through;
  return o;
}

export const refKey = (s: ColumnRef): string => s.schema + '\u0000' + s.table + '\u0000' + s.column;

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

/** Sources of a set operation's column reached only through calls: those every arm that has them reaches only so. */
function mergeThrough(arms: (ResultColumn | undefined)[], sources: ColumnRef[]): ThroughRef[] | undefined {
  const out: ThroughRef[] = [];
  for (const src of sources) {
    const k = refKey(src);
    const fns = new Set<string>();
    let ok = true;
    for (const a of arms) {
      if (!a || !a.sources.some((x) => refKey(x) === k)) continue;
      const t = a.through?.find((x) => refKey(x) === k);
      if (!t) ok = false;
      else for (const f of t.functions) fns.add(f);
    }
    if (ok && fns.size) out.push({ schema: src.schema, table: src.table, column: src.column, functions: [...fns].sort() });
  }
  return out.length ? out : undefined;
}

/** Output columns of a set operation: names from the left arm, sources from both by position. */
export function mergeArms(l: ResultColumn[], r: ResultColumn[]): ResultColumn[] {
  const starred = l.some((o) => o.name === STAR) || r.some((o) => o.name === STAR);
  const n = Math.max(l.length, r.length);
  const extra: ColumnRef[] = [];
  if (starred) {
    // Positions are unreliable once a side has an unexpanded '*': every column may come from any.
    for (const o of l) extra.push(...o.sources);
    for (const o of r) extra.push(...o.sources);
  }
  const outs: ResultColumn[] = [];
  for (let i = 0; i < n; i++) {
    const a = l[i];
    const b = r[i];
    const src = [...(a?.sources ?? []), ...(b?.sources ?? []), ...extra];
    const sources = dedupe(src);
    outs.push(
      withThrough(
        { name: a?.name ?? b?.name ?? '?column?', sources, derived: (a?.derived ?? true) || (b?.derived ?? true) || starred },
        starred ? undefined : mergeThrough([a, b], sources),
      ),
    );
  }
  return outs;
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

export function sourceCount(outs: ResultColumn[]): number {
  let n = 0;
  for (const o of outs) n += o.sources.length;
  return n;
}

/** Every column derives from every source: the fallback when a recursion does not settle. */
export function unionAll(outs: ResultColumn[]): ResultColumn[] {
  const all: ColumnRef[] = [];
  for (const o of outs) all.push(...o.sources);
  const src = dedupe(all);
  return outs.map((o) => ({ name: o.name, sources: src, derived: true }));
}
