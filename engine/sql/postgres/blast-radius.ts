// The blast radius of a write: how many rows an UPDATE / DELETE / MERGE would change, measured by a
// read-only count over the same target and predicate that the gateway runs upstream just before the write
// (docs/decision-contract.md, "Blast radius"). This module builds that count from PostgreSQL's own parse
// tree (deparsed with pgsql-deparser, then re-parsed to check the predicate survived unchanged); it says
// why when a write cannot be measured, and the policy refuses those.
import { deparseSync } from 'pgsql-deparser';
import { parseTree } from './analyze.ts';
import { PURE_FUNCTIONS } from './functions.ts';
import { tagOf, type Json } from './names.ts';
import { impureCalls, sameTree } from '../measure.ts';
import type { BlastRadius, Measurement, StatementAnalysis } from '../types.ts';

export type { BlastRadius, Measurement };


const WRITES = new Set(['update', 'delete', 'merge', 'insert']);

/**
 * Built-ins that return another value on each call (pg_proc.provolatile = 'v' among PURE_FUNCTIONS): a
 * count and the write would each draw their own, so the count says nothing about the write.
 */
const VOLATILE = new Set(['random', 'random_normal', 'clock_timestamp', 'timeofday', 'gen_random_uuid', 'uuid_generate_v1', 'uuid_generate_v1mc', 'uuid_generate_v4', 'uuidv4', 'uuidv7', 'setseed']);

/**
 * The read-only query that measures a write, or why it cannot be measured.
 *
 * @example
 * measurementQuery(analyzeSql('DELETE FROM visits WHERE id > 0')[0])
 * // { sql: 'SELECT count(*) AS rows, (SELECT count(*) FROM visits) AS table_rows FROM visits WHERE id > 0' }
 */
