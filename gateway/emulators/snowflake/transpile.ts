// Snowflake SQL → what the local Snowflake runs: session commands it answers itself (USE, ALTER SESSION, SHOW,
// DESCRIBE, CREATE/DROP DATABASE, SYSTEM$WAIT, transactions) and DuckDB SQL for the rest, transpiled with
// @polyglot-sql/sdk after applying Snowflake's own rules (UPPER folding, expression column names, bind markers).
import { Dialect, generate, parse, tokenize, transpile } from '@polyglot-sql/sdk';
import { StatementType } from '../../snowflake/protocol.ts';
import { EXPRESSION_END, STATEMENT_TYPE_BY_KIND, type Token } from '../../snowflake/wire.ts';
import { sfError, type SnowflakeError } from './errors.ts';
import { splitName } from './identifiers.ts';

export { StatementType } from '../../snowflake/protocol.ts';

/** What a statement sees of its session: current names for CURRENT_*() and unqualified objects. */
export interface SessionContext {
  database: string | null;
  schema: string | null;
  warehouse: string | null;
  role: string;
  user: string;
  account: string;
  sessionId: number;
}

export interface TableRef {
  database: string | null;
  schema: string | null;
  name: string;
}

/** One planned statement. */
export type Plan =
  | {
      kind: 'duckdb';
      /** DuckDB SQL with binds as `($n)`, n indexing `bindKeys`. */
      sql: string;
      statementTypeId: number;
      /** A status line for DDL ("Table T successfully created."); null for queries and DML. */
      status: string | null;
      /** The one table in FROM (no joins), for rowtype database/schema/table. */
      table: TableRef | null;
      /** SYSTEM$WAIT calls, replaced by their result text: the time to wait (abortably) before running. */
      waitMs: number;
      /** CREATE VIEW: the view and the text Snowflake keeps (INFORMATION_SCHEMA.VIEWS.VIEW_DEFINITION). */
      view?: CreatedView;
    }
  | { kind: 'use'; object: 'DATABASE' | 'SCHEMA' | 'WAREHOUSE' | 'ROLE'; name: string[] }
  | { kind: 'alter-session'; set: Array<[string, string | number | boolean]>; unset: string[] }
  | { kind: 'create-database'; name: string; orReplace: boolean; ifNotExists: boolean }
  | { kind: 'drop-database'; name: string; ifExists: boolean }
  | {
      kind: 'show';
      object: 'DATABASES' | 'SCHEMAS' | 'TABLES' | 'VIEWS' | 'COLUMNS';
      like: string | null;
      /** `IN ACCOUNT | DATABASE d | SCHEMA [d.]s | [d.]s`; null: the session's current database and schema. */
      scope: { kind: 'ACCOUNT' | 'DATABASE' | 'SCHEMA' | 'TABLE' | 'VIEW' | null; name: string[] } | null;
    }
  | { kind: 'describe'; name: string[] }
  | { kind: 'transaction'; op: 'BEGIN' | 'COMMIT' | 'ROLLBACK' };

/** A view a CREATE VIEW makes: its resolved name, the statement's text as submitted, SECURE or not. */
export interface CreatedView {
  database: string;
  schema: string;
  name: string;
  text: string;
  secure: boolean;
}

/**
 * The schema of DuckDB's default catalog that holds the INFORMATION_SCHEMA views of database `db` (DuckDB
 * reserves the name INFORMATION_SCHEMA in every catalog for its own, so Snowflake's live here).
 */
export function infoSchemaOf(db: string): string {
  return `SF_INFORMATION_SCHEMA$${db}`;
}

export interface PlannedRequest {
  plans: Plan[];
  /** Binding keys ("1", "2", or names) in the order the `($n)` markers number them. */
  bindKeys: string[];
}

