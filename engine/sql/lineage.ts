// Lineage bookkeeping on result columns, whatever the dialect: how a column's sources flow into a value,
// which reach it only through calls (`through`), renaming, set-operation arms and recursive CTEs.
import { dedupe, type Facts } from './facts.ts';
import type { ColumnRef, ResultColumn, ThroughRef } from './types.ts';

/** An output or source standing for columns not known by name. */
export const STAR = '*';

/** What the value-flow helpers need of a dialect's walk: its facts and the call tags of sources. */
export interface Flow {
  readonly facts: Facts;
  /** Sources (by object) that flow only as the result of these calls on a direct copy of them: `count(ssn)`. */
  readonly via: WeakMap<ColumnRef, ReadonlySet<string>>;
}

export const refKey = (s: ColumnRef): string => s.schema + '\u0000' + s.table + '\u0000' + s.column;

/** A table column flows into the current value (sink) and/or is used as a predicate. */
export function use(w: Flow, src: ColumnRef, sink: ColumnRef[] | null, pred: boolean, base = false): void {
  if (base) w.facts.read(src.schema, src.table, src.column);
  if (sink) sink.push(src);
  if (pred) w.facts.pred(src);
}

/** A derived relation's output flows into the current value, keeping what reaches it only through calls. */
export function useOut(w: Flow, o: ResultColumn, sink: ColumnRef[] | null, pred: boolean): void {
  if (!o.through || !sink) {
    for (const src of o.sources) use(w, src, sink, pred);
    return;
  }
  const by = new Map(o.through.map((t) => [refKey(t), t.functions]));
  for (const src of o.sources) {
    const fns = by.get(refKey(src));
    use(w, fns ? taggedVia(w, src, fns) : src, sink, pred);
  }
}

/** Every output of a query used as a value (a scalar subquery, ARRAY(...), IN (...)) flows into it. */
export function useOuts(w: Flow, outs: readonly ResultColumn[], sink: ColumnRef[] | null, pred: boolean): void {
  for (const o of outs) useOut(w, o, sink, pred);
}

/**
 * Column `col` of a derived relation (subquery, CTE, view) flows into the value: the outputs of that name,
 * else the '*' outputs narrowed to it. Returns false when what flows is derived, not a direct copy.
 */
export function useNamed(w: Flow, outs: readonly ResultColumn[], col: string, sink: ColumnRef[] | null, pred: boolean): boolean {
  let plain = true;
  let hit = false;
  for (const o of outs) {
    if (o.name === col) {
      hit = true;
      if (o.derived) plain = false;
      useOut(w, o, sink, pred);
    }
  }
  if (hit) return plain;
  for (const o of outs) {
    if (o.name !== STAR) continue;
    if (o.derived) plain = false;
    for (const src of o.sources) {
      use(w, src.column === STAR ? { schema: src.schema, table: src.table, column: col } : src, sink, pred);
    }
  }
  return plain;
}

/** A fresh copy of `src` that reaches the value only through the results of `fns`. */
export function taggedVia(w: Flow, src: ColumnRef, fns: Iterable<string>): ColumnRef {
  const t = { schema: src.schema, table: src.table, column: src.column };
  w.via.set(t, new Set(fns));
  return t;
}

/** The sources of a value's sink whose every occurrence is tagged (see taggedVia), with the union of their tags. */
export function throughOf(w: Flow, sink: ColumnRef[]): ThroughRef[] | undefined {
  const m = new Map<string, { ref: ColumnRef; fns: Set<string> | null }>();
  for (const src of sink) {
    const k = refKey(src);
    const tags = w.via.get(src);
    const e = m.get(k);
    if (!e) m.set(k, { ref: src, fns: tags ? new Set(tags) : null });
    else if (e.fns && tags) for (const t of tags) e.fns.add(t);
    else e.fns = null;
  }
  const out: ThroughRef[] = [];
  for (const { ref, fns } of m.values()) if (fns) out.push({ schema: ref.schema, table: ref.table, column: ref.column, functions: [...fns].sort() });
  return out.length ? out : undefined;
}

/** `o` with `through` set when there is any (absent otherwise, so plain outputs keep their shape). */
export function withThrough(o: ResultColumn, through: ThroughRef[] | undefined): ResultColumn {
  if (through?.length) o.through = through;
  return o;
}

/** Output names replaced by an alias column list, by position. */
export function rename(outs: ResultColumn[], names: string[]): ResultColumn[] {
  if (names.length === 0) return outs;
  return outs.map((o, i) => (i < names.length && o.name !== STAR ? withThrough({ name: names[i] as string, sources: o.sources, derived: o.derived }, o.through) : o));
}

/**
 * Output columns of a set operation: names from the left arm, sources from both by position. `unnamed`
 * is the dialect's name for a column neither arm names (PostgreSQL '?column?', Snowflake '?COLUMN?').
 */
export function mergeArms(l: ResultColumn[], r: ResultColumn[], unnamed: string): ResultColumn[] {
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
    const sources = dedupe([...(a?.sources ?? []), ...(b?.sources ?? []), ...extra]);
    outs.push(
      withThrough(
        { name: a?.name ?? b?.name ?? unnamed, sources, derived: (a?.derived ?? true) || (b?.derived ?? true) || starred },
        starred ? undefined : mergeThrough([a, b], sources),
      ),
    );
  }
  return outs;
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

/**
 * A recursive CTE's output columns: `define` makes the rows so far visible under the CTE's name, `arm`
 * walks the recursive arm against them. Each iteration feeds the previous rows back in (`SELECT y, ssn
 * FROM r` moves ssn from column 2 to column 1 one round later), so the arm is re-walked until the lineage
 * stops growing; if it does not settle, every column derives from every source.
 */
export function settleRecursive(anchor: ResultColumn[], arm: () => ResultColumn[], define: (outs: ResultColumn[]) => void, unnamed: string): ResultColumn[] {
  define(anchor);
  let outs = mergeArms(anchor, arm(), unnamed);
  let size = sourceCount(outs);
  for (let i = 0; ; i++) {
    define(outs);
    outs = mergeArms(outs, arm(), unnamed);
    const next = sourceCount(outs);
    if (next === size) break;
    size = next;
    if (i > outs.length + 2) {
      outs = unionAll(outs);
      break;
    }
  }
  return outs;
}

function sourceCount(outs: ResultColumn[]): number {
  let n = 0;
  for (const o of outs) n += o.sources.length;
  return n;
}

/** Every column derives from every source: the fallback when a recursion does not settle. */
function unionAll(outs: ResultColumn[]): ResultColumn[] {
  const src = dedupe(outs.flatMap((o) => o.sources));
  return outs.map((o) => ({ name: o.name, sources: src, derived: true }));
}
