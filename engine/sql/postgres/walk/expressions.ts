// Expressions: the column values that flow into a value (lineage), the columns it compares on
// (predicates), and the functions it calls, with what each call adds (catalog bodies, unresolved lineage).
import { taggedVia, use, useOuts } from '../../lineage.ts';
import type { ColumnRef } from '../../types.ts';
import { funcName, isNode, strList, tagOf, type Json } from '../names.ts';
import { builtinName, DYNAMIC_FUNCTIONS, PURE_FUNCTIONS, SRF_COLUMNS } from '../functions.ts';
import { funcLineage, lookupFunction } from './catalog.ts';
import { columnRef, rowField } from './columns.ts';
import { stripTextCasts } from './lineage.ts';
import { check, newScope, type Scope, type Walk } from './scope.ts';

/** Operators that compare their operands (a result that tells which side is larger, or whether they match). */
const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=', '~~', '!~~', '~~*', '!~~*', '~', '!~', '~*', '!~*', '@@', '&&', '@>', '<@', '^@']);

/** Walks each expression of a list for what it reads; `pred`: the columns it uses are predicates. */
export function exprs(w: Walk, list: (Json | undefined)[] | undefined, sc: Scope, d: number, pred = false): void {
  if (!list) return;
  for (const e of list) if (e) ex(w, e, sc, null, pred, d);
}

/** Expressions whose value decides which or how many rows come back (LIMIT, OFFSET, TABLESAMPLE): predicates. */
export function predicates(w: Walk, list: (Json | undefined)[] | undefined, sc: Scope, d: number): void {
  exprs(w, list, sc, d, true);
}

/**
 * Walks an expression: column values that flow into it go to `sink` (lineage), columns it
 * compares on go to predicates when `pred`, functions and subqueries are recorded.
 */
export function ex(w: Walk, n: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
  d = check(w, d);
  const tag = tagOf(n);
  const b = n[tag];
  switch (tag) {
    case '':
    case 'A_Const':
    case 'ParamRef':
    case 'SQLValueFunction':
    case 'SetToDefault':
    case 'A_Star':
    case 'String':
    case 'Integer':
    case 'Float':
    case 'Boolean':
    case 'BitString':
      return;
    case 'CurrentOfExpr':
      // WHERE CURRENT OF touches one row: row-dependent.
      sc.local++;
      return;
    case 'ColumnRef':
      columnRef(w, b.fields as Json[], sc, sink, pred);
      return;
    case 'FuncCall': {
      w.facts.functions.add(funcName(b));
      const from = b === w.fromCall;
      // Only the FROM item's own call is a FROM function; calls in its arguments are values.
      if (from) w.fromCall = null;
      if (b.args) for (const a of b.args as Json[]) arg(w, a, b, sc, sink, pred, d);
      // How many rows a set-returning function (or any function in FROM) yields depends on its arguments:
      // a count of them answers a question about the values (generate_series(1, ascii(ssn))).
      if (b.args && (from || isSetReturning(b))) for (const a of b.args as Json[]) ex(w, a, sc, null, true, d);
      if (b.agg_order) for (const o of b.agg_order as Json[]) ex(w, o, sc, null, true, d);
      if (b.agg_filter) ex(w, b.agg_filter, sc, null, true, d);
      if (b.over) ex(w, { WindowDef: b.over }, sc, null, true, d);
      callee(w, b, sink, pred, from, d);
      return;
    }
    case 'A_Indirection': {
      const f = rowField(n, sc);
      if (f && !f[1].A_Star) {
        columnRef(w, f, sc, sink, pred);
        return;
      }
      anyEx(w, b, sc, sink, pred, d);
      return;
    }
    case 'WindowDef':
      if (b.partitionClause) for (const p of b.partitionClause as Json[]) ex(w, p, sc, null, true, d);
      if (b.orderClause) for (const p of b.orderClause as Json[]) ex(w, p, sc, null, true, d);
      exprs(w, [b.startOffset, b.endOffset], sc, d);
      return;
    case 'SortBy':
      ex(w, b.node, sc, sink, pred, d);
      return;
    case 'SubLink': {
      if (b.testexpr) ex(w, b.testexpr, sc, sink, pred, d);
      const outs = w.query(b.subselect, sc, d);
      if (b.subLinkType !== 'EXISTS_SUBLINK') useOuts(w, outs, sink, pred);
      return;
    }
    case 'MultiAssignRef':
      ex(w, b.source, sc, sink, pred, d);
      return;
    // Conditions decide what a value becomes — which CASE branch runs (one that fails, or not), which of two
    // values GREATEST picks, whether NULLIF yields NULL — so wherever they stand (a select list too), the
    // columns they test are predicates: one result per row would otherwise spell a masked value bit by bit.
    case 'CaseExpr':
      if (b.arg) ex(w, b.arg, sc, null, true, d);
      for (const c of (b.args ?? []) as Json[]) if (c.CaseWhen?.expr) ex(w, c.CaseWhen.expr, sc, null, true, d);
      anyEx(w, b, sc, sink, pred, d);
      return;
    case 'A_Expr':
      if (b.kind !== 'AEXPR_OP' || COMPARISONS.has(strList(b.name as Json[]).at(-1) ?? '')) {
        if (b.lexpr) ex(w, b.lexpr, sc, null, true, d);
        if (b.rexpr) ex(w, b.rexpr, sc, null, true, d);
      }
      anyEx(w, b, sc, sink, pred, d);
      return;
    case 'BoolExpr':
    case 'NullTest':
    case 'BooleanTest':
    case 'MinMaxExpr':
      anyEx(w, b, sc, null, true, d);
      anyEx(w, b, sc, sink, pred, d);
      return;
    case 'ResTarget':
      if (b.val) ex(w, b.val, sc, sink, pred, d);
      return;
    case 'SelectStmt':
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      useOuts(w, w.query(n, sc, d), sink, pred);
      return;
    default:
      anyEx(w, b, sc, sink, pred, d);
  }
}

