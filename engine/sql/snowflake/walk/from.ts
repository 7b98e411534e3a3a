// FROM items: tables and catalog views (time travel, CHANGES, SAMPLE), CTE references, subqueries,
// LATERAL FLATTEN and other table functions, stages, IDENTIFIER() and joins, each a relation of the scope.
import { itemColumns, naturalColumns } from '../../columns.ts';
import { dedupe } from '../../facts.ts';
import { rename, use } from '../../lineage.ts';
import type { ColumnRef, ResultColumn } from '../../types.ts';
import { viewLineage, type ViewBody } from '../../views.ts';
import { TABLE_FUNCTION_COLUMNS } from '../functions.ts';
import { fold, foldDotted, kindOf, tableParts, Unresolvable, type TableName } from '../names.ts';
import type { Json } from '../parser.ts';
import { expandRel, resolveIn } from './columns.ts';
import { call, ex, predicates } from './expressions.ts';
import { catalogCols, check, derivedRel, lookupCte, newScope, STAR, tableName, type Rel, type Scope, type Walk } from './scope.ts';

/** A FROM item becomes one relation (or several, for a join inside parentheses) of the scope. */
export function fromItem(w: Walk, item: Json, sc: Scope, d: number): void {
  d = check(w, d);
  const k = kindOf(item);
  const b = item?.[k];
  switch (k) {
    case 'table':
      tableItem(w, b, sc, d);
      return;
    case 'alias': {
      const before = sc.rels.length;
      fromItem(w, b.this, sc, d);
      const added = sc.rels.slice(before);
      if (added.length === 1) {
        const r = added[0] as Rel;
        r.name = fold(b.alias);
        r.aliased = true;
        const cols = ((b.column_aliases ?? []) as Json[]).map(fold);
        if (cols.length) sc.rels[before] = renamedRel(w, r, cols);
      }
      return;
    }
    case 'subquery': {
      // Only LATERAL subqueries see the FROM items before them; CTEs of this level stay visible.
      const parent: Scope = b.lateral ? sc : { parent: sc.parent, rels: [], ctes: sc.ctes, local: 0, outputs: null };
      const outs = w.query(item, parent, d);
      sc.rels.push(derivedRel(b.alias ? fold(b.alias) : '', rename(outs, ((b.column_aliases ?? []) as Json[]).map(fold))));
      return;
    }
    case 'lateral':
      tableFunction(w, b.this, b.alias ? (b.alias_quoted ? String(b.alias) : fold(b.alias)) : '', ((b.column_aliases ?? []) as string[]).map(fold), sc, d);
      return;
    case 'function':
      tableFunction(w, item, '', [], sc, d);
      return;
    case 'stage_reference': {
      // Files in a stage: their contents are not classified; `$1` and friends name their columns.
      const t = stageName(w, b.name);
      w.facts.read(t.schema, t.table, null);
      sc.rels.push({ name: t.table, schema: t.schema, table: t.table, aliased: false, cols: null, outs: null, view: false });
      if (b.file_format || b.pattern) predicates(w, b.file_format, sc, d);
      return;
    }
    case 'values':
      sc.rels.push(derivedRel('', w.query(item, sc, d)));
      return;
    case 'paren':
      fromItem(w, b.this, sc, d);
      return;
    default:
      opaqueItem(w, k, b, sc, d);
  }
}

/** A table or view by name, with its time-travel point (AT / BEFORE), CHANGES and SAMPLE. */
function tableItem(w: Walk, b: Json, sc: Scope, d: number): void {
  const alias = b.alias ? fold(b.alias) : null;
  predicates(w, [b.when?.expression, ...pointsInTime(b.changes), b.table_sample], sc, d);
  if (b.identifier_func) {
    identifierItem(w, b.identifier_func, alias, sc, d);
    return;
  }
  const parts = tableParts(b);
  if (parts.length === 1) {
    const cte = lookupCte(sc, parts[0] as string);
    if (cte) {
      sc.rels.push(derivedRel(alias ?? (parts[0] as string), rename(cte, ((b.column_aliases ?? []) as Json[]).map(fold))));
      return;
    }
  }
  const r = tableRel(w, tableName(w, parts), alias, d);
  const cols = ((b.column_aliases ?? []) as Json[]).map(fold);
  sc.rels.push(cols.length ? renamedRel(w, r, cols) : r);
}

