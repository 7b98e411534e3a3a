// INSERT / UPDATE / DELETE / MERGE: the target's written columns, the values assigned to them, the
// statement's WHERE, and RETURNING (which sees the values just written).
import type { ColumnRef, ResultColumn } from '../../types.ts';
import type { Json } from '../names.ts';
import { whereClause } from './clauses.ts';
import { ex, exprs } from './expressions.ts';
import { baseRel, fromItem, viewRel } from './from.ts';
import { assign, assignByPosition } from './lineage.ts';
import { targetList, withClause } from './queries.ts';
import { catalogCols, check, newScope, rangeVarName, STAR, type Rel, type Scope, type Walk, type WhereInfo } from './scope.ts';

export function insertStmt(w: Walk, s: Json, outer: Scope | null, d: number, result: boolean): ResultColumn[] {
  d = check(w, d);
  const { sc, schema, table } = dmlScope(w, s, outer, d);
  const named = s.cols ? (s.cols as Json[]).map((c) => c.ResTarget?.name as string) : null;
  w.facts.write(schema, table, named ?? [STAR]);
  const assigned = new Map<string, ColumnRef[]>();
  if (s.selectStmt) {
    // INSERT ... SELECT / VALUES: the i-th output lands in the i-th target column.
    const outs = w.query(s.selectStmt, sc, d);
    assignByPosition(assigned, named ?? catalogCols(w, schema, table), outs);
  }
  const oc = s.onConflictClause;
  const target = targetRel(w, sc, schema, table, s.relation.alias, d);
  if (oc) {
    const excluded = pseudoRel(target, 'excluded');
    // The proposed row only: DO UPDATE SET values assigned below must not reach `excluded`.
    excluded.assigned = new Map([...assigned].map(([k, v]) => [k, v.slice()]));
    sc.rels.push(excluded);
    if (oc.infer?.whereClause) ex(w, oc.infer.whereClause, sc, null, true, d);
    if (oc.targetList) setList(w, oc.targetList as Json[], sc, schema, table, d, assigned);
    if (oc.whereClause) ex(w, oc.whereClause, sc, null, true, d);
  }
  return returning(w, s.returningClause, sc, target, assigned, d, result);
}

export function updateStmt(w: Walk, s: Json, outer: Scope | null, d: number, top: boolean, result: boolean): ResultColumn[] {
  d = check(w, d);
  const { sc, schema, table } = dmlScope(w, s, outer, d);
  const target = targetRel(w, sc, schema, table, s.relation.alias, d);
  if (s.fromClause) for (const f of s.fromClause as Json[]) fromItem(w, f, sc, d);
  const assigned = new Map<string, ColumnRef[]>();
  setList(w, (s.targetList ?? []) as Json[], sc, schema, table, d, assigned);
  dmlWhere(w, s.whereClause, sc, d, top);
  return returning(w, s.returningClause, sc, target, assigned, d, result);
}

export function deleteStmt(w: Walk, s: Json, outer: Scope | null, d: number, top: boolean, result: boolean): ResultColumn[] {
  d = check(w, d);
  const { sc, schema, table } = dmlScope(w, s, outer, d);
  w.facts.write(schema, table, [STAR]);
  const target = targetRel(w, sc, schema, table, s.relation.alias, d);
  if (s.usingClause) for (const f of s.usingClause as Json[]) fromItem(w, f, sc, d);
  dmlWhere(w, s.whereClause, sc, d, top);
  return returning(w, s.returningClause, sc, target, null, d, result);
}

function dmlWhere(w: Walk, where: Json, sc: Scope, d: number, top: boolean): void {
  if (!where) return;
  const info: WhereInfo = top ? w.where : { has: false, trivial: false };
  whereClause(w, where, sc, d, info);
  if (!top && info.trivial) w.facts.cteWhereTrivial = true;
}

