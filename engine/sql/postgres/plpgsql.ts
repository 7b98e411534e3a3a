// Statements hidden in DO blocks and CREATE FUNCTION/PROCEDURE bodies, analyzed as `nested`;
// dynamic SQL (plpgsql EXECUTE) and non-SQL languages make the parent opaque.
import { messageOf } from '../../errors.ts';
import { unknownStatement } from '../dialect.ts';
import type { StatementAnalysis } from '../types.ts';
import { flattenBody, strList, type Json } from './names.ts';
import type { WalkOptions } from './walk/scope.ts';

export interface BodyApi {
  analyzeText(sql: string, o: WalkOptions, d: number): StatementAnalysis[];
  analyzeNode(node: Json, text: string, o: WalkOptions, d: number): StatementAnalysis;
  parsePlpgsql(sql: string): Json;
}

export interface BodyResult {
  nested: StatementAnalysis[];
  opaque: boolean;
  /** Why the body is opaque (for StatementAnalysis.unresolved); null when it is not. */
  reason: string | null;
  /** The body's language, lower-case ('sql' for SQL-standard bodies). */
  language: string;
}

// parseMode of PLpgSQL_expr (RawParseMode in parser.h).
const RAW_PARSE_DEFAULT = 0;
const RAW_PARSE_TYPE_NAME = 1;
const RAW_PARSE_PLPGSQL_EXPR = 2;

/** Nested analyses of a DoStmt / CreateFunctionStmt body (`b` is the node body, `text` its SQL). */
export function bodyAnalyses(tag: string, b: Json, text: string, o: WalkOptions, d: number, api: BodyApi): BodyResult {
  const res: BodyResult = { nested: [], opaque: false, reason: null, language: 'sql' };
  const opts = (tag === 'DoStmt' ? b.args : b.options) as Json[] | undefined;
  let language: string | null = null;
  let body: string | null = null;
  for (const x of opts ?? []) {
    const de = x.DefElem;
    if (!de) continue;
    if (de.defname === 'language') language = (de.arg?.String?.sval as string | undefined) ?? null;
    if (de.defname === 'as') {
      const arg = de.arg;
      body = (arg?.String?.sval as string | undefined) ?? strList(arg?.List?.items as Json[] | undefined)[0] ?? null;
    }
  }

  if (tag === 'CreateFunctionStmt' && b.sql_body) {
    // BEGIN ATOMIC / RETURN bodies arrive parsed: a List of one List of statements, or a ReturnStmt.
    for (const stmt of flattenBody(b.sql_body)) res.nested.push(api.analyzeNode(stmt, text, o, d + 1));
    return res;
  }
  const lang = (language ?? (tag === 'DoStmt' ? 'plpgsql' : 'sql')).toLowerCase();
  res.language = lang;
  if (lang === 'sql') {
    if (body !== null) res.nested.push(...api.analyzeText(body, o, d + 1));
    return res;
  }
  if (lang !== 'plpgsql' || body === null) {
    // plpython3u, plperl, c, internal ...: code we cannot read.
    res.opaque = true;
    res.reason = `a body in LANGUAGE ${lang} cannot be analyzed`;
    return res;
  }
  const src = tag === 'DoStmt' ? wrapDo(body) : text;
  let tree: Json;
  try {
    tree = api.parsePlpgsql(src);
  } catch (e) {
    if ((e as { code?: string }).code === 'SQL_PARSER_TRAP') throw e;
    res.opaque = true;
    res.reason = 'the plpgsql body does not parse';
    res.nested.push(...unparsable(src, e));
    return res;
  }
  walkPl(tree, o, d + 1, api, res);
  if (res.opaque) res.reason ??= 'plpgsql EXECUTE runs SQL built at run time';
  return res;
}

/** DO has no function around its body; plpgsql's parser wants one. */
function wrapDo(body: string): string {
  let tag = '$verdict$';
  for (let i = 1; body.includes(tag); i++) tag = `$verdict${i}$`;
  return `CREATE FUNCTION verdict_do() RETURNS void LANGUAGE plpgsql AS ${tag}${body}${tag}`;
}

function unparsable(text: string, e: unknown): StatementAnalysis[] {
  return [unknownStatement(text, messageOf(e))];
}

function walkPl(n: Json, o: WalkOptions, d: number, api: BodyApi, res: BodyResult): void {
  if (d > o.maxDepth * 4) return;
  if (Array.isArray(n)) {
    for (const x of n) if (x && typeof x === 'object') walkPl(x, o, d, api, res);
    return;
  }
  for (const k in n) {
    const v = n[k];
    if (!v || typeof v !== 'object') continue;
    if (k === 'PLpgSQL_expr') {
      plExpr(v, o, d, api, res);
      continue;
    }
    // EXECUTE, FOR ... IN EXECUTE, OPEN ... FOR EXECUTE, RETURN QUERY EXECUTE: text known only at run time.
    if (k === 'PLpgSQL_stmt_dynexecute' || k === 'PLpgSQL_stmt_dynfors' || k === 'dynquery') {
      res.opaque = true;
      res.reason ??= 'plpgsql EXECUTE runs SQL built at run time';
    }
    walkPl(v, o, d + 1, api, res);
  }
}

function plExpr(e: Json, o: WalkOptions, d: number, api: BodyApi, res: BodyResult): void {
  const q = e.query as string | undefined;
  if (!q) return;
  const mode = (e.parseMode as number | undefined) ?? RAW_PARSE_DEFAULT;
  let sql: string;
  if (mode === RAW_PARSE_DEFAULT) sql = q;
  else if (mode === RAW_PARSE_TYPE_NAME) return;
  else if (mode === RAW_PARSE_PLPGSQL_EXPR) sql = 'SELECT ' + q;
  else {
    // Assignment `target := expr` (or `target = expr`): the value side is what runs.
    const i = q.indexOf(':=');
    const j = i >= 0 ? i + 2 : q.indexOf('=') + 1;
    sql = 'SELECT ' + q.slice(j);
  }
  const found = api.analyzeText(sql, o, d);
  for (const a of found) {
    if (a.kind !== 'unknown') continue;
    res.opaque = true;
    res.reason ??= 'a statement in the plpgsql body cannot be analyzed';
  }
  res.nested.push(...found);
}