/** The AT / BEFORE / END expressions inside CHANGES(...) (the rest is keywords). */
function pointsInTime(x: Json): Json[] {
  if (!x || typeof x !== 'object') return [];
  if (x.historical_data) return [x.historical_data.expression];
  return Object.values(x).flatMap(pointsInTime);
}

/** A table or catalog view, its read recorded. */
function tableRel(w: Walk, t: TableName, alias: string | null, d: number): Rel {
  w.facts.read(t.schema, t.table, null);
  const outs = viewOuts(w, t, d);
  return { name: alias ?? t.table, schema: t.schema, table: t.table, aliased: alias !== null, cols: outs ? null : catalogCols(w, t), outs, view: !!outs };
}

/** `t AS x (a, b)`: the relation's columns renamed by position (read whole: which one is `a` needs them all). */
function renamedRel(w: Walk, r: Rel, cols: string[]): Rel {
  const outs: ResultColumn[] = [];
  expandRel(w, r, outs);
  return { ...derivedRel(r.name, rename(outs, cols)), aliased: r.aliased };
}

/** IDENTIFIER('db.s.t') names a table with a literal; IDENTIFIER($v) / IDENTIFIER(:b) is known only at run time. */
function identifierItem(w: Walk, fn: Json, alias: string | null, sc: Scope, d: number): void {
  const a = (fn?.function?.args ?? [])[0];
  const lit = a?.literal;
  if (lit?.literal_type !== 'string') {
    w.facts.unresolve('dynamic_sql: IDENTIFIER() names a table only known when the statement runs', undefined);
    sc.rels.push(derivedRel(alias ?? '', [{ name: STAR, sources: [], derived: true }]));
    return;
  }
  w.facts.functions.add('identifier');
  w.facts.litDep = true;
  const parts = splitName(String(lit.value));
  if (parts.length === 1 && lookupCte(sc, parts[0] as string)) throw new Unresolvable('IDENTIFIER() naming a CTE');
  sc.rels.push(tableRel(w, tableName(w, parts), alias, d));
}

