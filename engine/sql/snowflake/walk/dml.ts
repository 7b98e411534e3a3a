// Writes: INSERT (OVERWRITE, multi-table), UPDATE, DELETE, MERGE and COPY INTO, with the columns they
// write, what they read to do it, and the statement's WHERE.
import type { CopyInfo, ResultColumn } from '../../types.ts';
import { fold, foldDotted, kindOf, tableParts, Unresolvable, type TableName } from '../names.ts';
import type { Json } from '../parser.ts';
import { expandRel } from './columns.ts';
import { ex, predicates, whereClause } from './expressions.ts';
import { fromItem, stageName } from './from.ts';
import { queryOf } from './queries.ts';
import { catalogCols, check, derivedRel, newScope, STAR, tableName, type Rel, type Scope, type Walk } from './scope.ts';

/** The written table of a DML statement as a FROM item its clauses resolve in. */
function targetRel(w: Walk, ref: Json, alias: Json): { rel: Rel; t: TableName } {
  const t = tableName(w, tableParts(ref));
  const a = alias ?? ref.alias;
  const rel: Rel = { name: a ? fold(a) : t.table, schema: t.schema, table: t.table, aliased: !!a, cols: catalogCols(w, t), outs: null, view: false };
  return { rel, t };
}

/** INSERT [OVERWRITE] INTO t [(cols)] VALUES ... | query. */
export function insert(w: Walk, b: Json, outer: Scope | null, d: number): void {
  d = check(w, d);
  const sc = newScope(outer);
  insertTarget(w, b);
  if (b.query) queryOf(w, b.query, sc, d);
  insertValues(w, b.values, sc, d);
}

/** INSERT ALL / FIRST: every target is written; conditions and values read the source query's columns. */
export function multiInsert(w: Walk, b: Json, outer: Scope | null, d: number): void {
  d = check(w, d);
  const sc = newScope(outer);
  const outs = b.source ? queryOf(w, b.source, outer, d) : [];
  sc.rels.push(derivedRel('', outs));
  for (const e of (b.expressions ?? []) as Json[]) {
    const ci = e.conditional_insert ?? e;
    if (ci.expression) predicates(w, ci.expression, sc, d);
    const ins = ci.this?.insert;
    if (!ins) continue;
    insertTarget(w, ins);
    insertValues(w, ins.values, sc, d);
  }
}

/** An INSERT's target table: the named columns are written, or every column when none are named. */
function insertTarget(w: Walk, ins: Json): void {
  const { t } = targetRel(w, ins.table, null);
  const cols = ((ins.columns ?? []) as Json[]).map(fold);
  w.facts.write(t.schema, t.table, cols.length ? cols : [STAR]);
}

/** An INSERT's VALUES rows: every value is read. */
function insertValues(w: Walk, rows: Json, sc: Scope, d: number): void {
  for (const row of (rows ?? []) as Json[][]) for (const v of row) ex(w, v, sc, [], false, d);
}

/** UPDATE t [alias] SET c = v [FROM ...] [WHERE ...]. */
export function update(w: Walk, b: Json, outer: Scope | null, d: number, top: boolean): void {
  d = check(w, d);
  const sc = newScope(outer);
  const { rel, t } = targetRel(w, b.table, null);
  sc.rels.push(rel);
  for (const f of (b.from_clause?.expressions ?? []) as Json[]) fromItem(w, f, sc, d);
  const written: string[] = [];
  for (const [target, value] of (b.set ?? []) as [Json, Json][]) {
    // `SET x.a = ...` arrives as one identifier 'x.a': the column is its last part.
    const parts = foldDotted(target);
    written.push(parts[parts.length - 1] ?? STAR);
    ex(w, value, sc, [], false, d);
  }
  w.facts.write(t.schema, t.table, written);
  dmlWhere(w, b.where_clause, sc, d, top);
}

/** DELETE FROM t [alias] [USING ...] [WHERE ...]. */
export function remove(w: Walk, b: Json, outer: Scope | null, d: number, top: boolean): void {
  d = check(w, d);
  const sc = newScope(outer);
  const { rel, t } = targetRel(w, b.table, b.alias);
  w.facts.write(t.schema, t.table, [STAR]);
  sc.rels.push(rel);
  for (const u of (b.using ?? []) as Json[]) fromItem(w, kindOf(u) === 'table' || kindOf(u) === 'subquery' ? u : { table: u }, sc, d);
  dmlWhere(w, b.where_clause, sc, d, top);
}

function dmlWhere(w: Walk, where: Json, sc: Scope, d: number, top: boolean): void {
  if (!where) return;
  whereClause(w, where.this ?? where, sc, d, top ? w.where : null);
}

/**
 * MERGE INTO t USING s ON ... WHEN [NOT] MATCHED [AND ...] THEN UPDATE / DELETE / INSERT. polyglot spells
 * an action as a tuple: [UPDATE, (c = v, ...)], [INSERT, (cols), (values)] or [INSERT, (values)], or DELETE.
 */