export function mergeStmt(w: Walk, s: Json, outer: Scope | null, d: number, result: boolean): ResultColumn[] {
  d = check(w, d);
  const { sc, schema, table } = dmlScope(w, s, outer, d);
  const target = targetRel(w, sc, schema, table, s.relation.alias, d);
  fromItem(w, s.sourceRelation, sc, d);
  if (s.joinCondition) ex(w, s.joinCondition, sc, null, true, d);
  const written: string[] = [];
  const assigned = new Map<string, ColumnRef[]>();
  for (const when of (s.mergeWhenClauses ?? []) as Json[]) {
    const mw = when.MergeWhenClause;
    if (!mw) continue;
    if (mw.condition) ex(w, mw.condition, sc, null, true, d);
    const tl = (mw.targetList ?? []) as Json[];
    if (mw.commandType === 'CMD_UPDATE') {
      let multi: ColumnRef[] = [];
      for (const t of tl) {
        const rt = t.ResTarget;
        written.push(rt.name as string);
        multi = assignValue(w, rt.val, sc, d, multi);
        assign(assigned, rt.name as string, multi);
      }
    } else if (mw.commandType === 'CMD_INSERT') {
      if (tl.length === 0) written.push(STAR);
      const cols = tl.length ? tl.map((t) => t.ResTarget.name as string) : null;
      for (const t of tl) written.push(t.ResTarget.name as string);
      const vals: ResultColumn[] = [];
      for (const v of (mw.values ?? []) as Json[]) {
        const sink: ColumnRef[] = [];
        ex(w, v, sc, sink, false, d);
        vals.push({ name: '?column?', sources: sink, derived: true });
      }
      assignByPosition(assigned, cols ?? catalogCols(w, schema, table), vals);
    } else if (mw.commandType === 'CMD_DELETE') {
      written.push(STAR);
    }
  }
  w.facts.write(schema, table, written);
  return returning(w, s.returningClause, sc, target, assigned, d, result);
}

/** UPDATE SET / ON CONFLICT DO UPDATE SET: the columns are writes, the values are read and assigned. */
function setList(w: Walk, tl: Json[], sc: Scope, schema: string, table: string, d: number, assigned: Map<string, ColumnRef[]>): void {
  const cols: string[] = [];
  let multi: ColumnRef[] = [];
  for (const t of tl) {
    const rt = t.ResTarget;
    if (!rt) continue;
    cols.push(rt.name as string);
    if (rt.indirection) exprs(w, rt.indirection as Json[], sc, d);
    multi = assignValue(w, rt.val, sc, d, multi);
    assign(assigned, rt.name as string, multi);
  }
  w.facts.write(schema, table, cols);
}

/**
 * Walks an assigned value and returns its sources. SET (a, b) = (subquery) repeats the same source
 * under every column: walked once (colno 1), its sources `prev` reused for the others.
 */
function assignValue(w: Walk, val: Json, sc: Scope, d: number, prev: ColumnRef[]): ColumnRef[] {
  if (!val) return [];
  const m = val.MultiAssignRef;
  if (m) {
    if (m.colno !== 1) return prev;
    const sink: ColumnRef[] = [];
    ex(w, m.source, sc, sink, false, d);
    return sink;
  }
  const sink: ColumnRef[] = [];
  ex(w, val, sc, sink, false, d);
  return sink;
}

/**
 * RETURNING: the target's columns carry the values just written (`new.x` too), `old.x` the
 * previous ones; `*` covers the target and FROM / USING items, not old/new/excluded.
 */
function returning(w: Walk, rc: Json, sc: Scope, target: Rel, assigned: Map<string, ColumnRef[]> | null, d: number, result: boolean): ResultColumn[] {
  const exprs = rc?.exprs as Json[] | undefined;
  if (!exprs) return [];
  if (assigned && assigned.size) target.assigned = assigned;
  let oldName = 'old';
  let newName = 'new';
  for (const o of (rc.options ?? []) as Json[]) {
    const ro = o.ReturningOption;
    if (!ro?.value) continue;
    if (ro.option === 'RETURNING_OPTION_OLD') oldName = ro.value as string;
    else newName = ro.value as string;
  }
  sc.rels.push(pseudoRel(target, oldName));
  const nw = pseudoRel(target, newName);
  nw.assigned = target.assigned;
  sc.rels.push(nw);
  return targetList(w, exprs, sc, d, result);
}

/** What every DML statement opens with: its scope, where its WITH is visible, and its target's name. */
function dmlScope(w: Walk, s: Json, outer: Scope | null, d: number): { sc: Scope; schema: string; table: string } {
  const sc = newScope(outer);
  if (s.withClause) withClause(w, s.withClause, sc, d);
  return { sc, ...rangeVarName(w, s.relation) };
}

/** A DML target joins the statement's scope: a table, or a catalog view (auto-updatable) seen through its definition. */
function targetRel(w: Walk, sc: Scope, schema: string, table: string, alias: Json, d: number): Rel {
  const target = viewRel(w, schema, table, alias, d) ?? baseRel(w, schema, table, alias, false);
  sc.rels.push(target);
  return target;
}

function pseudoRel(target: Rel, name: string): Rel {
  return { ...target, name, aliased: true, hidden: true, assigned: null };
}
