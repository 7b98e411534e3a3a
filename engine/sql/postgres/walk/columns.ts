// Column references: which FROM item (at which scope level) a name resolves to, what value flows from it
// (sink), whether it is a predicate, and `*` / whole-row expansion.
import { dedupe } from '../../facts.ts';
import { use, useNamed } from '../../lineage.ts';
import { markLocal } from '../../walk.ts';
import type { ColumnRef, ResultColumn } from '../../types.ts';
import { strList, type Json } from '../names.ts';
import { allAssigned, assignedTo, starSources } from './lineage.ts';
import { STAR, type JoinGroup, type Rel, type Scope, type Walk } from './scope.ts';

export function findRel(q: string[], sc: Scope): Rel | null {
  const n = q.length;
  for (let s: Scope | null = sc; s; s = s.parent) {
    for (const r of s.rels) {
      if (n === 1) {
        if (r.name === q[0]) return r;
      } else if (!r.aliased && r.table === q[n - 1] && r.schema === q[n - 2]) {
        return r;
      }
    }
  }
  return null;
}

/** Resolves a ColumnRef's fields; returns true when it is a plain column passed through unchanged. */
export function columnRef(w: Walk, fields: Json[], sc: Scope, sink: ColumnRef[] | null, pred: boolean): boolean {
  const n = fields.length;
  const last = fields[n - 1];
  if (last?.A_Star) {
    // t.* inside an expression (row_to_json(t.*), ROW(t.*)): the whole row flows into the value.
    const tmp: ResultColumn[] = [];
    if (n === 1) {
      for (const r of sc.rels) if (!r.hidden) expandRel(w, r, tmp);
    } else {
      const r = findRel(strList(fields.slice(0, -1)), sc);
      if (r) expandRel(w, r, tmp);
    }
    for (const o of tmp) for (const src of o.sources) use(w, src, sink, pred);
    sc.local++;
    return false;
  }
  const names = strList(fields);
  if (n === 1) return unqualified(w, names[0] as string, sc, sink, pred);
  const col = names[n - 1] as string;
  const rel = findRel(names.slice(0, -1), sc);
  if (rel) {
    markLocal(rel, sc);
    return relColumn(w, rel, col, sink, pred);
  }
  // `a.b` where a is no FROM item: a composite column a with field b.
  unqualified(w, names[0] as string, sc, sink, pred);
  return false;
}

