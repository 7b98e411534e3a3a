// The blast radius of a Snowflake write: the read-only count the gateway runs upstream just before an UPDATE or
// DELETE (docs/decision-contract.md, "Blast radius"), built from polyglot's parse of the write and checked by
// parsing the count back; it says why when a write cannot be measured, and the policy refuses those.
import { impureCalls, sameTree } from '../measure.ts';
import type { Measurement } from '../types.ts';
import type { StatementAnalysis } from '../types.ts';
import { PURE_FUNCTIONS } from './functions.ts';
import { generate, parse } from './parser.ts';

/** Built-ins that return another value on each call: a count and the write would each draw their own. */
const VOLATILE = new Set(['random', 'randstr', 'uniform', 'normal', 'zipf', 'uuid_string', 'seq1', 'seq2', 'seq4', 'seq8', 'current_timestamp', 'current_time', 'localtimestamp', 'localtime', 'sysdate', 'systimestamp', 'getdate']);

const TEMPLATE = 'SELECT COUNT(*) AS ROWS, (SELECT COUNT(*) FROM T) AS TABLE_ROWS FROM T WHERE TRUE';

/**
 * The read-only query that measures a Snowflake UPDATE / DELETE, or why it cannot be measured.
 *
 * @example
 * measurementQuery(snowflake.analyze('DELETE FROM VISITS WHERE ID > 0')[0])
 * // { sql: 'SELECT COUNT(*) AS ROWS, (SELECT COUNT(*) FROM VISITS) AS TABLE_ROWS FROM VISITS WHERE ID > 0', params: [] }
 */
export function measurementQuery(a: StatementAnalysis): Measurement {
  if (a.kind !== 'update' && a.kind !== 'delete') return { error: `${a.command} is not an UPDATE or DELETE (only those are measured on Snowflake)` };
  if (a.data_modifying_cte || a.nested.length > 0) return { error: 'it writes through nested statements, whose effect a count cannot show' };
  const impure = impureCalls(a.functions, (f) => f.toLowerCase(), PURE_FUNCTIONS, VOLATILE);
  if (impure) return impure;
  const p = parse(a.text);
  if ('error' in p) return { error: `its text could not be parsed again (${p.error})` };
  if (p.ast.length !== 1) return { error: 'a measurement covers exactly one statement' };
  const w = a.kind === 'update' ? p.ast[0].update : p.ast[0].delete;
  if (!w) return { error: `${a.command} did not parse as an UPDATE or DELETE` };
  // A join changes how often a target row matches: not measured.
  const joined = a.kind === 'update' ? w.from_clause || w.extra_tables?.length || w.table_joins?.length || w.from_joins?.length : w.using?.length || w.tables?.length || w.joins?.length;
  if (joined) return { error: 'it joins other tables (FROM / USING), which a plain count does not bound' };
  if (w.with) return { error: 'it has a WITH clause' };
  if (w.limit || w.order_by) return { error: 'it has a LIMIT / ORDER BY' };
  const where = w.where_clause?.this;
  const params = bindParams(w, where);
  if ('error' in params) return params;

  const t = parse(TEMPLATE);
  if ('error' in t) return { error: `the measuring count template does not parse (${t.error})` };
  const sel = t.ast[0].select;
  const { alias: _alias, ...bare } = w.table;
  sel.from.expressions[0] = { table: { ...w.table, alias: w.alias ?? w.table.alias } };
  sel.expressions[1].alias.this.subquery.this.select.from.expressions[0] = { table: { ...bare, alias: null } };
  if (where === undefined || where === null) sel.where_clause = null;
  else sel.where_clause.this = where;

  let sql: string;
  try {
    const g = generate(t.ast);
    if ('error' in g) return { error: `its measuring count could not be written (${g.error})` };
    sql = g.sql;
  } catch (e) {
    return { error: `its measuring count could not be written (${(e as Error).message})` };
  }
  // The count must select exactly what the write selects: Snowflake's grammar must read the written predicate
  // back as the same tree (spans aside).
  const back = parse(sql);
  if ('error' in back || back.ast.length !== 1) return { error: 'its measuring count does not parse' };
  if (!sameTree(back.ast[0].select?.where_clause?.this ?? undefined, where ?? undefined, isSpanOrComment)) return { error: 'its predicate did not survive being rewritten as a count' };
  return { sql, params: params.params };
}

/**
 * Which of the write's binds the count's markers take (1-based, one per marker of the count, in order). `?`
 * markers are numbered by position: those of the predicate come after every one before it (SET), so the count's
 * k-th takes the write's (before + k)-th. `:n` markers name their bind: the count gets the write's binds 1…max n.
 */
function bindParams(write: unknown, where: unknown): { params: number[] } | { error: string } {
  const allQ = collect(write, 'placeholder').length;
  const whereQ = collect(where, 'placeholder').length;
  const allN = collect(write, 'parameter') as Array<{ name?: string | null; index?: number | null; style?: string }>;
  const whereN = collect(where, 'parameter') as typeof allN;
  if (whereQ === 0 && whereN.length === 0) return { params: [] };
  if (allQ > 0 && allN.length > 0) return { error: 'it mixes ? and :n bind variables' };
  if (whereQ > 0) return { params: Array.from({ length: whereQ }, (_, k) => allQ - whereQ + k + 1) };
  if (whereN.some((p) => p.style !== 'Colon' || p.name || typeof p.index !== 'number' || p.index < 1)) return { error: 'its predicate has bind variables other than ? and :n, which the measuring count does not carry' };
  const max = Math.max(...whereN.map((p) => p.index as number));
  return { params: Array.from({ length: max }, (_, k) => k + 1) };
}

/** Every value under `key` in a parse tree, in document order. */
function collect(node: unknown, key: string, out: unknown[] = []): unknown[] {
  if (Array.isArray(node)) for (const n of node) collect(n, key, out);
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if (k === key) out.push(v);
      else collect(v, key, out);
    }
  }
  return out;
}

/** Parse-tree keys that are no part of the statement: source spans and comments. */
const isSpanOrComment = (k: string): boolean => k === 'span' || k.endsWith('comments');