/** Tokens that end the select list of a SELECT at depth 0. */
const SELECT_LIST_END = new Set(['FROM', 'WHERE', 'GROUP', 'HAVING', 'QUALIFY', 'ORDER', 'LIMIT', 'UNION', 'INTERSECT', 'EXCEPT', 'MINUS', 'WINDOW', 'INTO', 'FETCH', 'OFFSET', 'SEMICOLON']);
/** Functions whose value is the session's: replaced by literals before DuckDB sees them. */
const SESSION_FUNCTIONS = new Set(['CURRENT_ROLE', 'CURRENT_WAREHOUSE', 'CURRENT_USER', 'CURRENT_ACCOUNT', 'CURRENT_ACCOUNT_NAME', 'CURRENT_SESSION', 'CURRENT_REGION', 'CURRENT_DATABASE', 'CURRENT_SCHEMA', 'CURRENT_CLIENT', 'CURRENT_ORGANIZATION_NAME', 'CURRENT_VERSION']);
/** Snowflake column types DuckDB spells differently. */
const TYPE_RENAMES: Record<string, string> = {
  VARIANT: 'JSON',
  OBJECT: 'JSON',
  ARRAY: 'JSON',
  TIMESTAMPNTZ: 'TIMESTAMP',
  TIMESTAMP_NTZ: 'TIMESTAMP',
  TIMESTAMPLTZ: 'TIMESTAMPTZ',
  TIMESTAMP_LTZ: 'TIMESTAMPTZ',
  TIMESTAMP_TZ: 'TIMESTAMPTZ',
};
const SENTINEL = /"__SFEMU_B(\d+)__"/g;

/**
 * Plans a query-request's SQL text: one plan per statement, binds numbered across them.
 *
 * @example
 * const { plans, bindKeys } = planRequest('SELECT name FROM patients WHERE id = ?', ctx);
 * // plans[0].sql: SELECT "NAME" FROM "PATIENTS" WHERE "ID" = ($1); bindKeys: ["1"]
 */
export function planRequest(sqlText: string, ctx: SessionContext): PlannedRequest {
  const tokens = lex(sqlText);
  const statements = splitStatements(tokens);
  const bindKeys: string[] = [];
  const counter = { positional: 0 };
  const plans = statements.map((st) => planStatement(sqlText, st, ctx, bindKeys, counter));
  return { plans, bindKeys };
}

function lex(sql: string): Token[] {
  const r = tokenize(sql, Dialect.Snowflake) as { success: boolean; tokens?: Token[]; error?: string };
  if (!r.success || !r.tokens) throw sfError.syntax(r.error ?? 'syntax error');
  return r.tokens;
}

interface StatementSlice {
  tokens: Token[];
  start: number;
  end: number;
}

function splitStatements(tokens: Token[]): StatementSlice[] {
  const out: StatementSlice[] = [];
  let cur: Token[] = [];
  const flush = () => {
    const first = cur[0];
    const last = cur[cur.length - 1];
    if (first && last) out.push({ tokens: cur, start: first.span.start, end: last.span.end });
    cur = [];
  };
  for (const t of tokens) {
    if (t.token_type === 'SEMICOLON') flush();
    else cur.push(t);
  }
  flush();
  if (out.length === 0) throw sfError.syntax('Empty SQL statement.');
  return out;
}

function planStatement(
  sql: string,
  st: StatementSlice,
  ctx: SessionContext,
  bindKeys: string[],
  counter: { positional: number },
): Plan {
  const original = sql.slice(st.start, st.end);
  const native = nativeCommand(original);
  if (native) return native;

  // Binds: `?` (the n-th is key "n"), `:n` and `:name`. Each becomes a quoted identifier sentinel that survives
  // parsing and transpiling, then `($k)`. Sentinels keep a bind that a rewrite duplicates (DECODE → CASE) one bind.
  let text = '';
  let at = st.start;
  const toks = st.tokens;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    let key: string | null = null;
    let end = t.span.end;
    if (t.token_type === 'PARAMETER' && t.text === '?') {
      key = String(++counter.positional);
    } else if (t.token_type === 'COLON') {
      const next = toks[i + 1];
      const prev = toks[i - 1];
      if (next && next.span.start === t.span.end && (next.token_type === 'NUMBER' || next.token_type === 'VAR') && !(prev && EXPRESSION_END.has(prev.token_type))) {
        key = next.text;
        end = next.span.end;
        i++;
      }
    }
    if (key === null) continue;
    let idx = bindKeys.indexOf(key);
    if (idx < 0) idx = bindKeys.push(key) - 1;
    text += sql.slice(at, t.span.start) + `"__SFEMU_B${idx + 1}__"`;
    at = end;
  }
  text += sql.slice(at, st.end);

  const parsed = parse(text, Dialect.Snowflake);
  if (!parsed.success || !Array.isArray(parsed.ast) || parsed.ast.length === 0) throw syntaxError(text, parsed);
  const ast = parsed.ast[0] as Record<string, unknown>;
  const kind = Object.keys(ast)[0] ?? '';

  foldIdentifiers(ast, '');
  const view = kind === 'create_view' ? createdView(ast.create_view as Node, original, ctx) : undefined;
  const state = { waitMs: 0 };
  rewrite(ast, ctx, state);
  if (kind === 'select') nameExpressionColumns(ast.select as SelectNode, st.tokens, sql);

  const snowflakeSql = generate([ast], Dialect.Snowflake);
  if (!snowflakeSql.success || !snowflakeSql.sql?.[0]) throw sfError.syntax(snowflakeSql.error ?? 'cannot generate SQL');
  const duck = transpile(snowflakeSql.sql[0], Dialect.Snowflake, Dialect.DuckDB);
  if (!duck.success || !duck.sql?.[0]) throw sfError.syntax(duck.error ?? 'cannot transpile SQL');
  const duckSql = duck.sql[0].replace(SENTINEL, (_m, n: string) => `($${n})`);
  return {
    kind: 'duckdb',
    sql: duckSql,
    statementTypeId: statementTypeOf(kind),
    status: ddlStatus(kind, ast),
    table: kind === 'select' ? singleTable(ast.select as SelectNode) : null,
    waitMs: state.waitMs,
    ...(view ? { view } : {}),
  };
}