/**
 * One argument of a call. A direct copy of a column (`count(ssn)`, `count(p.ssn::text)`) flows into the
 * value only as this call's result: its sources are tagged with the call's name (see ResultColumn.through).
 */
function arg(w: Walk, a: Json, call: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
  const core = sink ? stripTextCasts(a) : null;
  const f = core?.ColumnRef?.fields as Json[] | undefined;
  // Only known built-ins are tagged; a user function of the same name (which PostgreSQL may prefer for an
  // exact argument type) or an unknown one is not.
  const names = strList(call.funcname as Json[]);
  const base = builtinName(names);
  if (!sink || !f || f[f.length - 1]?.A_Star || base === null || !PURE_FUNCTIONS.has(base) || lookupFunction(w, names)) {
    ex(w, a, sc, sink, pred, d);
    return;
  }
  const tmp: ColumnRef[] = [];
  const plain = columnRef(w, f, sc, tmp, pred);
  const name = [funcName(call)];
  for (const src of tmp) sink.push(plain ? taggedVia(w, src, name) : src);
}

/**
 * What a called function adds beyond its arguments (already walked): a catalog function's body
 * lineage; nothing for a pure built-in; an Unresolved entry when it runs SQL given as text, or
 * when it is unknown and its value reaches a result (a value position, or a FROM item).
 */
function callee(w: Walk, b: Json, sink: ColumnRef[] | null, pred: boolean, from: boolean, d: number): void {
  const names = strList(b.funcname as Json[]);
  const base = builtinName(names);
  const shown = funcName(b);
  if (base !== null && DYNAMIC_FUNCTIONS.has(base)) {
    w.facts.unresolve(`dynamic_sql: ${shown}() reads whatever its text/cursor/table argument names`, w.col);
    return;
  }
  const def = lookupFunction(w, names);
  if (def) {
    const l = funcLineage(w, def.key, def.fn, d);
    for (const src of l.sources) use(w, src, sink, pred);
    if (from) w.lastShape = l.shape;
    return;
  }
  if (base !== null && PURE_FUNCTIONS.has(base)) return;
  if (from) w.facts.unresolve(`unknown_set_function: ${shown}() in FROM is not in the catalog; its columns and what they derive from are unknown`, undefined);
  else if (sink) w.facts.unresolve(`unknown_function: ${shown}() is not in the catalog and not a known pure built-in; it may read any table`, w.col);
}

/** CALL p(...): the procedure's catalog lineage (facts, Unresolved) as for a function whose value is used. */
export function call(w: Walk, fc: Json, d: number): void {
  ex(w, { FuncCall: fc }, newScope(null), [], false, d);
}

/** Every child of an unfamiliar node, so no function call or subquery escapes. */
export function anyEx(w: Walk, b: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
  if (!b || typeof b !== 'object') return;
  d = check(w, d);
  if (Array.isArray(b)) {
    for (const x of b) if (x && typeof x === 'object') child(w, x, sc, sink, pred, d);
    return;
  }
  for (const k in b) {
    const v = b[k];
    if (v && typeof v === 'object') {
      if (Array.isArray(v)) {
        for (const x of v) if (x && typeof x === 'object') child(w, x, sc, sink, pred, d);
      } else {
        child(w, v, sc, sink, pred, d);
      }
    }
  }
}

function child(w: Walk, x: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
  if (isNode(x)) ex(w, x, sc, sink, pred, d);
  else anyEx(w, x, sc, sink, pred, d);
}

/** A call that returns a set of rows: a known set-returning built-in. */
function isSetReturning(fc: Json): boolean {
  const base = builtinName(strList(fc.funcname as Json[]));
  return base !== null && (base === 'unnest' || SRF_COLUMNS.has(base));
}
