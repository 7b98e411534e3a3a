// Turns Snowflake SQL text into the `statement` facts of the policy input (one StatementAnalysis per statement)
// with polyglot's Snowflake grammar. Fails closed: what it cannot parse, know or resolve is 'unknown'.
import { unknownStatement } from '../dialect.ts';
import { absorb, accesses } from '../facts.ts';
import { rename } from '../lineage.ts';
import type { AnalyzeOptions, CopyInfo, ResultColumn, StatementAnalysis, StatementKind } from '../types.ts';
import { scan, type Piece } from './fingerprint.ts';
import { fold, foldDotted, kindOf, tableParts, Unresolvable } from './names.ts';
import { parse, type Json, type Token } from './parser.ts';
import { expandRel } from './walk/columns.ts';
import { copy, insert, merge, multiInsert, remove, update } from './walk/dml.ts';
import { fromItem } from './walk/from.ts';
import { DepthError, newScope, STAR, tableName, type Walk, type WalkOptions } from './walk/scope.ts';
import { Walker } from './walk/walker.ts';

/**
 * Splits `sql` into statements and extracts each one's policy facts. Never throws for bad SQL (it becomes
 * an 'unknown' analysis with parse_error); throws only if the parser was not loaded.
 * @example analyzeSnowflake('SELECT ssn FROM patients', { database: 'CLINIC', schema: 'PUBLIC' })[0].reads
 *   // [{ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', columns: ['SSN'] }]
 */
export function analyzeSnowflake(sql: string, options: AnalyzeOptions = {}): StatementAnalysis[] {
  const o: WalkOptions = {
    catalog: options.catalog,
    current: { database: options.database, schema: options.schema },
    maxDepth: options.maxDepth ?? 200,
    parse,
  };
  const out = analyzeText(sql, o, 0);
  // Which column a bind (? or :1) meets is not analyzed for Snowflake yet: a statement with a placeholder
  // token says "unknown" (null), so the policy treats every parameter of it as possibly sensitive.
  for (const a of out) a.parameters = /\?|:\d/.test(a.text) ? null : [];
  return out;
}

function analyzeText(sql: string, o: WalkOptions, d: number): StatementAnalysis[] {
  if (!/\S/.test(sql)) return [];
  if (d > o.maxDepth) return [unknownStatement(sql.trim(), new DepthError(o.maxDepth).message)];
  const s = scan(sql);
  if ('error' in s) return [unknownStatement(sql.trim(), s.error)];
  return s.pieces.map((p) => analyzePiece(p, o, d));
}

function analyzePiece(p: Piece, o: WalkOptions, d: number): StatementAnalysis {
  const words = p.tokens.map(word);
  try {
    if (words[0] === 'EXECUTE' && words[1] === 'IMMEDIATE') return executeImmediate(p, o, d);
    const parsed = parse(p.text);
    if ('error' in parsed) return unknownStatement(p.text, parsed.error);
    if (parsed.ast.length !== 1) return unknownStatement(p.text, `the parser read ${parsed.ast.length} statements where the lexer found one`);
    return statement(parsed.ast[0], p, words, o, d);
  } catch (e) {
    // RangeError: a stack overflow on input nested deeper than the walk's own limit catches.
    if (e instanceof Unresolvable || e instanceof DepthError || e instanceof RangeError) return unknownStatement(p.text, e.message);
    throw e;
  }
}

/** A token as a keyword or unquoted name (upper case); '' for literals and quoted names. */
function word(t: Token): string {
  return t.type === 'QUOTED_IDENTIFIER' || t.type === 'NUMBER' || t.type.endsWith('STRING') ? '' : t.text.toUpperCase();
}

/** What a statement's first word must be for each node kind polyglot returns: a misread statement is denied. */
const FIRST_WORDS: ReadonlyMap<string, readonly string[]> = new Map([
  ...['select', 'union', 'intersect', 'except', 'values', 'subquery', 'paren'].map((k): [string, string[]] => [k, ['SELECT', 'WITH', '(', 'VALUES']]),
  ['insert', ['INSERT']],
  ['multitable_inserts', ['INSERT']],
  ['update', ['UPDATE']],
  ['delete', ['DELETE']],
  ['merge', ['MERGE']],
  ['copy', ['COPY']],
  ['grant', ['GRANT']],
  ['revoke', ['REVOKE']],
  ['use', ['USE']],
  ['set_statement', ['SET']],
  ['alter_session', ['ALTER']],
  ['transaction', ['BEGIN', 'START']],
  ['commit', ['COMMIT']],
  ['rollback', ['ROLLBACK']],
  ['show', ['SHOW']],
  ['describe', ['DESCRIBE', 'DESC', 'EXPLAIN']],
  ['put', ['PUT']],
  ['truncate', ['TRUNCATE']],
  ['truncate_table', ['TRUNCATE']],
  ['undrop', ['UNDROP']],
]);

