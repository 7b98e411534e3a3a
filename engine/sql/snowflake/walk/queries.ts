// Queries: SELECT with its select list (whose outputs carry the lineage), WHERE, GROUP BY, HAVING, QUALIFY,
// ORDER BY and the row limits; set operations, VALUES and WITH (recursive CTEs until their lineage settles).
import { itemHas } from '../../columns.ts';
import { dedupe } from '../../facts.ts';
import type { ColumnRef, ResultColumn } from '../../types.ts';
import { fold, kindOf, Unresolvable } from '../names.ts';
import { mergeArms, rename, settleRecursive, throughOf, withThrough } from '../../lineage.ts';
import type { Json } from '../parser.ts';
import { columnRef, expandRel, positionalRef, refParts } from './columns.ts';
import { copyOf, ex, isNode, predicates, starRels, whereClause } from './expressions.ts';
import { fromItem, join } from './from.ts';
import { check, newScope, STAR, type Scope, type Walk } from './scope.ts';

/**
 * A query node anywhere (SELECT, UNION / INTERSECT / EXCEPT, VALUES, a parenthesized subquery); returns
 * its output columns. `top`: its WHERE is the statement's; `result`: its outputs are the statement's result.
 */
export function queryOf(w: Walk, node: Json, sc: Scope | null, d: number, top = false, result = top): ResultColumn[] {
  const k = kindOf(node);
  const b = node?.[k];
  switch (k) {
    case 'select':
      return select(w, b, sc, d, top, result);
    case 'union':
    case 'intersect':
    case 'except':
      return setOp(w, k, b, sc, d, result);
    case 'values':
      return values(w, b, sc ?? newScope(null), d);
    case 'subquery': {
      const inner = newScope(sc);
      const outs = queryOf(w, b.this, sc, d, false, result);
      clauses(w, b, inner, outs, d);
      return outs;
    }
    case 'paren':
      return queryOf(w, b.this, sc, d, top, result);
    default:
      throw new Unresolvable(`a ${k || 'missing'} node where a query was expected`);
  }
}

function select(w: Walk, s: Json, outer: Scope | null, d: number, top: boolean, result: boolean): ResultColumn[] {
  d = check(w, d);
  const sc = newScope(outer);
  if (s.with) withClause(w, s.with, sc, d);
  for (const f of (s.from?.expressions ?? []) as Json[]) fromItem(w, f, sc, d);
  let merged = false;
  for (const j of (s.joins ?? []) as Json[]) if (join(w, j, sc, d)) merged = true;
  // The select list before WHERE: WHERE, GROUP BY, HAVING, QUALIFY and ORDER BY may name its outputs.
  sc.outputs = new Map();
  const outs = targetList(w, (s.expressions ?? []) as Json[], sc, d, result, merged);
  if (s.where_clause) whereClause(w, s.where_clause.this, sc, d, top ? w.where : null);
  if (s.group_by) orderLike(w, s.group_by.expressions, sc, outs, d);
  if (s.having) predicates(w, s.having.this, sc, d);
  // QUALIFY filters on window values: which rows come back answers a question about what they compare.
  if (s.qualify) predicates(w, s.qualify.this, sc, d);
  // Plain DISTINCT compares every output column: a count of rows answers a question.
  if (s.distinct) for (const o of outs) for (const src of o.sources) w.facts.pred(src);
  if (s.distinct_on) orderLike(w, s.distinct_on, sc, outs, d);
  clauses(w, s, sc, outs, d);
  // Whatever else the node holds (CONNECT BY, named windows, hints ...) decides which rows come back at most.
  for (const key in s) if (!SELECT_KEYS.has(key)) predicates(w, s[key], sc, d);
  return outs;
}

const SELECT_KEYS = new Set(['with', 'from', 'joins', 'expressions', 'where_clause', 'group_by', 'having', 'qualify', 'distinct', 'distinct_on', 'order_by', 'limit', 'offset', 'top', 'fetch', 'sample', 'leading_comments', 'post_select_comments', 'kind', 'operation_modifiers', 'qualify_after_window', 'option']);