/** A dotted name in a string ('db.s."Mixed"'), folded as Snowflake folds it. */
function splitName(s: string): string[] {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")*)"|([^."]+))\s*(?:\.|$)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < s.length && (m = re.exec(s)) !== null) {
    parts.push(m[1] !== undefined ? m[1].replace(/""/g, '"') : (m[2] as string).trim().toUpperCase());
    at = re.lastIndex;
  }
  if (at < s.length || parts.length === 0) throw new Unresolvable(`IDENTIFIER('${s}') is not a name`);
  return parts;
}

/** A stage named in FROM or COPY: '@st', '@db.s.st', '@~' (the user's), '@%t' (a table's). */
export function stageName(w: Walk, name: string): TableName {
  const bare = name.replace(/^@/, '').split('/')[0] ?? '';
  if (bare === '~' || bare.startsWith('%')) {
    const t = tableName(w, ['@' + bare.toUpperCase()]);
    return t;
  }
  const parts = foldDotted({ name: bare, quoted: false });
  parts[parts.length - 1] = '@' + parts[parts.length - 1];
  return tableName(w, parts);
}

/**
 * A table function in FROM (LATERAL FLATTEN(...), TABLE(FLATTEN(...)), TABLE(RESULT_SCAN(...))): its
 * arguments decide how many rows come back (predicates), and each output column may carry any of them.
 */
function tableFunction(w: Walk, node: Json, alias: string, colAliases: string[], sc: Scope, d: number): void {
  let fn = node?.function;
  if (fn && String(fn.name).toUpperCase() === 'TABLE' && (fn.args ?? []).length === 1) fn = fn.args[0]?.function ?? null;
  if (!fn) {
    opaqueItem(w, kindOf(node), node?.[kindOf(node)], sc, d);
    return;
  }
  const name = String(fn.name ?? '').toLowerCase();
  if (name === 'identifier') {
    identifierItem(w, { function: fn }, alias || null, sc, d);
    return;
  }
  const shape = TABLE_FUNCTION_COLUMNS.get(name);
  const sink: ColumnRef[] = [];
  call(w, name, shape !== undefined, fn, sc, sink, true, d, shape === undefined);
  // Fresh copies: the input reaches the output columns as their value, not only through the call.
  const src = dedupe(sink).map((s) => ({ schema: s.schema, table: s.table, column: s.column }));
  const outs = shape ? rename(shape.map((c) => ({ name: c, sources: src, derived: true })), colAliases) : [{ name: STAR, sources: src, derived: true }];
  sc.rels.push(derivedRel(alias || name.toUpperCase(), outs));
}

/** PIVOT, UNPIVOT, MATCH_RECOGNIZE and anything newer: every column may derive from any input, shape unknown. */
function opaqueItem(w: Walk, k: string, b: Json, sc: Scope, d: number): void {
  const inner = newScope(sc.parent);
  inner.ctes = sc.ctes;
  const sink: ColumnRef[] = [];
  if (b?.this) {
    fromItem(w, b.this, inner, d);
    const outs: ResultColumn[] = [];
    for (const r of inner.rels) expandRel(w, r, outs);
    for (const o of outs) for (const s of o.sources) use(w, s, sink, false);
  }
  for (const key in b ?? {}) if (key !== 'this' && key !== 'alias') ex(w, b[key], inner, sink, true, d);
  w.facts.unresolve(`unknown_shape: ${k.toUpperCase() || 'a FROM item'} yields columns the analysis does not know by name`, undefined);
  sc.rels.push(derivedRel(b?.alias ? fold(b.alias) : '', [{ name: STAR, sources: dedupe(sink), derived: true }]));
}

/** A join: its item joins the scope; ON / MATCH_CONDITION / USING / NATURAL columns are predicates. Returns true for USING / NATURAL. */
export function join(w: Walk, j: Json, sc: Scope, d: number): boolean {
  const left = sc.rels.slice();
  fromItem(w, j.this, sc, d);
  const right = sc.rels.slice(left.length);
  if (j.on) predicates(w, j.on, sc, d);
  if (j.match_condition) predicates(w, j.match_condition, sc, d);
  let merged = false;
  for (const u of (j.using ?? []) as Json[]) {
    merged = true;
    const col = fold(u);
    resolveIn(w, left, col, null, true);
    resolveIn(w, right, col, null, true);
  }
  if (j.kind === 'Natural') {
    merged = true;
    for (const c of naturalColumns(left, right, itemColumns) ?? []) {
      resolveIn(w, left, c, null, true);
      resolveIn(w, right, c, null, true);
    }
  }
  return merged;
}


/** Output lineage of a catalog view (its definition walked in its own namespace), memoized per statement. */
function viewOuts(w: Walk, t: TableName, d: number): ResultColumn[] | null {
  const key = `${t.schema}.${t.table}`;
  const def = w.o.catalog?.views?.[key];
  if (def === undefined) return null;
  const read = (): ViewBody<Json> => {
    const p = w.o.parse(def);
    const stmt = 'ast' in p && p.ast.length === 1 ? p.ast[0] : null;
    const q = kindOf(stmt) === 'create_view' ? stmt.create_view.query : stmt;
    if (!q || !['select', 'union', 'intersect', 'except', 'values', 'subquery', 'paren'].includes(kindOf(q))) return { error: 'error' in p ? p.error : null };
    return { query: q };
  };
  const walk = (q: Json): ResultColumn[] => {
    const [database, schema] = t.schema.split('.');
    const saved = w.current;
    // Unqualified names in a view's body resolve in the view's database and schema.
    w.current = { database, schema };
    try {
      return w.query(q, null, d);
    } finally {
      w.current = saved;
    }
  };
  return viewLineage(w, key, key, read, walk, catalogCols(w, t));
}