/** DDL node kinds and their command names. */
const DDL: ReadonlyMap<string, string> = new Map([
  ['create_table', 'CREATE TABLE'], ['drop_table', 'DROP TABLE'], ['alter_table', 'ALTER TABLE'],
  ['create_view', 'CREATE VIEW'], ['drop_view', 'DROP VIEW'], ['alter_view', 'ALTER VIEW'],
  ['create_schema', 'CREATE SCHEMA'], ['drop_schema', 'DROP SCHEMA'], ['create_database', 'CREATE DATABASE'], ['drop_database', 'DROP DATABASE'],
  ['create_function', 'CREATE FUNCTION'], ['drop_function', 'DROP FUNCTION'], ['create_procedure', 'CREATE PROCEDURE'], ['drop_procedure', 'DROP PROCEDURE'],
  ['create_sequence', 'CREATE SEQUENCE'], ['drop_sequence', 'DROP SEQUENCE'], ['alter_sequence', 'ALTER SEQUENCE'],
  ['create_task', 'CREATE TASK'], ['create_index', 'CREATE INDEX'], ['drop_index', 'DROP INDEX'], ['comment', 'COMMENT'],
  ['truncate', 'TRUNCATE'], ['truncate_table', 'TRUNCATE'], ['undrop', 'UNDROP'],
]);

/** The facts of one statement beyond what the walk accumulates. */
interface Shape {
  kind: StatementKind;
  command: string;
  result: ResultColumn[];
  copy: CopyInfo | null;
  nested: StatementAnalysis[];
  setting: string | null;
  settingValue: string | null;
  explain: string[] | null;
}