/** ORDER BY and LIMIT / OFFSET / TOP / FETCH / SAMPLE: which rows come back. */
function clauses(w: Walk, s: Json, sc: Scope, outs: ResultColumn[], d: number): void {
  if (s.order_by) orderLike(w, s.order_by.expressions ?? s.order_by, sc, outs, d);
  predicates(w, [s.limit, s.offset, s.top, s.fetch, s.sample], sc, d);
}

function setOp(w: Walk, k: string, b: Json, outer: Scope | null, d: number, result: boolean): ResultColumn[] {
  d = check(w, d);
  const sc = newScope(outer);
  if (b.with) withClause(w, b.with, sc, d);
  // Output names come from the left arm; the right arm's own names would mislabel Unresolved.column.
  const l = queryOf(w, b.left, sc, d, false, result);
  const r = queryOf(w, b.right, sc, d, false, false);
  const outs = mergeArms(l, r, '?COLUMN?');
  // UNION without ALL, INTERSECT and EXCEPT compare the rows: whether a guess survives answers a question.
  if (!b.all || k !== 'union') for (const o of outs) for (const src of o.sources) w.facts.pred(src);
  clauses(w, b, sc, outs, d);
  return outs;
}

function values(w: Walk, b: Json, sc: Scope, d: number): ResultColumn[] {
  const sinks: ColumnRef[][] = [];
  for (const row of (b.expressions ?? []) as Json[]) {
    const items = (Array.isArray(row) ? row : (row?.expressions ?? row?.tuple?.expressions ?? [])) as Json[];
    for (let i = 0; i < items.length; i++) ex(w, items[i], sc, (sinks[i] ??= []), false, d);
  }
  return sinks.map((src, i) => ({ name: 'COLUMN' + (i + 1), sources: dedupe(src), derived: true }));
}

function withClause(w: Walk, wb: Json, sc: Scope, d: number): void {
  const ctes = (sc.ctes = new Map<string, ResultColumn[]>());
  for (const cte of (wb.ctes ?? []) as Json[]) {
    const name = fold(cte.alias);
    const cols = ((cte.columns ?? []) as Json[]).map(fold);
    const q = cte.this;
    const u = q?.union;
    if (wb.recursive && u) {
      // The recursive arm reads the CTE itself, whose columns the anchor defines.
      const l = queryOf(w, u.left, sc, d);
      const outs = settleRecursive(l, () => queryOf(w, u.right, sc, d), (o) => ctes.set(name, rename(o, cols)), '?COLUMN?');
      ctes.set(name, rename(outs, cols));
      continue;
    }
    ctes.set(name, rename(queryOf(w, q, sc, d), cols));
  }
}

// ---- select list and ordering ---------------------------------------------------------------

/**
 * The select list: each output with the table columns it derives from. `merged`: a USING / NATURAL join
 * shows its columns once, at positions the analysis does not model, so every output of a bare `*` then
 * carries every source of the join (masking by position stays safe; it masks more).
 */
function targetList(w: Walk, items: Json[], sc: Scope, d: number, result: boolean, merged: boolean): ResultColumn[] {
  const outs: ResultColumn[] = [];
  const saved = w.col;
  for (const item of items) {
    let node = item;
    let name: string | null = null;
    if (kindOf(node) === 'alias') {
      name = fold(node.alias.alias);
      node = node.alias.this;
    }
    if (kindOf(node) === 'star') {
      const start = outs.length;
      star(w, node.star, sc, d, outs, merged);
      for (const o of outs.slice(start)) sc.outputs?.set(o.name, o);
      continue;
    }
    const core = copyOf(node);
    const parts = refParts(core) ?? positional(core);
    if (result) w.col = name ?? outputName(core, parts);
    const sink: ColumnRef[] = [];
    let out: ResultColumn;
    if (parts) {
      const plain = kindOf(core) === 'parameter' ? positionalRef(w, core.parameter.index as number, sc, sink, false) : columnRef(w, parts, sc, sink, false);
      out = withThrough({ name: name ?? outputName(core, parts), sources: dedupe(sink), derived: !plain }, throughOf(w, sink));
    } else {
      ex(w, node, sc, sink, false, d);
      out = withThrough({ name: name ?? outputName(core, null), sources: dedupe(sink), derived: true }, throughOf(w, sink));
    }
    outs.push(out);
    sc.outputs?.set(out.name, out);
  }
  w.col = saved;
  return outs;
}