export function merge(w: Walk, b: Json, outer: Scope | null, d: number): void {
  d = check(w, d);
  const sc = newScope(outer);
  const target = kindOf(b.this) === 'alias' ? b.this.alias : { this: b.this, alias: null };
  if (kindOf(target.this) !== 'table') throw new Unresolvable('MERGE into something other than a table');
  const { rel, t } = targetRel(w, target.this.table, target.alias);
  sc.rels.push(rel);
  fromItem(w, b.using, sc, d);
  if (b.on) predicates(w, b.on, sc, d);
  if (b.using_cond) predicates(w, b.using_cond, sc, d);
  const written: string[] = [];
  const whens = b.whens?.whens?.expressions ?? b.whens?.expressions ?? [];
  for (const x of whens as Json[]) {
    const wh = x.when ?? x;
    if (wh.condition) predicates(w, wh.condition, sc, d);
    const then = wh.then;
    const items = (then?.tuple?.expressions ?? [then]) as Json[];
    const verb = String(items[0]?.var?.this ?? '').toUpperCase();
    if (verb === 'DELETE') written.push(STAR);
    else if (verb === 'UPDATE') {
      for (const a of (items[1]?.tuple?.expressions ?? []) as Json[]) {
        const eq = a.eq;
        if (!eq) throw new Unresolvable('a MERGE UPDATE assignment the analysis does not know');
        const parts = foldDotted(eq.left.identifier ?? eq.left.column?.name);
        written.push(parts[parts.length - 1] ?? STAR);
        ex(w, eq.right, sc, [], false, d);
      }
    } else if (verb === 'INSERT') {
      const lists = items.slice(1).map((i) => (i?.tuple?.expressions ?? []) as Json[]);
      const cols = lists.length === 2 ? (lists[0] as Json[]) : [];
      const vals = lists[lists.length - 1] ?? [];
      written.push(...(cols.length ? cols.map((c) => fold(c.identifier ?? c.column?.name ?? c)) : [STAR]));
      for (const v of vals) ex(w, v, sc, [], false, d);
    } else {
      throw new Unresolvable(`a MERGE action the analysis does not know (${verb || kindOf(then)})`);
    }
  }
  w.facts.write(t.schema, t.table, written);
}

/**
 * COPY INTO: a table loaded from a stage or location (a write), or a stage / location unloaded from a table
 * or query (its rows leave the account: their lineage is the result). Either way the files are on the
 * server side, not the client's: `target: 'file'`.
 */
export function copy(w: Walk, b: Json, outer: Scope | null, d: number): { copy: CopyInfo; result: ResultColumn[] } {
  d = check(w, d);
  const sc = newScope(outer);
  // Locations are literals: the decision for one must not be reused for another.
  w.facts.litDep = true;
  const into = kindOf(b.this) === 'schema' ? b.this.schema : { this: b.this, expressions: [] };
  for (const p of (b.params ?? []) as Json[]) predicates(w, p.values, sc, d);
  if (kindOf(into.this) === 'table') {
    // Load: COPY INTO t [(cols)] FROM @stage | 'location' | (SELECT ... FROM @stage).
    const { t } = targetRel(w, into.this.table, null);
    const cols = ((into.expressions ?? []) as Json[]).map((c) => fold(c.column?.name ?? c.identifier ?? c));
    w.facts.write(t.schema, t.table, cols.length ? cols : [STAR]);
    for (const f of (b.files ?? []) as Json[]) source(w, f, sc, d);
    return { copy: { direction: 'from', target: 'file', table: t }, result: [] };
  }
  // Unload: COPY INTO @stage | 'location' FROM t | (query).
  const dest = into.this?.literal?.value;
  if (typeof dest === 'string' && dest.startsWith('@')) w.facts.write(...stagePair(w, dest));
  let table: TableName | null = null;
  const result: ResultColumn[] = [];
  for (const f of (b.files ?? []) as Json[]) {
    const k = kindOf(f);
    if (k === 'column' || k === 'table' || k === 'dot') {
      // A table named as the source: all of its rows leave.
      const parts = k === 'table' ? tableParts(f.table) : (refPartsOf(f) ?? []);
      const inner = newScope(outer);
      fromItem(w, { table: tableRef(parts) }, inner, d);
      for (const r of inner.rels) expandRel(w, r, result);
      const r0 = inner.rels[0];
      if (r0?.schema && r0.table) table = { schema: r0.schema, table: r0.table };
    } else {
      result.push(...queryOf(w, f, sc, d, false, true));
    }
  }
  return { copy: { direction: 'to', target: 'file', table }, result };
}

/** A COPY source: a stage or location literal, or a query over a stage. */
function source(w: Walk, f: Json, sc: Scope, d: number): void {
  const lit = f?.literal?.value;
  if (typeof lit === 'string') {
    if (lit.startsWith('@')) {
      const t = stageName(w, lit);
      w.facts.read(t.schema, t.table, STAR);
    }
    return;
  }
  if (kindOf(f) === 'stage_reference') {
    const t = stageName(w, f.stage_reference.name);
    w.facts.read(t.schema, t.table, STAR);
    return;
  }
  queryOf(w, f, sc, d);
}

function stagePair(w: Walk, name: string): [string, string, string[]] {
  const t = stageName(w, name);
  return [t.schema, t.table, [STAR]];
}

function refPartsOf(f: Json): string[] | null {
  const c = f.column;
  if (c) return c.table ? [fold(c.table), fold(c.name)] : [fold(c.name)];
  if (f.dot) {
    const inner = refPartsOf(f.dot.this);
    return inner ? [...inner, fold(f.dot.field)] : null;
  }
  return null;
}

/** A TableRef for folded parts (quoted, so they are taken as they are). */
function tableRef(parts: string[]): Json {
  const id = (name: string | undefined): Json => (name === undefined ? null : { name, quoted: true });
  const n = parts.length;
  return { name: id(parts[n - 1]), schema: id(parts[n - 2]), catalog: id(parts[n - 3]) };
}