/** CREATE [SECURE] VIEW: its name resolved in the session's database and schema; SECURE is the emulator's to keep. */
function createdView(cv: Node, original: string, ctx: SessionContext): CreatedView {
  const n = cv.name as { name: { name: string }; schema: { name: string } | null; catalog: { name: string } | null };
  const database = n.catalog?.name ?? ctx.database;
  const schema = n.schema?.name ?? ctx.schema;
  if (!database || !schema) throw sfError.syntax('Cannot perform CREATE VIEW. This session does not have a current database or schema. Call \'USE DATABASE\', or use a qualified name.');
  const secure = cv.secure === true;
  cv.secure = false; // DuckDB has no secure views
  return { database, schema, name: n.name.name, text: original.trim(), secure };
}

/** Snowflake's wording: `syntax error line 1 at position 7 unexpected 'FROM'.` */
function syntaxError(text: string, r: { errorLine?: number; errorColumn?: number; errorStart?: number; errorEnd?: number }): SnowflakeError {
  const near = r.errorStart !== undefined ? text.slice(r.errorStart, r.errorEnd ?? r.errorStart + 1).trim() : '';
  const where = `line ${r.errorLine ?? 1} at position ${Math.max(0, (r.errorColumn ?? 1) - 1)}`;
  return sfError.syntax(near ? `syntax error ${where} unexpected '${near}'.` : `syntax error ${where} unexpected end of input.`);
}

// ---------------------------------------------------------------------------------------------
// Commands the emulator answers itself

const RE_USE = /^USE\s+(?:(DATABASE|SCHEMA|WAREHOUSE|ROLE)\s+)?(.+?)\s*$/is;
const RE_USE_SECONDARY = /^USE\s+SECONDARY\s+ROLES\b/is;
const RE_ALTER_SESSION = /^ALTER\s+SESSION\s+(SET|UNSET)\s+(.+?)\s*$/is;
const RE_CREATE_DB = /^CREATE\s+(OR\s+REPLACE\s+)?(?:TRANSIENT\s+)?DATABASE\s+(IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)/is;
const RE_DROP_DB = /^DROP\s+DATABASE\s+(IF\s+EXISTS\s+)?("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s*(?:CASCADE|RESTRICT)?\s*$/is;
const RE_SHOW = /^SHOW\s+(?:TERSE\s+)?(DATABASES|SCHEMAS|TABLES|VIEWS|COLUMNS)(?:\s+LIKE\s+'((?:[^']|'')*)')?(?:\s+IN\s+(?:(ACCOUNT|DATABASE|SCHEMA|TABLE|VIEW)\b\s*)?(\S+)?)?\s*$/is;
const RE_DESCRIBE = /^DESC(?:RIBE)?\s+(?:TABLE\s+|VIEW\s+)?(\S+)\s*$/is;
const RE_BEGIN = /^(?:BEGIN(?:\s+(?:TRANSACTION|WORK))?|START\s+TRANSACTION)(?:\s+NAME\s+\S+)?\s*$/is;
const RE_COMMIT = /^COMMIT(?:\s+WORK)?\s*$/is;
const RE_ROLLBACK = /^ROLLBACK(?:\s+WORK)?\s*$/is;

