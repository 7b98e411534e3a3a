// Column references: which FROM item (at which scope level) a name resolves to, what value flows from it
// (sink), whether it is a predicate, and `*` / whole-row expansion.
import { dedupe } from '../../facts.ts';
import type { ColumnRef, ResultColumn, ThroughRef } from '../../types.ts';
import { fold, kindOf, Unresolvable } from '../names.ts';
import type { Json } from '../parser.ts';
import { STAR, type Rel, type Scope, type Walk } from './scope.ts';

/** The folded parts of a column reference (`c`, `t.c`, `s.t.c`, `db.s.t.c`); null for anything else. */
export function refParts(n: Json): string[] | null {
  switch (kindOf(n)) {
    case 'column': {
      const b = n.column;
      return b.table ? [fold(b.table), fold(b.name)] : [fold(b.name)];
    }
    case 'identifier':
      return [fold(n.identifier)];
    case 'dot': {
      const inner = refParts(n.dot.this);
      return inner ? [...inner, fold(n.dot.field)] : null;
    }
    default:
      return null;
  }
}

/** The FROM item a qualifier names: an alias or table name, or schema.table / db.schema.table of an unaliased table. */
export function findRel(q: string[], sc: Scope): Rel | null {
  const n = q.length;
  for (let s: Scope | null = sc; s; s = s.parent) {
    for (const r of s.rels) {
      if (n === 1) {
        if (r.name === q[0]) return r;
      } else if (!r.aliased && r.schema && r.table === q[n - 1]) {
        const schema = q.slice(0, -1).join('.');
        if (r.schema === schema || r.schema.endsWith('.' + schema)) return r;
      }
    }
  }
  return null;
}

/** Resolves a column reference's parts; returns true when it is a plain column passed through unchanged. */
export function columnRef(w: Walk, parts: string[], sc: Scope, sink: ColumnRef[] | null, pred: boolean): boolean {
  const n = parts.length;
  if (n === 1) return unqualified(w, parts[0] as string, sc, sink, pred);
  const col = parts[n - 1] as string;
  const rel = findRel(parts.slice(0, -1), sc);
  // Snowflake has no composite columns: a qualifier that names no FROM item is an error it would raise too.
  if (!rel) throw new Unresolvable(`${parts.join('.')} names no table, alias or subquery in scope`);
  markLocal(rel, sc);
  return relColumn(w, rel, col, sink, pred);
}

function markLocal(rel: Rel, sc: Scope): void {
  for (let s: Scope | null = sc; s; s = s.parent) {
    if (s.rels.includes(rel)) {
      s.local++;
      return;
    }
  }
}

function unqualified(w: Walk, col: string, sc: Scope, sink: ColumnRef[] | null, pred: boolean): boolean {
  let found = false;
  let plain = true;
  for (let s: Scope | null = sc; s; s = s.parent) {
    let sure = false;
    let maybe = false;
    for (const r of s.rels) {
      const h = relHas(r, col);
      if (h === 1) sure = true;
      else if (h === 2) maybe = true;
    }
    const out = sure ? undefined : s.outputs?.get(col);
    if (!sure && !maybe && !out) continue;
    s.local++;
    found = true;
    for (const r of s.rels) {
      const h = relHas(r, col);
      if (h === 0) continue;
      if (!relColumn(w, r, col, sink, pred)) plain = false;
    }
    if (sure) return plain;
    if (out) {
      // An output of the select list: unless a FROM item may have a column of that name, it is the output.
      useOut(w, out, sink, pred);
      if (maybe || out.derived) plain = false;
      if (!maybe) return plain;
    }
    // Only a catalog-confirmed match settles it; otherwise an outer level may own the name.
  }
  if (found) return plain;
  // No FROM item has it (per the catalog): attribute it to every candidate of the nearest level.
  for (let s: Scope | null = sc; s; s = s.parent) {
    if (s.rels.length === 0) continue;
    s.local++;
    for (const r of s.rels) relColumn(w, r, col, sink, pred);
    return plain;
  }
  return plain;
}

/** Resolves `col` against the given rels only (JOIN USING / NATURAL). */
export function resolveIn(w: Walk, rels: Rel[], col: string, sink: ColumnRef[] | null, pred: boolean): void {
  let any = false;
  for (const r of rels) {
    if (relHas(r, col) !== 0) {
      relColumn(w, r, col, sink, pred);
      any = true;
    }
  }
  if (!any) for (const r of rels) relColumn(w, r, col, sink, pred);
}

/**
 * `$2`: the second column of this level's FROM items, by position (staged files, VALUES, tables alike).
 * Returns true when it is a plain column passed through unchanged.
 */