function unqualified(w: Walk, col: string, sc: Scope, sink: ColumnRef[] | null, pred: boolean): boolean {
  let found = false;
  let plain = true;
  for (let s: Scope | null = sc; s; s = s.parent) {
    let sure = false;
    let maybe = false;
    for (const r of s.rels) {
      if (r.hidden) continue;
      const h = relHas(r, col);
      if (h === 1) sure = true;
      else if (h === 2) maybe = true;
    }
    if (sure || maybe) {
      s.local++;
      for (const r of s.rels) {
        if (r.hidden) continue;
        const h = relHas(r, col);
        if (h === 0) continue;
        if (h === 2 && r.name === col) {
          // Without a catalog, a bare name that names a FROM item is taken as its whole row
          // (the row covers a same-named column too, so no column 'p' is invented).
          wholeRow(w, r, sink, pred);
          plain = false;
          continue;
        }
        if (!relColumn(w, r, col, sink, pred)) plain = false;
      }
      found = true;
      // Only a catalog-confirmed match settles it; otherwise an outer level may own the name.
      if (sure) return plain;
      continue;
    }
    for (const r of s.rels) {
      if (r.name === col) {
        s.local++;
        wholeRow(w, r, sink, pred);
        return false;
      }
    }
  }
  if (found) return plain;
  // No FROM item has it (per the catalog): attribute it to every candidate of the nearest level.
  for (let s: Scope | null = sc; s; s = s.parent) {
    if (s.rels.length === 0) continue;
    s.local++;
    for (const r of s.rels) if (!r.hidden) relColumn(w, r, col, sink, pred);
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

/** 0 = no such column, 1 = known column, 2 = columns unknown, may have it. */
export function relHas(r: Rel, col: string): 0 | 1 | 2 {
  if (r.outs) {
    if (r.fn) return r.name === col ? 1 : 2;
    let star = false;
    for (const o of r.outs) {
      if (o.name === col) return 1;
      if (o.name === STAR) star = true;
    }
    return star ? 2 : 0;
  }
  if (r.renamed?.includes(col)) return 1;
  if (!r.cols) return 2;
  return r.cols.includes(col) ? 1 : 0;
}

function relColumn(w: Walk, r: Rel, col: string, sink: ColumnRef[] | null, pred: boolean): boolean {
  if (r.outs) {
    if (r.fn) {
      for (const src of r.outs[0]?.sources ?? []) use(w, src, sink, pred);
      return false;
    }
    let plain = useNamed(w, r.outs, col, sink, pred);
    if (r.view) w.facts.read(r.schema as string, r.table as string, col);
    if (r.assigned && useAssigned(w, r.assigned, col, sink, pred)) plain = false;
    return plain;
  }
  const schema = r.schema as string;
  const table = r.table as string;
  let real = col;
  if (r.renamed) {
    const i = r.renamed.indexOf(col);
    if (i >= 0) real = r.cols?.[i] ?? STAR;
  }
  use(w, { schema, table, column: real }, sink, pred, true);
  if (r.assigned && useAssigned(w, r.assigned, real, sink, pred)) return false;
  return true;
}

/** The values a DML statement wrote into `col` flow into RETURNING; true if there were any. */
function useAssigned(w: Walk, as: Map<string, ColumnRef[]>, col: string, sink: ColumnRef[] | null, pred: boolean): boolean {
  const extra = assignedTo(as, col);
  if (!extra) return false;
  for (const src of extra) use(w, src, sink, pred);
  return true;
}

function wholeRow(w: Walk, r: Rel, sink: ColumnRef[] | null, pred: boolean): void {
  const tmp: ResultColumn[] = [];
  expandRel(w, r, tmp);
  for (const o of tmp) for (const src of o.sources) use(w, src, sink, pred);
}

/** `*` / `t.*`: one output per known column, else one '*' output. Records the reads. */
export function expandRel(w: Walk, r: Rel, outs: ResultColumn[]): void {
  const as = r.assigned;
  if (r.outs) {
    for (const o of r.outs) {
      if (r.view) w.facts.read(r.schema as string, r.table as string, o.name);
      const extra = as ? assignedTo(as, o.name) : null;
      outs.push(extra ? { name: o.name, sources: dedupe([...o.sources, ...extra]), derived: true } : o);
    }
    return;
  }
  const schema = r.schema as string;
  const table = r.table as string;
  if (r.cols) {
    for (let i = 0; i < r.cols.length; i++) {
      const c = r.cols[i] as string;
      w.facts.read(schema, table, c);
      const src = { schema, table, column: c };
      const extra = as ? assignedTo(as, c) : null;
      outs.push(extra ? { name: r.renamed?.[i] ?? c, sources: dedupe([src, ...extra]), derived: true } : { name: r.renamed?.[i] ?? c, sources: [src], derived: false });
    }
    return;
  }
  w.facts.read(schema, table, STAR);
  const src = { schema, table, column: STAR };
  const extra = as ? allAssigned(as) : null;
  outs.push(extra ? { name: STAR, sources: dedupe([src, ...extra]), derived: true } : { name: STAR, sources: [src], derived: false });
}

/**
 * A bare `*` over FROM items: PostgreSQL shows a USING / NATURAL join's columns once, first
 * (then the rest of the left side, then the right), so the output positions match its own.
 */
export function expandList(w: Walk, rels: Rel[], sc: Scope, outs: ResultColumn[]): void {
  for (let i = 0; i < rels.length; ) {
    const r = rels[i] as Rel;
    let g: JoinGroup | null = null;
    for (const x of sc.groups ?? []) {
      const n = x.rels.length;
      if (x.rels[0] === r && i + n <= rels.length && rels[i + n - 1] === x.rels[n - 1] && (!g || n > g.rels.length)) g = x;
    }
    if (!g) {
      if (!r.hidden) expandRel(w, r, outs);
      i++;
      continue;
    }
    i += g.rels.length;
    const left: ResultColumn[] = [];
    const right: ResultColumn[] = [];
    expandList(w, g.rels.slice(0, g.mid), sc, left);
    expandList(w, g.rels.slice(g.mid), sc, right);
    if (!g.using) {
      outs.push(...left, ...right);
      continue;
    }
    const taken = new Set<ResultColumn>();
    for (const u of g.using) {
      const a = left.find((o) => o.name === u);
      const b = right.find((o) => o.name === u);
      if (a) taken.add(a);
      if (b) taken.add(b);
      // An unexpanded side ('*') holds it somewhere: its table's column of that name.
      const src = dedupe([...(a ? a.sources : starSources(left, u)), ...(b ? b.sources : starSources(right, u))]);
      outs.push({ name: u, sources: src, derived: g.full || !a || !!a.derived });
    }
    for (const o of left) if (!taken.has(o)) outs.push(o);
    for (const o of right) if (!taken.has(o)) outs.push(o);
  }
}

export function starTarget(w: Walk, fields: Json[], sc: Scope, outs: ResultColumn[]): void {
  if (fields.length === 1) {
    expandList(w, sc.rels, sc, outs);
    return;
  }
  const rel = findRel(strList(fields.slice(0, -1)), sc);
  if (rel) expandRel(w, rel, outs);
}

/**
 * `(p).col` / `(p).*` where p names a FROM item (not a column): the fields of the equivalent
 * `p.col` / `p.*` ColumnRef, so the reference stays exact. null for anything else.
 */
export function rowField(val: Json, sc: Scope): Json[] | null {
  const ind = val?.A_Indirection;
  if (!ind) return null;
  const list = ind.indirection as Json[];
  const first = list[0];
  if (list.length !== 1 || !(first?.String || first?.A_Star)) return null;
  const f = ind.arg?.ColumnRef?.fields as Json[] | undefined;
  if (!f || f.length !== 1 || !f[0].String) return null;
  const rel = f[0].String.sval as string;
  for (let s: Scope | null = sc; s; s = s.parent) {
    for (const r of s.rels) if (!r.hidden && relHas(r, rel) === 1) return null;
    for (const r of s.rels) if (r.name === rel) return [f[0], first];
  }
  return null;
}
