// The blast radius of a Snowflake write: the read-only count the gateway runs upstream just before an UPDATE or
// DELETE (docs/decision-contract.md, "Blast radius"), built from polyglot's parse of the write and checked by
// parsing the count back; it says why when a write cannot be measured, and the policy refuses those.
import type { Measurement } from '../postgres/blast-radius.ts';
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
  const impure = a.functions.filter((f) => {
    const name = f.toLowerCase();
    return !PURE_FUNCTIONS.has(name) || VOLATILE.has(name);
  });
  if (impure.length > 0) return { error: `it calls ${impure.join(', ')}, which a measuring count would run too, or whose result changes between the count and the write` };
  const p = parse(a.text);
  if ('error' in p) return { error: `its text could not be parsed again (${p.error})` };
  if (p.ast.length !== 1) return { error: 'a measurement covers exactly one statement' };
  const w = a.kind === 'update' ? p.ast[0].update : p.ast[0].delete;
  if (!w) return { error: `${a.command} did not parse as an UPDATE or DELETE` };
  // A join changes how often a target row matches; binds would need mapping into the count: not measured (yet).
  const joined = a.kind === 'update' ? w.from_clause || w.extra_tables?.length || w.table_joins?.length || w.from_joins?.length : w.using?.length || w.tables?.length || w.joins?.length;
  if (joined) return { error: 'it joins other tables (FROM / USING), which a plain count does not bound' };
  if (w.with) return { error: 'it has a WITH clause' };
  if (w.limit || w.order_by) return { error: 'it has a LIMIT / ORDER BY' };
  if (has(w.where_clause, 'placeholder')) return { error: 'its predicate has bind variables, which the measuring count does not carry' };
  const where = w.where_clause?.this;

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
  if (!sameTree(back.ast[0].select?.where_clause?.this ?? undefined, where ?? undefined)) return { error: 'its predicate did not survive being rewritten as a count' };
  return { sql, params: [] };
}

function has(node: unknown, key: string): boolean {
  if (Array.isArray(node)) return node.some((n) => has(n, key));
  if (typeof node === 'object' && node !== null) return Object.entries(node).some(([k, v]) => k === key || has(v, key));
  return false;
}

/** Structural equality of two parse trees, ignoring `span` fields and comments. */
function sameTree(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const skip = (k: string) => k === 'span' || k.endsWith('comments');
  const ka = Object.keys(a).filter((k) => !skip(k));
  const kb = Object.keys(b).filter((k) => !skip(k));
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameTree((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