/** `*`, `t.*`, with EXCLUDE / REPLACE / RENAME. */
function star(w: Walk, b: Json, sc: Scope, d: number, outs: ResultColumn[], merged: boolean): void {
  const except = new Set(((b.except ?? []) as Json[]).map(fold));
  const rels = starRels(b, sc);
  if (b.table && rels.length === 0) throw new Unresolvable(`${fold(b.table)}.* names no table, alias or subquery in scope`);
  const mine: ResultColumn[] = [];
  for (const r of rels) expandRel(w, r, mine, except);
  if (merged && !b.table) {
    const all = dedupe(mine.flatMap((o) => o.sources));
    for (let i = 0; i < mine.length; i++) mine[i] = { name: (mine[i] as ResultColumn).name, sources: all, derived: true };
  }
  // * REPLACE (expr AS c): the column's place holds the expression's value.
  for (const rp of (b.replace ?? []) as Json[]) {
    const col = fold(rp.alias);
    const sink: ColumnRef[] = [];
    ex(w, rp.this, sc, sink, false, d);
    let hit = false;
    for (let i = 0; i < mine.length; i++) {
      const o = mine[i] as ResultColumn;
      if (o.name === col) {
        mine[i] = { name: col, sources: dedupe(sink), derived: true };
        hit = true;
      }
    }
    // Unknown columns: the '*' may hold it anywhere.
    if (!hit) for (let i = 0; i < mine.length; i++) if ((mine[i] as ResultColumn).name === STAR) mine[i] = { name: STAR, sources: dedupe([...(mine[i] as ResultColumn).sources, ...sink]), derived: true };
  }
  for (const pair of (b.rename ?? []) as Json[][]) {
    const from = fold(pair[0]);
    const to = fold(pair[1]);
    for (let i = 0; i < mine.length; i++) if ((mine[i] as ResultColumn).name === from) mine[i] = { ...(mine[i] as ResultColumn), name: to };
  }
  outs.push(...mine);
}

/** `$2` as a select item: a positional column reference. */
function positional(n: Json): string[] | null {
  const p = n?.parameter;
  return p && p.style === 'Dollar' && typeof p.index === 'number' ? ['$' + p.index] : null;
}

/** Snowflake names an unaliased output after the column, else after the expression (here: its kind). */
function outputName(core: Json, parts: string[] | null): string {
  if (parts) return parts[parts.length - 1] as string;
  const k = kindOf(core);
  const b = core?.[k];
  if (k === 'function') return String(b.name).toUpperCase();
  if (typeof b?.original_name === 'string') return b.original_name.toUpperCase();
  return k ? k.toUpperCase() : '?COLUMN?';
}

/** GROUP BY / ORDER BY / DISTINCT ON: ordinals and output names refer to the select list. */
function orderLike(w: Walk, items: Json, sc: Scope, outs: ResultColumn[], d: number): void {
  if (!Array.isArray(items)) {
    predicates(w, items, sc, d);
    return;
  }
  for (const it of items) {
    const node = isNode(it) ? it : (it?.this ?? it);
    const lit = node?.literal;
    if (lit?.literal_type === 'number' && /^\d+$/.test(String(lit.value))) {
      const o = outs[Number(lit.value) - 1];
      if (o) for (const src of o.sources) w.facts.pred(src);
      continue;
    }
    const parts = refParts(node);
    const o = parts?.length === 1 ? outs.find((x) => x.name === parts[0]) : undefined;
    if (o) {
      for (const src of o.sources) w.facts.pred(src);
      // A FROM item's column of that name may be the one meant: count it too.
      if (!sc.rels.some((r) => itemHas(r, (parts as string[])[0] as string) === 1)) continue;
    }
    predicates(w, node, sc, d);
  }
}