export function measurementQuery(a: StatementAnalysis): Measurement {
  // EXPLAIN ANALYZE runs its statement: a plain write inside is measured as itself.
  if (a.command === 'EXPLAIN' && a.nested.length === 1 && WRITES.has(a.nested[0]!.kind)) return measurementQuery(a.nested[0]!);
  if (!WRITES.has(a.kind)) return { error: `${a.command} is not an UPDATE, DELETE or MERGE` };
  if (a.data_modifying_cte || a.nested.length > 0) return { error: 'it writes through nested statements (a data-modifying WITH or a function body), whose effect a count cannot show' };
  const impure = impureCalls(a.functions, (f) => f.replace(/^pg_catalog\./, ''), PURE_FUNCTIONS, VOLATILE);
  if (impure) return impure;
  let tree: Json;
  try {
    tree = parseTree(a.text);
  } catch (e) {
    return { error: `its text could not be parsed again (${(e as Error).message})` };
  }
  const stmts = (tree.stmts ?? []) as Json[];
  if (stmts.length !== 1) return { error: 'a measurement covers exactly one statement' };
  const node = stmts[0].stmt;
  const tag = tagOf(node);
  const b = node[tag];
  if ((tag === 'UpdateStmt' || tag === 'DeleteStmt') && b.whereClause?.CurrentOfExpr) return { current_of: true };
  let select: Json;
  let where: Json | undefined;
  switch (tag) {
    case 'DeleteStmt':
    case 'UpdateStmt': {
      const others = (tag === 'DeleteStmt' ? b.usingClause : b.fromClause) as Json[] | undefined;
      where = b.whereClause;
      // With USING / FROM, a target row counts once however many rows it joins: EXISTS, not a join.
      const filter = others?.length ? { SubLink: { subLinkType: 'EXISTS_SUBLINK', subselect: selectOf([one()], others, where) } } : where;
      select = selectOf([countAs('rows'), tableRows(b.relation)], [{ RangeVar: b.relation }], filter);
      break;
    }
    case 'MergeStmt': {
      // Every action belongs to one (source row, matching target row) pair or to an unmatched source row: the
      // pairs of source LEFT JOIN target bound what MERGE changes, inserts included (PostgreSQL refuses to act
      // twice on one target row). WHEN NOT MATCHED BY SOURCE may act on every other target row as well.
      const join = { JoinExpr: { jointype: 'JOIN_LEFT', larg: b.sourceRelation, rarg: { RangeVar: b.relation }, quals: b.joinCondition } };
      where = b.joinCondition;
      select = selectOf([countAs('rows'), tableRows(b.relation)], [join], undefined);
      if (((b.mergeWhenClauses ?? []) as Json[]).some((c) => c.MergeWhenClause?.matchKind === 'MERGE_WHEN_NOT_MATCHED_BY_SOURCE')) {
        return { error: 'WHEN NOT MATCHED BY SOURCE can act on any target row, which a count of pairs does not bound' };
      }
      break;
    }
    case 'InsertStmt': {
      if (b.onConflictClause?.action !== 'ONCONFLICT_UPDATE') return { error: 'only an INSERT ... ON CONFLICT DO UPDATE is measured' };
      if (!b.selectStmt) return { error: 'INSERT ... DEFAULT VALUES' };
      // Each proposed row inserts or updates one row: their number bounds what the upsert changes.
      const source = { RangeSubselect: { subquery: b.selectStmt, alias: { aliasname: 'verdict_upsert_rows' } } };
      select = selectOf([countAs('rows'), tableRows(b.relation)], [source], undefined);
      break;
    }
    default:
      return { error: `${a.command} is not an UPDATE, DELETE or MERGE` };
  }
  if (b.withClause) select.SelectStmt.withClause = b.withClause;
  let sql: string;
  try {
    sql = deparseSync(select as never);
  } catch (e) {
    return { error: `its measuring count could not be written (${(e as Error).message})` };
  }
  // The count must select exactly what the write selects: PostgreSQL must read the deparsed predicate back
  // as the same tree (locations aside).
  if (where !== undefined) {
    try {
      const back = parseTree(sql).stmts?.[0]?.stmt?.SelectStmt;
      const got = tag === 'MergeStmt' ? back?.fromClause?.[0]?.JoinExpr?.quals : (back?.whereClause?.SubLink?.subselect?.SelectStmt?.whereClause ?? back?.whereClause);
      if (!sameTree(got, where, isLocation)) return { error: 'its predicate did not survive being rewritten as a count' };
    } catch (e) {
      return { error: `its measuring count does not parse (${(e as Error).message})` };
    }
  }
  return { sql, params: [...paramRefs(select, new Set<number>())].sort((x, y) => x - y) };
}

/** The $n numbers a tree refers to. */
function paramRefs(node: unknown, out: Set<number>): Set<number> {
  if (Array.isArray(node)) for (const n of node) paramRefs(n, out);
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'ParamRef' && typeof (v as { number?: unknown }).number === 'number') out.add((v as { number: number }).number);
      else paramRefs(v, out);
    }
  }
  return out;
}

function selectOf(targets: Json[], from: Json[], where: Json | undefined): Json {
  const s: Json = { targetList: targets, fromClause: from, limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' };
  if (where !== undefined) s.whereClause = where;
  return { SelectStmt: s };
}

function countAs(name: string): Json {
  return { ResTarget: { name, val: { FuncCall: { funcname: [{ String: { sval: 'count' } }], agg_star: true, funcformat: 'COERCE_EXPLICIT_CALL' } } } };
}

function one(): Json {
  return { ResTarget: { val: { A_Const: { ival: { ival: 1 } } } } };
}

/** (SELECT count(*) FROM target): the whole table, alias dropped, ONLY kept. */
function tableRows(relation: Json): Json {
  const { alias: _alias, ...bare } = relation;
  return { ResTarget: { name: 'table_rows', val: { SubLink: { subLinkType: 'EXPR_SUBLINK', subselect: selectOf([countAs('count')], [{ RangeVar: bare }], undefined) } } } };
}

/** Parse-tree keys that are no part of the statement: source positions. */
const isLocation = (k: string): boolean => k === 'location';