export function positionalRef(w: Walk, index: number, sc: Scope, sink: ColumnRef[] | null, pred: boolean): boolean {
  const cols: ResultColumn[] = [];
  for (const r of sc.rels) expandRel(w, r, cols);
  sc.local++;
  const c = cols[index - 1];
  if (c && !cols.slice(0, index).some((x) => x.name === STAR)) {
    for (const s of c.sources) use(w, s, sink, pred);
    return !c.derived;
  }
  // Columns not known by position: any of them (or the file's, for a stage) may be the one.
  for (const r of sc.rels) if (!r.cols && !r.outs) use(w, { schema: r.schema as string, table: r.table as string, column: '$' + index }, sink, pred, true);
  for (const x of cols) for (const s of x.sources) use(w, s, sink, pred);
  return false;
}

/** 0 = no such column, 1 = known column, 2 = columns unknown, may have it. */
export function relHas(r: Rel, col: string): 0 | 1 | 2 {
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

function relColumn(w: Walk, r: Rel, col: string, sink: ColumnRef[] | null, pred: boolean): boolean {
  if (r.outs) {
    let plain = true;
    let hit = false;
    for (const o of r.outs) {
      if (o.name === col) {
        hit = true;
        if (o.derived) plain = false;
        useOut(w, o, sink, pred);
      }
    }
    if (!hit) {
      for (const o of r.outs) {
        if (o.name !== STAR) continue;
        if (o.derived) plain = false;
        for (const src of o.sources) {
          use(w, src.column === STAR ? { schema: src.schema, table: src.table, column: col } : src, sink, pred);
        }
      }
    }
    if (r.view) w.facts.read(r.schema as string, r.table as string, col);
    return plain;
  }
  use(w, { schema: r.schema as string, table: r.table as string, column: col }, sink, pred, true);
  return true;
}

/** A table column flows into the current value (sink) and/or is used as a predicate. */
export function use(w: Walk, src: ColumnRef, sink: ColumnRef[] | null, pred: boolean, base = false): void {
  if (base) w.facts.read(src.schema, src.table, src.column);
  if (sink) sink.push(src);
  if (pred) w.facts.pred(src);
}

/** A derived relation's output flows into the current value, keeping what reaches it only through calls. */
export function useOut(w: Walk, o: ResultColumn, sink: ColumnRef[] | null, pred: boolean): void {
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

/** A fresh copy of `src` that reaches the value only through the results of `fns`. */
export function taggedVia(w: Walk, src: ColumnRef, fns: Iterable<string>): ColumnRef {
  const t = { schema: src.schema, table: src.table, column: src.column };
  w.via.set(t, new Set(fns));
  return t;
}

/** The sources of a value's sink whose every occurrence is tagged (see taggedVia), with the union of their tags. */
export function throughOf(w: Walk, sink: ColumnRef[]): ThroughRef[] | undefined {
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

/** `*` / `t.*`: one output per known column (minus EXCLUDE), else one '*' output. Records the reads. */
export function expandRel(w: Walk, r: Rel, outs: ResultColumn[], except: ReadonlySet<string> | null = null): void {
  if (r.outs) {
    for (const o of r.outs) {
      if (except?.has(o.name)) continue;
      if (r.view) w.facts.read(r.schema as string, r.table as string, o.name);
      outs.push(o);
    }
    return;
  }
  const schema = r.schema as string;
  const table = r.table as string;
  if (r.cols) {
    for (const c of r.cols) {
      if (except?.has(c)) continue;
      w.facts.read(schema, table, c);
      outs.push({ name: c, sources: [{ schema, table, column: c }], derived: false });
    }
    return;
  }
  // Unknown columns: EXCLUDE cannot be applied, so the '*' may carry any column.
  w.facts.read(schema, table, STAR);
  outs.push({ name: STAR, sources: [{ schema, table, column: STAR }], derived: false });
}

/** Every column of `rels` flows into one value (OBJECT_CONSTRUCT(*), HASH(t.*)). */
export function wholeRows(w: Walk, rels: Rel[], sc: Scope, sink: ColumnRef[] | null, pred: boolean): void {
  const tmp: ResultColumn[] = [];
  for (const r of rels) {
    expandRel(w, r, tmp);
    markLocal(r, sc);
  }
  for (const o of tmp) for (const src of o.sources) use(w, src, sink, pred);
}

export const refKey = (s: ColumnRef): string => s.schema + '\u0000' + s.table + '\u0000' + s.column;

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
    const sources = dedupe([...(a?.sources ?? []), ...(b?.sources ?? []), ...extra]);
    outs.push(
      withThrough(
        { name: a?.name ?? b?.name ?? '?COLUMN?', sources, derived: (a?.derived ?? true) || (b?.derived ?? true) || starred },
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
