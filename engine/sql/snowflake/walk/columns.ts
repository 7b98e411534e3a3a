// Column references: which FROM item (at which scope level) a name resolves to, what value flows from it
// (sink), whether it is a predicate, and `*` / whole-row expansion.
import { everyCandidate, findItem, itemColumn, itemHas, levelHas, markLocal, resolveAmong, type Has } from '../../columns.ts';
import { use, useOut } from '../../lineage.ts';
import type { ColumnRef, ResultColumn } from '../../types.ts';
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
  return findItem(q, sc, schemaIs);
}

/** The parts before the table name the table's `DATABASE.SCHEMA`, or its end (`s.t` in the current database). */
function schemaIs(r: Rel, q: string[]): boolean {
  if (!r.schema) return false;
  const schema = q.slice(0, -1).join('.');
  return r.schema === schema || r.schema.endsWith('.' + schema);
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
  return itemColumn(w, rel, col, sink, pred);
}

function unqualified(w: Walk, col: string, sc: Scope, sink: ColumnRef[] | null, pred: boolean): boolean {
  let found = false;
  let plain = true;
  const has = (r: Rel): Has => itemHas(r, col);
  for (let s: Scope | null = sc; s; s = s.parent) {
    const level = levelHas(s.rels, has);
    const out = level === 1 ? undefined : s.outputs?.get(col);
    if (level === 0 && !out) continue;
    s.local++;
    found = true;
    for (const r of s.rels) {
      if (has(r) === 0) continue;
      if (!itemColumn(w, r, col, sink, pred)) plain = false;
    }
    if (level === 1) return plain;
    if (out) {
      // An output of the select list: unless a FROM item may have a column of that name, it is the output.
      useOut(w, out, sink, pred);
      if (level === 2 || out.derived) plain = false;
      if (level !== 2) return plain;
    }
    // Only a catalog-confirmed match settles it; otherwise an outer level may own the name.
  }
  if (found) return plain;
  everyCandidate(sc, (r) => itemColumn(w, r, col, sink, pred));
  return plain;
}

/** Resolves `col` against the given rels only (JOIN USING / NATURAL). */
export function resolveIn(w: Walk, rels: Rel[], col: string, sink: ColumnRef[] | null, pred: boolean): void {
  resolveAmong(rels, (r) => itemHas(r, col), (r) => itemColumn(w, r, col, sink, pred));
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

