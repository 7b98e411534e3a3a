// Column references: which FROM item (at which scope level) a name resolves to, what value flows from it
// (sink), whether it is a predicate, and `*` / whole-row expansion.
import { everyCandidate, findItem, itemColumn, itemHas, levelHas, markLocal, resolveAmong, type Has } from '../../columns.ts';
import { dedupe } from '../../facts.ts';
import { use } from '../../lineage.ts';
import type { ColumnRef, ResultColumn } from '../../types.ts';
import { strList, type Json } from '../names.ts';
import { allAssigned, assignedTo, starSources } from './lineage.ts';
import { STAR, type JoinGroup, type Rel, type Scope, type Walk } from './scope.ts';

/** The FROM item a qualifier names: an alias or table name, or schema.table of an unaliased table. */
export function findRel(q: string[], sc: Scope): Rel | null {
  return findItem(q, sc, schemaIs);
}

/** `s.t` names a table of schema s (in `db.s.t` the database part is not compared). */
function schemaIs(r: Rel, q: string[]): boolean {
  return r.schema === q[q.length - 2];
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
  const has = (r: Rel): Has => (r.hidden ? 0 : relHas(r, col));
  for (let s: Scope | null = sc; s; s = s.parent) {
    const level = levelHas(s.rels, has);
    if (level !== 0) {
      s.local++;
      for (const r of s.rels) {
        const h = has(r);
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
      if (level === 1) return plain;
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
  everyCandidate(sc, (r) => {
    if (!r.hidden) relColumn(w, r, col, sink, pred);
  });
  return plain;
}

/** Resolves `col` against the given rels only (JOIN USING / NATURAL). */
export function resolveIn(w: Walk, rels: Rel[], col: string, sink: ColumnRef[] | null, pred: boolean): void {
  resolveAmong(rels, (r) => relHas(r, col), (r) => relColumn(w, r, col, sink, pred));
}

/** Whether `r` has column `col` (see Has): a function's columns are unknown, an alias list names a table's. */
export function relHas(r: Rel, col: string): Has {
  if (r.outs && r.fn) return r.name === col ? 1 : 2;
  if (!r.outs && r.renamed?.includes(col)) return 1;
  return itemHas(r, col);
}

/**
 * Column `col` of `r` flows into the value: a function's every source; an alias list's column is the
 * table's at that position; the values DML assigned to it come along. True for a plain column.
 */
function relColumn(w: Walk, r: Rel, col: string, sink: ColumnRef[] | null, pred: boolean): boolean {
  if (r.outs && r.fn) {
    for (const src of r.outs[0]?.sources ?? []) use(w, src, sink, pred);
    return false;
  }
  let real = col;
  if (!r.outs && r.renamed) {
    const i = r.renamed.indexOf(col);
    if (i >= 0) real = r.cols?.[i] ?? STAR;
  }
  let plain = itemColumn(w, r, real, sink, pred);
  if (r.assigned && useAssigned(w, r.assigned, real, sink, pred)) plain = false;
  return plain;
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