function nativeCommand(text: string): Plan | null {
  const s = text.trim();
  if (RE_USE_SECONDARY.test(s)) return { kind: 'alter-session', set: [], unset: [] };
  let m = RE_USE.exec(s);
  if (m) {
    const name = splitName(m[2]!);
    if (!name) throw sfError.syntax(`syntax error line 1 at position 4 unexpected '${m[2]}'.`);
    const object = (m[1]?.toUpperCase() as 'DATABASE' | 'SCHEMA' | 'WAREHOUSE' | 'ROLE' | undefined) ?? (name.length > 1 ? 'SCHEMA' : 'DATABASE');
    return { kind: 'use', object, name };
  }
  m = RE_ALTER_SESSION.exec(s);
  if (m) return m[1]!.toUpperCase() === 'SET' ? { kind: 'alter-session', set: parseAssignments(m[2]!), unset: [] } : { kind: 'alter-session', set: [], unset: m[2]!.split(',').map((x) => x.trim().toUpperCase()) };
  m = RE_CREATE_DB.exec(s);
  if (m) return { kind: 'create-database', name: splitName(m[3]!)![0]!, orReplace: !!m[1], ifNotExists: !!m[2] };
  m = RE_DROP_DB.exec(s);
  if (m) return { kind: 'drop-database', name: splitName(m[2]!)![0]!, ifExists: !!m[1] };
  m = RE_SHOW.exec(s);
  if (m) {
    const kind = (m[3]?.toUpperCase() ?? null) as 'ACCOUNT' | 'DATABASE' | 'SCHEMA' | 'TABLE' | 'VIEW' | null;
    const name = m[4] ? splitName(m[4]) : [];
    if (name === null) throw sfError.syntax(`syntax error: unexpected '${m[4]}'.`);
    const scope = kind !== null || name.length > 0 ? { kind, name } : null;
    return { kind: 'show', object: m[1]!.toUpperCase() as 'TABLES', like: m[2]?.replace(/''/g, "'") ?? null, scope };
  }
  m = RE_DESCRIBE.exec(s);
  if (m) {
    const name = splitName(m[1]!);
    if (name) return { kind: 'describe', name };
  }
  if (RE_BEGIN.test(s)) return { kind: 'transaction', op: 'BEGIN' };
  if (RE_COMMIT.test(s)) return { kind: 'transaction', op: 'COMMIT' };
  if (RE_ROLLBACK.test(s)) return { kind: 'transaction', op: 'ROLLBACK' };
  return null;
}