function statement(node: Json, p: Piece, words: string[], o: WalkOptions, d: number): StatementAnalysis {
  const k = kindOf(node);
  const b = node[k];
  const first = words[0] ?? '';
  const expect = FIRST_WORDS.get(k) ?? (k.startsWith('create_') ? ['CREATE'] : k.startsWith('drop_') ? ['DROP'] : k.startsWith('alter_') ? ['ALTER'] : null);
  if (expect && !expect.includes(first)) throw new Unresolvable(`the parser read the statement as ${k}, but it starts with ${first || 'something else'}`);
  // Snowflake's DML takes no WITH of its own (INSERT's query may have one): a CTE here would be misread as a table.
  if (['insert', 'update', 'delete', 'merge'].includes(k) && (b.with || b.with_)) throw new Unresolvable(`WITH before ${k.toUpperCase()}`);
  const w = new Walker(o);
  const f = w.facts;
  const s: Shape = { kind: 'utility', command: first, result: [], copy: null, nested: [], setting: null, settingValue: null, explain: null };
  switch (k) {
    case 'select':
    case 'union':
    case 'intersect':
    case 'except':
    case 'values':
    case 'subquery':
    case 'paren':
      s.kind = 'select';
      s.command = 'SELECT';
      s.result = w.query(node, null, d, true);
      break;
    case 'insert':
      s.kind = 'insert';
      s.command = b.overwrite ? 'INSERT OVERWRITE' : 'INSERT';
      insert(w, b, null, d);
      break;
    case 'multitable_inserts':
      s.kind = 'insert';
      s.command = `INSERT ${String(b.kind ?? 'ALL').toUpperCase()}`;
      multiInsert(w, b, null, d);
      break;
    case 'update':
      s.kind = 'update';
      s.command = 'UPDATE';
      update(w, b, null, d, true);
      break;
    case 'delete':
      s.kind = 'delete';
      s.command = 'DELETE';
      remove(w, b, null, d, true);
      break;
    case 'merge':
      s.kind = 'merge';
      s.command = 'MERGE';
      merge(w, b, null, d);
      break;
    case 'copy': {
      s.kind = 'copy';
      s.command = 'COPY INTO';
      const r = copy(w, b, null, d);
      s.copy = r.copy;
      s.result = r.result;
      break;
    }
    case 'grant':
    case 'revoke':
      s.kind = 'dcl';
      s.command = k.toUpperCase();
      if (['TABLE', 'VIEW'].includes(String(b.kind).toUpperCase()) && b.securable) {
        const t = tableName(w, foldDotted(b.securable));
        f.write(t.schema, t.table, [STAR]);
      }
      break;
    case 'use': {
      // USE DATABASE / SCHEMA changes how unqualified names resolve; USE ROLE which privileges apply.
      const what = String(b.kind ?? '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
      s.command = `USE ${what}`.trim();
      s.setting = what.toLowerCase() || null;
      s.settingValue = foldDotted(b.this).join('.') || null;
      break;
    }
    case 'set_statement':
      s.command = 'SET';
      setting(w, s, (b.items ?? []).map((i: Json) => [i.name, i.value]));
      break;
    case 'alter_session':
      s.command = 'ALTER SESSION';
      setting(w, s, (b.expressions ?? []).map((e: Json) => [e.set_item?.name, e.set_item?.value]));
      break;
    case 'transaction':
      s.kind = 'tcl';
      s.command = 'BEGIN';
      break;
    case 'commit':
    case 'rollback':
      s.kind = 'tcl';
      s.command = k.toUpperCase();
      break;
    case 'show':
      s.command = 'SHOW';
      break;
    case 'describe':
      describe(w, b, p, s, o, d, first);
      break;
    case 'put': {
      s.command = 'PUT';
      f.litDep = true;
      s.copy = { direction: 'from', target: 'file', table: null };
      break;
    }
    case 'command':
    case 'raw':
      words2(w, p, words, s);
      break;
    default: {
      const ddl = DDL.get(k);
      if (!ddl) throw new Unresolvable(`the analysis does not know this kind of Snowflake statement (${k})`);
      s.kind = 'ddl';
      s.command = k === 'undrop' ? `UNDROP ${String(b.kind ?? '').toUpperCase()}`.trim() : ddl;
      // A DDL statement's literals (defaults, options, comments) may be anything: never shared.
      f.litDep = true;
      ddlStatement(w, k, b, s, d);
    }
  }
  for (const n of s.nested) absorb(f, n);
  const flat = s.nested.flatMap((n) => {
    const inner = n.nested;
    n.nested = [];
    return [n, ...inner];
  });
  return {
    text: p.text,
    kind: s.kind,
    command: s.command,
    reads: accesses(f.reads),
    writes: accesses(f.writes),
    has_where: w.where.has,
    where_is_trivial: w.where.trivial,
    functions: [...f.functions],
    predicates_on: [...f.preds.values()],
    result_columns: s.result,
    unresolved: [...f.unresolved.values()],
    data_modifying_cte: false,
    creates_table_from_query: f.createsTable,
    copy: s.copy,
    setting: s.setting,
    setting_value: s.settingValue,
    explain_options: s.explain,
    on_conflict: null,
    name: null,
    nested: flat,
    opaque: f.opaque,
    parse_error: null,
    literal_dependent: f.litDep,
  };
}

/** SET x = v / ALTER SESSION SET p = v: the (first) name, lower case, and its value as written. */
function setting(w: Walk, s: Shape, items: [Json, Json][]): void {
  w.facts.litDep = true;
  const [name, value] = items[0] ?? [null, null];
  const parts = name?.identifier ? foldDotted(name.identifier) : name?.column ? [fold(name.column.name)] : [];
  s.setting = parts.join('.').toLowerCase() || null;
  const lit = value?.literal?.value ?? value?.boolean?.value ?? value?.column?.name?.name ?? value?.identifier?.name;
  s.settingValue = lit === undefined ? null : String(lit);
}

/** DESCRIBE shows an object's definition; EXPLAIN plans a statement (nested, judged too; nothing runs). */
function describe(w: Walk, b: Json, p: Piece, s: Shape, o: WalkOptions, d: number, first: string): void {
  if (first !== 'EXPLAIN') {
    s.command = 'DESCRIBE';
    const ref = b.target?.table;
    if (ref) {
      const t = tableName(w, tableParts(ref));
      w.facts.read(t.schema, t.table, null);
    }
    return;
  }
  s.command = 'EXPLAIN';
  s.explain = [];
  const i = p.tokens.findIndex((t, n) => n > 0 && ['SELECT', 'WITH', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', '('].includes(word(t)));
  const start = p.tokens[i]?.start;
  if (start === undefined) throw new Unresolvable('EXPLAIN of a statement the analysis cannot find');
  const inner = analyzeText(p.text.slice(start - p.offset), o, d + 1);
  s.nested.push(...inner);
  s.result = [{ name: 'QUERY PLAN', sources: [], derived: true }];
}

/** Statements polyglot keeps as words (GET, LIST, REMOVE, CALL, CREATE STAGE / INTEGRATION ...). */
function words2(w: Walk, p: Piece, words: string[], s: Shape): void {
  const f = w.facts;
  f.litDep = true;
  const first = words[0] ?? '';
  switch (first) {
    case 'GET':
      s.command = 'GET';
      s.copy = { direction: 'to', target: 'file', table: null };
      return;
    case 'LIST':
    case 'LS':
      s.command = 'LIST';
      return;
    case 'REMOVE':
    case 'RM':
      s.command = 'REMOVE';
      return;
    case 'CALL': {
      // A stored procedure runs whatever statements its body holds, with its owner's privileges.
      s.command = 'CALL';
      const name = p.tokens.slice(1).findIndex((t) => t.type === 'L_PAREN');
      const proc = p.tokens.slice(1, name < 0 ? 2 : name + 1).map((t) => (t.type === 'QUOTED_IDENTIFIER' ? t.text : t.text.toLowerCase())).join('');
      if (proc) f.functions.add(proc);
      f.opaque = true;
      f.unresolve(`dynamic_sql: CALL ${proc || 'a procedure'} runs statements that cannot be known before it runs`, undefined);
      return;
    }
    case 'CREATE':
    case 'ALTER':
    case 'DROP': {
      const object = objectType(words.slice(1));
      if (!object) throw new Unresolvable(`${first} of an object the analysis does not know`);
      s.kind = ['ROLE', 'USER', 'SHARE', 'DATABASE ROLE'].includes(object) ? 'dcl' : 'ddl';
      s.command = `${first} ${object}`;
      return;
    }
    default:
      throw new Unresolvable(`the analysis does not know this Snowflake statement (${first || 'empty'})`);
  }
}

/** Object types of CREATE / ALTER / DROP statements polyglot keeps as text. */
const OBJECT_TYPES = [
  'STORAGE INTEGRATION', 'API INTEGRATION', 'NOTIFICATION INTEGRATION', 'SECURITY INTEGRATION', 'EXTERNAL ACCESS INTEGRATION',
  'CATALOG INTEGRATION', 'INTEGRATION', 'STAGE', 'EXTERNAL FUNCTION', 'FUNCTION', 'PROCEDURE', 'PIPE', 'STREAM', 'TASK',
  'FILE FORMAT', 'SEQUENCE', 'WAREHOUSE', 'DATABASE ROLE', 'ROLE', 'USER', 'SHARE', 'NETWORK POLICY', 'NETWORK RULE',
  'MASKING POLICY', 'ROW ACCESS POLICY', 'PASSWORD POLICY', 'SESSION POLICY', 'AUTHENTICATION POLICY', 'TAG', 'ALERT',
  'DYNAMIC TABLE', 'EXTERNAL TABLE', 'ICEBERG TABLE', 'HYBRID TABLE', 'EVENT TABLE', 'MATERIALIZED VIEW', 'SECRET',
  'TABLE', 'VIEW', 'SCHEMA', 'DATABASE', 'RESOURCE MONITOR', 'ACCOUNT',
];
const MODIFIERS = new Set(['OR', 'REPLACE', 'ALTER', 'SECURE', 'TEMPORARY', 'TEMP', 'TRANSIENT', 'VOLATILE', 'LOCAL', 'GLOBAL', 'RECURSIVE', 'IF', 'NOT', 'EXISTS']);

function objectType(words: string[]): string | null {
  let i = 0;
  while (i < words.length && MODIFIERS.has(words[i] as string)) i++;
  const rest = words.slice(i).join(' ');
  return OBJECT_TYPES.find((t) => rest === t || rest.startsWith(t + ' ')) ?? null;
}

/** DDL: the objects it creates, changes or drops are writes; CREATE TABLE AS / CLONE / VIEW carry lineage. */
function ddlStatement(w: Walk, k: string, b: Json, s: Shape, d: number): void {
  const f = w.facts;
  switch (k) {
    case 'create_table': {
      const t = tableName(w, tableParts(b.name));
      const cols = ((b.columns ?? []) as Json[]).map((c) => fold(c.name));
      if (b.as_select) {
        s.result = rename(w.query(b.as_select, null, d, false, true), cols);
        f.createsTable = true;
      } else if (b.clone_source) {
        // A clone holds every row of its source.
        const sc = newScope(null);
        fromItem(w, { table: b.clone_source }, sc, d);
        for (const r of sc.rels) expandRel(w, r, s.result);
        f.createsTable = true;
      }
      f.write(t.schema, t.table, s.result.length ? s.result.map((c) => c.name) : cols.length ? cols : [STAR]);
      return;
    }
    case 'create_view': {
      const t = tableName(w, tableParts(b.name));
      s.command = b.materialized ? 'CREATE MATERIALIZED VIEW' : 'CREATE VIEW';
      s.result = rename(w.query(b.query, null, d, false, true), ((b.columns ?? []) as Json[]).map((c) => fold(c.name ?? c)));
      f.write(t.schema, t.table, s.result.map((c) => c.name));
      return;
    }
    case 'create_schema':
    case 'create_database': {
      // A clone copies every table of the source: its reads and writes name the whole namespace.
      const name = namespace(w, k, b.name);
      f.write(name, STAR, [STAR]);
      if (b.clone_from) {
        f.read(namespace(w, k, b.clone_from), STAR, STAR);
        f.createsTable = true;
      }
      return;
    }
    case 'drop_schema':
    case 'drop_database':
      for (const n of ([] as Json[]).concat(b.names ?? b.name ?? [])) f.write(namespace(w, k, n), STAR, [STAR]);
      return;
    case 'create_function':
    case 'create_procedure': {
      // The body is not analyzed: what it reads (and, for a procedure, runs) is unknown.
      const t = tableName(w, tableParts(b.name));
      f.write(t.schema, t.table, []);
      f.opaque = true;
      f.unresolve(`dynamic_sql: the body of ${t.schema}.${t.table} is not analyzed; what it reads or runs is unknown`, undefined);
      return;
    }
    default:
      for (const ref of tableRefs(b)) {
        const t = tableName(w, tableParts(ref));
        f.write(t.schema, t.table, [STAR]);
      }
  }
}

/** A schema ('DB.S') or database ('DB.*') name of CREATE / DROP SCHEMA / DATABASE. */
function namespace(w: Walk, k: string, id: Json): string {
  const parts = (Array.isArray(id) ? id : [id]).flatMap((x: Json) => foldDotted(typeof x?.name === 'string' ? x : x?.name));
  if (k.endsWith('_database')) return `${parts.join('.')}.*`;
  if (parts.length === 1) {
    if (!w.current.database) throw new Unresolvable(`cannot resolve schema ${parts[0]}: no current database`);
    parts.unshift(w.current.database);
  }
  return parts.join('.');
}

/** Every TableRef inside a DDL node (a name with its schema and catalog slots). */
function tableRefs(x: Json): Json[] {
  if (!x || typeof x !== 'object') return [];
  if (Array.isArray(x)) return x.flatMap(tableRefs);
  if (x.name && typeof x.name === 'object' && typeof x.name.name === 'string' && 'schema' in x && 'catalog' in x) return [x];
  return Object.values(x).flatMap(tableRefs);
}

/**
 * EXECUTE IMMEDIATE '<sql>' / $$<sql>$$: the text is analyzed as nested statements (and the decision is
 * never shared: it depends on the literal). Anything else (a variable, a bind, a file on a stage) is SQL
 * known only when it runs.
 */
function executeImmediate(p: Piece, o: WalkOptions, d: number): StatementAnalysis {
  const w = new Walker(o);
  const f = w.facts;
  f.litDep = true;
  const arg = p.tokens[2];
  const nested: StatementAnalysis[] = [];
  if (arg && (arg.type === 'STRING' || arg.type === 'DOLLAR_STRING')) {
    nested.push(...analyzeText(arg.text, o, d + 1));
    if (nested.length === 0) nested.push(unknownStatement(arg.text, 'EXECUTE IMMEDIATE of no statement'));
  } else {
    f.opaque = true;
    f.unresolve('dynamic_sql: EXECUTE IMMEDIATE runs text that is known only when it runs', undefined);
  }
  for (const n of nested) absorb(f, n);
  // The client gets the rows of the statement it ran (the last one, for a block of several).
  const result = nested[nested.length - 1]?.result_columns ?? [];
  const flat = nested.flatMap((n) => {
    const inner = n.nested;
    n.nested = [];
    return [n, ...inner];
  });
  return {
    ...unknownStatement(p.text, ''),
    kind: 'utility',
    command: 'EXECUTE IMMEDIATE',
    reads: accesses(f.reads),
    writes: accesses(f.writes),
    functions: [...f.functions],
    predicates_on: [...f.preds.values()],
    result_columns: result,
    unresolved: [...f.unresolved.values()],
    creates_table_from_query: f.createsTable,
    nested: flat,
    opaque: f.opaque,
    parse_error: null,
    literal_dependent: true,
  };
}
