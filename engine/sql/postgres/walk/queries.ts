// SELECT: set operations, VALUES, WITH (recursive CTEs until their lineage settles) and the target list,
// whose output columns carry the lineage every policy decision reads.
import { dedupe } from '../../facts.ts';
import type { ColumnRef, JsonKey, ResultColumn } from '../../types.ts';
import { figureName, strList, tagOf, type Json } from '../names.ts';
import { mergeArms, rename, settleRecursive, throughOf, withThrough } from '../../lineage.ts';
import { orderLike, whereClause } from './clauses.ts';
import { columnRef, expandRel, findRel, relHas, rowField, starTarget } from './columns.ts';
import { ex, predicates } from './expressions.ts';
import { fromItem } from './from.ts';
import { stripTextCasts } from './lineage.ts';
import { check, newScope, STAR, type Rel, type Scope, type Walk } from './scope.ts';

/** Functions that serialize a whole row to JSON objects keyed by its column names. */
const ROW_JSON_FUNCTIONS: ReadonlySet<string> = new Set(['row_to_json', 'to_json', 'to_jsonb', 'json_agg', 'jsonb_agg', 'json_agg_strict', 'jsonb_agg_strict']);

export function select(w: Walk, s: Json, outer: Scope | null, d: number, top = false, result = false): ResultColumn[] {
  d = check(w, d);
  const sc = newScope(outer);
  if (s.withClause) withClause(w, s.withClause, sc, d);
  if (s.op && s.op !== 'SETOP_NONE') {
    const outs = setOp(w, s, sc, d, result);
    orderLike(w, s.sortClause, sc, outs, d);
    predicates(w, [s.limitOffset, s.limitCount], sc, d);
    return outs;
  }
  let outs: ResultColumn[];
  if (s.valuesLists) {
    outs = values(w, s.valuesLists as Json[], sc, d);
  } else {
    if (s.fromClause) for (const f of s.fromClause as Json[]) fromItem(w, f, sc, d);
    if (s.whereClause) whereClause(w, s.whereClause, sc, d, top ? w.where : null);
    outs = s.targetList ? targetList(w, s.targetList as Json[], sc, d, result) : [];
    if (s.groupClause) orderLike(w, s.groupClause, sc, outs, d);
    if (s.havingClause) ex(w, s.havingClause, sc, null, true, d);
    if (s.windowClause) for (const win of s.windowClause as Json[]) ex(w, win, sc, null, true, d);
    if (s.distinctClause) {
      orderLike(w, s.distinctClause, sc, outs, d);
      // Plain DISTINCT (an empty clause) compares every output column: a count of rows answers a question.
      if ((s.distinctClause as Json[]).every((x) => !x || Object.keys(x).length === 0)) {
        for (const o of outs) for (const src of o.sources) w.facts.pred(src);
      }
    }
    orderLike(w, s.sortClause, sc, outs, d);
  }
  predicates(w, [s.limitOffset, s.limitCount], sc, d);
  return outs;
}

function setOp(w: Walk, s: Json, sc: Scope, d: number, result: boolean): ResultColumn[] {
  // Output names come from the left arm; the right arm's own names would mislabel Unresolved.column.
  const l = select(w, s.larg, sc, d, false, result);
  const r = select(w, s.rarg, sc, d, false, false);
  const outs = mergeArms(l, r, '?column?');
  // UNION / INTERSECT / EXCEPT without ALL compare the rows: whether a guess survives answers a question.
  if (!s.all) for (const o of outs) for (const src of o.sources) w.facts.pred(src);
  return outs;
}

function values(w: Walk, lists: Json[], sc: Scope, d: number): ResultColumn[] {
  const sinks: ColumnRef[][] = [];
  for (const row of lists) {
    const items = (row.List?.items ?? []) as Json[];
    for (let i = 0; i < items.length; i++) {
      const sink = (sinks[i] ??= []);
      ex(w, items[i], sc, sink, false, d);
    }
  }
  return sinks.map((src, i) => ({ name: 'column' + (i + 1), sources: dedupe(src), derived: true }));
}