function parseAssignments(text: string): Array<[string, string | number | boolean]> {
  const out: Array<[string, string | number | boolean]> = [];
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^']|'')*'|[^\s,]+)\s*,?/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    const raw = m[2]!;
    let value: string | number | boolean;
    if (raw.startsWith("'")) value = raw.slice(1, -1).replace(/''/g, "'");
    else if (/^(true|false)$/i.test(raw)) value = raw.toLowerCase() === 'true';
    else if (/^-?\d+(\.\d+)?$/.test(raw)) value = Number(raw);
    else value = raw;
    out.push([m[1]!.toUpperCase(), value]);
    if (re.lastIndex >= text.length) break;
  }
  if (out.length === 0) throw sfError.syntax(`syntax error line 1 unexpected '${text}'.`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// AST rewrites

interface SelectNode {
  expressions: Array<Record<string, unknown>>;
  from: { expressions: Array<Record<string, unknown>> } | null;
  joins: unknown[];
}

type Node = Record<string, unknown>;

function isIdentifier(n: Node): boolean {
  return typeof n.name === 'string' && typeof n.quoted === 'boolean' && !('args' in n) && ('trailing_comments' in n || 'span' in n);
}

/** Unquoted identifiers fold to UPPER and become quoted, so DuckDB stores and returns Snowflake's names. */
function foldIdentifiers(node: unknown, parentKey: string): void {
  if (Array.isArray(node)) {
    for (const x of node) foldIdentifiers(x, parentKey);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const n = node as Node;
  if (isIdentifier(n)) {
    if (!n.quoted && parentKey !== 'named_argument') {
      n.name = (n.name as string).toUpperCase();
      n.quoted = true;
    }
    return;
  }
  for (const [k, v] of Object.entries(n)) {
    // `FLATTEN(input => …)`: argument names are not identifiers to fold.
    if (parentKey === 'named_argument' && k === 'name') continue;
    foldIdentifiers(v, k);
  }
}

/**
 * Session functions → literals, SYSTEM$WAIT → its result text (the wait happens before the statement runs, where an
 * abort-request can cut it short), Snowflake-only column types → DuckDB's, FLATTEN → the emulator's table macro.
 */
function rewrite(node: unknown, ctx: SessionContext, state: { waitMs: number }): void {
  if (Array.isArray(node)) {
    for (const x of node) rewrite(x, ctx, state);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const n = node as Node;
  const fn = n.function as { name?: string; args?: unknown[] } | undefined;
  if (fn && typeof fn.name === 'string') {
    const upper = fn.name.toUpperCase();
    if (SESSION_FUNCTIONS.has(upper) && (fn.args?.length ?? 0) === 0) {
      const value = sessionValue(upper, ctx);
      delete n.function;
      if (value === null) n.null = null;
      else n.literal = { literal_type: 'string', value };
      return;
    }
    if (upper === 'SYSTEM$WAIT') {
      const { ms, label } = systemWait(fn.args as Node[] | undefined);
      state.waitMs += ms;
      delete n.function;
      n.literal = { literal_type: 'string', value: label };
      return;
    }
    if (upper === 'FLATTEN') {
      fn.name = 'SF_FLATTEN';
      // FLATTEN(input => x [, path => 'p'] [, outer => b] …) → SF_FLATTEN(x): positional, input first.
      const args = (fn.args ?? []) as Node[];
      const input = args.find((a) => (a.named_argument as { name?: { name?: string } } | undefined)?.name?.name?.toUpperCase() === 'INPUT');
      const first = input ? (input.named_argument as { value: unknown }).value : args[0];
      fn.args = first === undefined ? [] : [first];
    }
  }
  const table = n.table as { name?: { name?: string }; schema?: Node | null; catalog?: Node | null } | undefined;
  if (table && typeof table.name?.name === 'string' && String(table.schema?.name ?? '').toUpperCase() === 'INFORMATION_SCHEMA') {
    // db.INFORMATION_SCHEMA.X → the emulator's views of database db (infoSchemaOf), in DuckDB's default catalog.
    const db = (table.catalog?.name as string | undefined) ?? ctx.database;
    if (!db) throw sfError.objectNotFound(`INFORMATION_SCHEMA.${table.name.name}`);
    table.catalog = { name: 'memory', quoted: true, trailing_comments: [] };
    table.schema = { name: infoSchemaOf(db), quoted: true, trailing_comments: [] };
  }
  if (n.data_type === 'custom' && typeof n.name === 'string') {
    // Precision of Snowflake's timestamp types (`TIMESTAMP_NTZ(9)`) has no DuckDB spelling: DuckDB keeps microseconds.
    const renamed = TYPE_RENAMES[n.name.replace(/\(.*$/, '').toUpperCase()];
    if (renamed) n.name = renamed;
  }
  for (const v of Object.values(n)) rewrite(v, ctx, state);
}

/** SYSTEM$WAIT(n [, 'SECONDS' | 'MILLISECONDS' | 'MINUTES' | 'HOURS']) with literal arguments. */
function systemWait(args: Node[] | undefined): { ms: number; label: string } {
  const n = Number((args?.[0]?.literal as { value?: string } | undefined)?.value);
  const unit = String((args?.[1]?.literal as { value?: string } | undefined)?.value ?? 'SECONDS').toUpperCase();
  const factor: Record<string, number> = { SECONDS: 1000, MILLISECONDS: 1, MINUTES: 60_000, HOURS: 3_600_000 };
  const f = factor[unit];
  if (!Number.isFinite(n) || n < 0 || f === undefined) throw sfError.syntax(`SYSTEM$WAIT takes a non-negative number literal and a unit (SECONDS, MILLISECONDS, MINUTES, HOURS).`);
  return { ms: n * f, label: `waited ${n} ${unit.toLowerCase()}` };
}

function sessionValue(fn: string, ctx: SessionContext): string | null {
  switch (fn) {
    case 'CURRENT_ROLE':
      return ctx.role;
    case 'CURRENT_WAREHOUSE':
      return ctx.warehouse;
    case 'CURRENT_USER':
      return ctx.user;
    case 'CURRENT_ACCOUNT':
    case 'CURRENT_ACCOUNT_NAME':
      return ctx.account;
    case 'CURRENT_SESSION':
      return String(ctx.sessionId);
    case 'CURRENT_REGION':
      return 'LOCAL';
    case 'CURRENT_DATABASE':
      return ctx.database;
    case 'CURRENT_SCHEMA':
      return ctx.schema;
    case 'CURRENT_CLIENT':
      return 'Snowflake emulator';
    case 'CURRENT_ORGANIZATION_NAME':
      return 'LOCAL';
    default:
      return '9.0.0';
  }
}

/**
 * Snowflake names an unaliased expression column by its text, upper-cased (`count(*)` → `COUNT(*)`); DuckDB would
 * say `count_star()`. Alias each such top-level item with its source text, taken from the tokens.
 */
function nameExpressionColumns(sel: SelectNode, tokens: Token[], sql: string): void {
  const items = selectItems(tokens);
  if (!items || items.length !== sel.expressions.length) return;
  sel.expressions = sel.expressions.map((e, i) => {
    const key = Object.keys(e)[0];
    if (key === 'alias' || key === 'column' || key === 'star') return e;
    const item = items[i]!;
    const name = sql.slice(item.start, item.end).replace(/\s+/g, ' ').trim().toUpperCase();
    if (!name || name.includes('__SFEMU_B')) return e;
    return {
      alias: {
        this: e,
        alias: { name, quoted: true, trailing_comments: [] },
        column_aliases: [],
        alias_explicit_as: true,
        pre_alias_comments: [],
        trailing_comments: [],
      },
    };
  });
}

/** Source ranges of the top-level select list items of a statement's outermost SELECT. */
function selectItems(tokens: Token[]): Array<{ start: number; end: number }> | null {
  let depth = 0;
  let i = 0;
  for (; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.token_type === 'L_PAREN') depth++;
    else if (t.token_type === 'R_PAREN') depth--;
    else if (depth === 0 && t.token_type === 'SELECT') break;
  }
  if (i >= tokens.length) return null;
  i++;
  while (i < tokens.length && ['DISTINCT', 'ALL'].includes(tokens[i]!.token_type)) i++;
  if (tokens[i]?.token_type === 'TOP') i += 2;
  const items: Array<{ start: number; end: number }> = [];
  let start: Token | null = null;
  let last: Token | null = null;
  depth = 0;
  for (; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (depth === 0 && (SELECT_LIST_END.has(t.token_type) || t.token_type === 'COMMA')) {
      if (start && last) items.push({ start: start.span.start, end: last.span.end });
      start = null;
      last = null;
      if (t.token_type !== 'COMMA') break;
      continue;
    }
    if (t.token_type === 'L_PAREN' || t.token_type === 'L_BRACKET') depth++;
    else if (t.token_type === 'R_PAREN' || t.token_type === 'R_BRACKET') depth--;
    start ??= t;
    last = t;
  }
  if (start && last) items.push({ start: start.span.start, end: last.span.end });
  return items;
}

function singleTable(sel: SelectNode): TableRef | null {
  const from = sel.from?.expressions;
  if (!from || from.length !== 1 || (sel.joins?.length ?? 0) > 0) return null;
  const t = from[0]!.table as { name?: { name: string }; schema?: { name: string } | null; catalog?: { name: string } | null } | undefined;
  if (!t?.name) return null;
  return { database: t.catalog?.name ?? null, schema: t.schema?.name ?? null, name: t.name.name };
}

/** The statementTypeId of an AST kind: the product's table, with set operations and VALUES as SELECT, the rest DDL. */
function statementTypeOf(kind: string): number {
  if (kind === 'union' || kind === 'intersect' || kind === 'except' || kind === 'values') return StatementType.SELECT;
  return STATEMENT_TYPE_BY_KIND[kind] ?? StatementType.DDL;
}

function ddlStatus(kind: string, ast: Record<string, unknown>): string | null {
  const named = (k: string): string => {
    const body = ast[k] as { name?: unknown } | undefined;
    const n = body?.name as { name?: unknown } | Array<{ name?: unknown }> | undefined;
    const inner = Array.isArray(n) ? n[0] : n;
    const leaf = (inner as { name?: unknown } | undefined)?.name;
    return typeof leaf === 'string' ? leaf : typeof (leaf as { name?: unknown } | undefined)?.name === 'string' ? String((leaf as { name: string }).name) : '';
  };
  switch (kind) {
    case 'create_table':
      return `Table ${named(kind)} successfully created.`;
    case 'create_view':
      return `View ${named(kind)} successfully created.`;
    case 'create_schema':
      return `Schema ${named(kind)} successfully created.`;
    case 'drop_table':
    case 'drop_view':
    case 'drop_schema':
      return `${named(kind) || 'Object'} successfully dropped.`;
    default:
      return statementTypeOf(kind) === StatementType.DDL ? 'Statement executed successfully.' : null;
  }
}