export function withClause(w: Walk, clause: Json, sc: Scope, d: number): void {
  const ctes = (sc.ctes = new Map());
  for (const c of (clause.ctes ?? []) as Json[]) {
    const cte = c.CommonTableExpr;
    if (!cte) continue;
    const name = cte.ctename as string;
    const q = cte.ctequery;
    const colnames = strList(cte.aliascolnames);
    const qtag = tagOf(q);
    if (qtag !== 'SelectStmt') w.facts.dataModifyingCte = true;
    const sel = q.SelectStmt;
    if (clause.recursive && sel && sel.op && sel.op !== 'SETOP_NONE') {
      // The recursive arm reads the CTE itself, whose columns the non-recursive arm defines.
      const cd = check(w, d);
      const inner = newScope(sc);
      if (sel.withClause) withClause(w, sel.withClause, inner, cd);
      const l = select(w, sel.larg, inner, cd);
      const outs = settleRecursive(l, () => select(w, sel.rarg, inner, cd), (o) => ctes.set(name, rename(o, colnames)), '?column?');
      orderLike(w, sel.sortClause, inner, outs, cd);
      predicates(w, [sel.limitOffset, sel.limitCount], inner, cd);
      ctes.set(name, rename(outs, colnames));
      continue;
    }
    const outs = w.query(q, sc, d, false);
    if (qtag === 'UpdateStmt' || qtag === 'DeleteStmt') {
      const wc = q[qtag].whereClause;
      if (!wc) w.facts.cteWhereMissing = true;
    }
    ctes.set(name, rename(outs, colnames));
  }
}

export function targetList(w: Walk, tl: Json[], sc: Scope, d: number, result: boolean): ResultColumn[] {
  const outs: ResultColumn[] = [];
  const saved = w.col;
  for (const t of tl) {
    const rt = t.ResTarget;
    if (!rt) continue;
    const val = rt.val;
    const name = (rt.name as string | undefined) ?? figureName(val);
    if (result) w.col = name;
    // (p).col is p.col; (p).* is p.*
    let fields = (val?.ColumnRef?.fields as Json[] | undefined) ?? rowField(val, sc);
    if (!fields) {
      // ssn::text is still the column's own value (a length, as in varchar(3), would cut it).
      const core = stripTextCasts(val);
      const f = core === val ? null : ((core?.ColumnRef?.fields as Json[] | undefined) ?? rowField(core, sc));
      if (f && !f[f.length - 1]?.A_Star) fields = f;
    }
    if (fields) {
      if (fields[fields.length - 1]?.A_Star) {
        starTarget(w, fields, sc, outs);
        continue;
      }
      const sink: ColumnRef[] = [];
      const plain = columnRef(w, fields, sc, sink, false);
      outs.push(withThrough({ name, sources: dedupe(sink), derived: !plain }, throughOf(w, sink)));
      continue;
    }
    const sink: ColumnRef[] = [];
    if (val) ex(w, val, sc, sink, false, d);
    const keys = result ? rowJsonKeys(w, val, sc) : null;
    const ind = val?.A_Indirection;
    if (ind && (ind.indirection as Json[])[ind.indirection.length - 1]?.A_Star) {
      // (f(x)).* / (composite_col).*: as many columns as the composite type has, which is unknown.
      w.facts.unresolve('unknown_shape: (expression).* expands a composite value whose columns are unknown', w.col);
      outs.push({ name: STAR, sources: dedupe(sink), derived: true });
      continue;
    }
    const out = withThrough({ name, sources: dedupe(sink), derived: true }, throughOf(w, sink));
    if (keys) out.json_keys = keys;
    outs.push(out);
  }
  w.col = saved;
  return outs;
}

/**
 * `row_to_json(p)` and its kin over one whole FROM item: the keys of the JSON objects are that item's
 * column names, each with its own lineage. Null when it is anything else, or the columns (or their names,
 * when two share one) are not known.
 */
function rowJsonKeys(w: Walk, val: Json, sc: Scope): JsonKey[] | null {
  const fc = val?.FuncCall;
  if (!fc || (fc.args ?? []).length !== 1) return null;
  const fname = strList(fc.funcname as Json[]);
  const base = fname[fname.length - 1];
  if (!ROW_JSON_FUNCTIONS.has(base as string) || (fname.length === 2 && fname[0] !== 'pg_catalog') || fname.length > 2) return null;
  const fields = fc.args[0]?.ColumnRef?.fields as Json[] | undefined;
  if (!fields) return null;
  let rel: Rel | null = null;
  if (fields.length === 2 && fields[1]?.A_Star) rel = findRel(strList(fields.slice(0, 1)), sc);
  else if (fields.length === 1 && typeof fields[0]?.String?.sval === 'string') {
    const name = fields[0].String.sval as string;
    // A bare name is the whole row only when no FROM item has a column of that name.
    const visible = sc.rels.filter((r) => !r.hidden);
    if (visible.some((r) => relHas(r, name) !== 0)) return null;
    rel = visible.find((r) => r.name === name) ?? null;
  }
  if (!rel) return null;
  const cols: ResultColumn[] = [];
  expandRel(w, rel, cols);
  const names = new Set(cols.map((c) => c.name));
  if (cols.length === 0 || names.has(STAR) || names.size !== cols.length) return null;
  return cols.map((c) => ({ key: c.name, sources: c.sources, derived: c.derived }));
}
