// Turns SQL text into the `statement` facts of the policy input (one StatementAnalysis per
// statement), using PostgreSQL's own grammar (libpg-query, WASM). Fails closed: bad SQL → 'unknown'.
import { absorb, accesses, dedupe } from '../facts.ts';
import { createRequire } from 'node:module';
import { EngineError, messageOf } from '../../errors.ts';
import { rename } from '../lineage.ts';
import { unknownStatement } from '../dialect.ts';
import type { AnalyzeOptions, ColumnRef, StatementAnalysis, StatementKind } from '../types.ts';
import { classify, strList, tagOf, type Json } from './names.ts';
import { bodyAnalyses } from './plpgsql.ts';
import { parameterUses } from './parameters.ts';
import { DepthError, type BodyFacts, type WalkOptions } from './walk/scope.ts';
import { Walker } from './walk/walker.ts';

interface ParserInstance {
  parseSync(sql: string): Json;
  parsePlPgSQLSync(sql: string): Json;
  scanSync(sql: string): { tokens: { start: number; end: number; text: string; tokenName: string; keywordName: string }[] };
}

const require = createRequire(import.meta.url);
const entry = require.resolve('libpg-query');

/**
 * A WASM stack overflow (very deep input) unwinds past the C code's cleanup and leaves the
 * instance's stack pointer and memory contexts corrupt: after a few such traps every call fails
 * with "memory access out of bounds". So a trapped instance is thrown away and a spare, loaded in
 * advance, takes over synchronously; a new spare loads in the background.
 */
let current: ParserInstance | null = null;
let spare: ParserInstance | null = null;
let pending: Promise<void> | null = null;

async function freshInstance(): Promise<ParserInstance> {
  // A private copy of the module: its instance is ours alone, whatever else imports libpg-query.
  delete require.cache[entry];
  const mod = require(entry) as ParserInstance & { loadModule(): Promise<void> };
  delete require.cache[entry];
  await mod.loadModule();
  return mod;
}

function refillSpare(): Promise<void> {
  pending ??= freshInstance().then(
    (p) => {
      if (!current) current = p;
      else spare = p;
      pending = null;
    },
    () => {
      pending = null;
    },
  );
  return pending;
}

/**
 * Loads the PostgreSQL parser (WASM) once; later calls are cheap. Await it before analyzeSql.
 * @example await loadParser(); analyzeSql('SELECT 1');
 */
export async function loadParser(): Promise<void> {
  if (!current) current = await freshInstance();
  if (!spare) await refillSpare();
  if (pending) await pending;
}

class ParserTrap extends Error {
  readonly code = 'SQL_PARSER_TRAP';
}

function isTrap(e: unknown): boolean {
  const name = (e as { name?: string } | null)?.name;
  return e instanceof RangeError || name === 'RuntimeError' || /^Aborted\(/.test(String((e as Error)?.message));
}

/** Runs one parser call; a trap retires the instance and surfaces as ParserTrap. */
function guarded<T>(f: (p: ParserInstance) => T): T {
  const p = current;
  if (!p) throw new EngineError('PARSER_NOT_LOADED', 'SQL parser not loaded: await loadParser() before parsing');
  try {
    return f(p);
  } catch (e) {
    if (!isTrap(e)) throw e;
    current = spare;
    spare = null;
    void refillSpare();
    throw new ParserTrap(String((e as Error).message));
  }
}

export interface ParserHooks {
  parse(sql: string): Json;
  parsePlpgsql(sql: string): Json;
}

const hooks: ParserHooks = {
  parse: (sql) => guarded((p) => p.parseSync(sql)),
  parsePlpgsql: (sql) => guarded((p) => p.parsePlPgSQLSync(sql)),
};

// ---- public API --------------------------------------------------------------------------------

/**
 * PostgreSQL's raw parse tree of `sql` (libpg-query's JSON: `{ stmts: [{ stmt, stmt_location, stmt_len }] }`).
 * Throws the parser's error for bad SQL, and EngineError PARSER_NOT_LOADED when loadParser() was not awaited.
 */
export function parseTree(sql: string): Json {
  return hooks.parse(sql);
}

/**
 * Splits `sql` into statements and extracts each one's policy facts. Never throws for bad SQL
 * (it becomes one 'unknown' analysis with parse_error); throws only if loadParser() was not awaited.
 * @example analyzeSql('DELETE FROM t WHERE 1=1')[0].where_is_trivial === true
 */
export function analyzeSql(sql: string, options: AnalyzeOptions = {}): StatementAnalysis[] {
  if (!current && !spare) {
    if (pending) return [unknownStatement(sql, 'SQL parser is reloading after an internal failure')];
    throw new EngineError('PARSER_NOT_LOADED', 'SQL parser not loaded: await loadParser() before analyzeSql()');
  }
  if (!current) {
    current = spare;
    spare = null;
  }
  const o: WalkOptions = {
    catalog: options.catalog,
    searchPath: options.searchPath && options.searchPath.length ? options.searchPath : ['public'],
    maxDepth: options.maxDepth ?? 200,
    maxStatements: options.maxStatements ?? 1000,
    parse: hooks.parse,
    analyzeBody: procedureBody,
  };
  return analyzeText(sql, o, 0);
}

/** Analyses of a SQL string at nesting depth `d` (0 at top level, deeper inside DO / function bodies). */
export function analyzeText(sql: string, o: WalkOptions, d: number): StatementAnalysis[] {
  if (!/\S/.test(sql)) return [];
  // Cheap guard before the parser: deep parentheses are what overflow its stack.
  if (parenDepth(sql) > o.maxDepth || d > o.maxDepth) return [unknownStatement(sql, new DepthError(o.maxDepth).message)];
  let tree: Json;
  try {
    tree = hooks.parse(sql);
  } catch (e) {
    if (e instanceof ParserTrap) return [unknownStatement(sql, new DepthError(o.maxDepth).message)];
    return [unknownStatement(sql, messageOf(e))];
  }
  const stmts = (tree.stmts ?? []) as Json[];
  if (stmts.length > (o.maxStatements ?? 1000)) {
    return [unknownStatement(sql.slice(0, 200), `the string holds ${stmts.length} statements; the limit is ${o.maxStatements ?? 1000} — send them in smaller batches`)];
  }
  const ascii = !/[^\x00-\x7f]/.test(sql);
  const buf = ascii ? null : Buffer.from(sql, 'utf8');
  const out: StatementAnalysis[] = [];
  try {
    // Each statement's text runs from the end of the previous one, so leading comments stay with it
    // (PostgreSQL 18's stmt_location skips them; a policy may read one, e.g. a break-glass reason).
    let prevEnd = 0;
    for (const s of stmts) {
      const start = (s.stmt_location as number | undefined) ?? 0;
      const len = (s.stmt_len as number | undefined) ?? 0;
      const end = len ? start + len : ascii ? sql.length : (buf as Buffer).length;
      const from = Math.min(prevEnd, start);
      const raw = ascii ? sql.slice(from, end) : (buf as Buffer).toString('utf8', from, end);
      prevEnd = end;
      const a = analyzeStatement(s.stmt, cleanText(raw), o, d);
      if (d === 0) a.parameters = raw.includes('$') ? parameterUses(s.stmt, a) : [];
      out.push(a);
    }
  } catch (e) {
    if (e instanceof DepthError || e instanceof RangeError || e instanceof ParserTrap) {
      return [unknownStatement(sql, new DepthError(o.maxDepth).message)];
    }
    throw e;
  }
  return out;
}

function cleanText(raw: string): string {
  let t = raw.trim();
  while (t.startsWith(';')) t = t.slice(1).trimStart(); // the previous statement's terminator
  while (t.endsWith(';')) t = t.slice(0, -1).trimEnd();
  return t;
}

/** Deepest ( / [ nesting outside literals and comments. */
function parenDepth(sql: string): number {
  let depth = 0;
  let max = 0;
  const n = sql.length;
  for (let i = 0; i < n; i++) {
    const c = sql.charCodeAt(i);
    if (c === 40 || c === 91) {
      if (++depth > max) max = depth;
    } else if (c === 41 || c === 93) {
      if (depth > 0) depth--;
    } else if (c === 39 || c === 34) {
      // '...' / "..." (doubled quote = escape; backslash escapes only matter for E'', skipped safely)
      const q = c;
      i++;
      while (i < n) {
        const x = sql.charCodeAt(i);
        if (x === 92 && q === 39) i++;
        else if (x === q) {
          if (sql.charCodeAt(i + 1) === q) i++;
          else break;
        }
        i++;
      }
    } else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      while (i < n && sql.charCodeAt(i) !== 10) i++;
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let nest = 1;
      i += 2;
      while (i < n && nest > 0) {
        if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) {
          nest++;
          i++;
        } else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) {
          nest--;
          i++;
        }
        i++;
      }
      i--;
    } else if (c === 36) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (m) {
        const close = sql.indexOf(m[0], i + m[0].length);
        if (close < 0) break;
        i = close + m[0].length - 1;
      }
    }
  }
  return max;
}

// ---- one statement ---------------------------------------------------------------------------

function analyzeStatement(node: Json, text: string, o: WalkOptions, d: number): StatementAnalysis {
  const tag = tagOf(node);
  const b = node[tag];
  const [kind, command] = classify(tag, b);
  const w = new Walker(o);
  const f = w.facts;
  let result_columns: StatementAnalysis['result_columns'] = [];
  let copy: StatementAnalysis['copy'] = null;
  const nested: StatementAnalysis[] = [];

  switch (tag) {
    case 'SelectStmt':
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt': {
      const outs = w.query(node, null, d, true);
      const into = tag === 'SelectStmt' ? b.intoClause : null;
      // SELECT INTO sends no rows, but its result columns say what the new table holds.
      result_columns = into ? rename(outs, strList(into.colNames)) : outs;
      if (into) {
        const t = w.rangeVarName(into.rel);
        f.createsTable = true;
        f.write(t.schema, t.table, result_columns.map((c) => c.name));
      }
      break;
    }
    case 'CreateTableAsStmt': {
      // The lineage of what lands in the new table (or view) is carried forward as result columns.
      result_columns = rename(w.query(b.query, null, d, false, true), strList(b.into.colNames));
      // CREATE TABLE t AS EXECUTE p: what lands in t is what p returns, known only to the session (its PREPARE).
      if (tagOf(b.query) === 'ExecuteStmt') nested.push(analyzeStatement(b.query, text, o, d + 1));
      const t = w.rangeVarName(b.into.rel);
      f.createsTable = true;
      f.write(t.schema, t.table, result_columns.map((c) => c.name));
      break;
    }
    case 'ViewStmt': {
      result_columns = rename(w.query(b.query, null, d, false, true), strList(b.aliases));
      const t = w.rangeVarName(b.view);
      f.write(t.schema, t.table, result_columns.map((c) => c.name));
      if (b.options) w.generic(b.options, null, d);
      break;
    }
    case 'CopyStmt': {
      const from = !!b.is_from;
      const target = b.is_program ? 'program' : b.filename !== undefined ? 'file' : from ? 'stdin' : 'stdout';
      if (target === 'file' || target === 'program') f.litDep = true;
      let table: { schema: string; table: string } | null = null;
      if (b.relation) {
        table = w.rangeVarName(b.relation);
        const cols = b.attlist ? strList(b.attlist) : ['*'];
        if (from) f.write(table.schema, table.table, cols);
        else {
          // COPY t TO: the rows leave the server like a SELECT's would.
          const sel = { SelectStmt: { targetList: colTargets(b.attlist), fromClause: [{ RangeVar: b.relation }], op: 'SETOP_NONE' } };
          result_columns = w.query(sel, null, d, false, true);
        }
      } else if (b.query) {
        result_columns = w.query(b.query, null, d, false, true);
      }
      if (b.whereClause) w.generic(b.whereClause, null, d);
      if (b.options) w.generic(b.options, null, d);
      copy = { direction: from ? 'from' : 'to', target, table };
      break;
    }
    case 'ExplainStmt':
    case 'PrepareStmt':
    case 'DeclareCursorStmt': {
      const inner = tag === 'PrepareStmt' ? b.query : b.query;
      const a = analyzeStatement(inner, innerText(tag, text), o, d + 1);
      nested.push(a);
      // Rows come back later (EXECUTE / FETCH) with the inner query's lineage. EXPLAIN's one column is the
      // plan's text: no table value flows into it (ANALYZE and VERBOSE are for the policy to judge).
      if (tag !== 'ExplainStmt') result_columns = a.result_columns;
      else result_columns = [{ name: 'QUERY PLAN', sources: [], derived: true }];
      if (b.options && tag === 'ExplainStmt') w.generic(b.options, null, d);
      if (b.argtypes) w.generic(b.argtypes, null, d);
      break;
    }
    case 'DoStmt':
    case 'CreateFunctionStmt': {
      f.litDep = true;
      const body = bodyAnalyses(tag, b, text, o, d, { analyzeText, analyzeNode: analyzeStatement, parsePlpgsql: hooks.parsePlpgsql });
      nested.push(...body.nested);
      if (body.opaque) {
        f.opaque = true;
        f.unresolve(`dynamic_sql: ${body.reason ?? 'the body runs SQL that cannot be known before it runs'}`, undefined);
      }
      if (tag === 'CreateFunctionStmt') {
        // Defaults and parameter types may call functions; the body was handled above.
        w.generic(b.parameters, null, d);
        w.generic(b.returnType, null, d);
        // The new routine is a new way to read what its body reads: name it, and carry that lineage.
        const names = strList(b.funcname);
        const fname = names[names.length - 1] ?? '';
        f.write(names.length > 1 ? (names[names.length - 2] as string) : (o.searchPath[0] ?? 'public'), fname, []);
        result_columns = [{ name: fname, sources: routineSources(body.nested, body.language !== 'sql'), derived: true }];
      }
      break;
    }
    case 'ReturnStmt': {
      const sel = { SelectStmt: { targetList: [{ ResTarget: { val: b.returnval } }], op: 'SETOP_NONE' } };
      result_columns = w.query(sel, null, d, false, true);
      break;
    }
    case 'CallStmt':
      w.generic(node, null, d);
      // A procedure's OUT parameters come back as a row; its body is visible only through the catalog.
      if (b.funccall) w.call(b.funccall, d);
      break;
    case 'DropStmt':
    case 'CommentStmt': {
      const tableish = TABLE_OBJECTS.has((tag === 'DropStmt' ? b.removeType : b.objtype) as string);
      if (tableish) {
        const objs = tag === 'DropStmt' ? (b.objects as Json[]) : [b.object];
        for (const ob of objs) {
          const items = ob?.List?.items as Json[] | undefined;
          // COMMENT ON COLUMN t.c names the column last.
          const names = items && tag === 'CommentStmt' && b.objtype === 'OBJECT_COLUMN' ? items.slice(0, -1) : items;
          const t = names ? w.nameList(names) : null;
          if (t) f.write(t.schema, t.table, ['*']);
        }
      }
      w.generic(node, null, d);
      break;
    }
    case 'CreateTrigStmt':
    case 'CreateEventTrigStmt':
      // The trigger function runs on later statements; name it so policies can see it.
      f.functions.add(strList(b.funcname).join('.'));
      w.generic(node, null, d);
      break;
    case 'TransactionStmt':
    case 'VariableShowStmt':
    case 'CheckPointStmt':
    case 'DiscardStmt':
    case 'ClosePortalStmt':
    case 'DeallocateStmt':
    case 'ListenStmt':
    case 'UnlistenStmt':
    case 'FetchStmt':
      w.generic(node, null, d);
      break;
    case 'VariableSetStmt':
      if (b.args) f.litDep = true;
      w.generic(node, null, d);
      break;
    case 'ExecuteStmt':
      if (b.params) w.generic(b.params, null, d);
      break;
    default:
      w.generic(node, null, d);
  }

  // Data-modifying CTEs (top level only, as PostgreSQL requires) are statements of their own:
  // a policy judges `WITH d AS (DELETE FROM t) SELECT ...` by the DELETE's own WHERE.
  for (const c of (b?.withClause?.ctes ?? []) as Json[]) {
    const q = c.CommonTableExpr?.ctequery;
    if (q && tagOf(q) !== 'SelectStmt') nested.push(analyzeStatement(q, text, o, d + 1));
  }
  for (const n of nested) absorb(w.facts, n);
  // Flattened: every statement at any depth sits in the top statement's `nested`, so a policy
  // reads them with one iteration instead of walking the whole input (walk() is slow in WASM).
  const flat = nested.flatMap((n) => {
    const inner = n.nested;
    n.nested = [];
    return [n, ...inner];
  });
  const out = finish(text, kind, command, w, result_columns, copy, flat);
  if (tag === 'VariableSetStmt' || tag === 'VariableShowStmt') out.setting = settingName(b);
  if (tag === 'VariableSetStmt') out.setting_value = settingValue(b);
  if (tag === 'ExplainStmt') out.explain_options = explainOptions(b);
  if (tag === 'InsertStmt' && b.onConflictClause) out.on_conflict = b.onConflictClause.action === 'ONCONFLICT_UPDATE' ? 'update' : 'nothing';
  out.name = objectName(tag, b);
  return out;
}

const TABLE_OBJECTS = new Set(['OBJECT_TABLE', 'OBJECT_VIEW', 'OBJECT_MATVIEW', 'OBJECT_FOREIGN_TABLE', 'OBJECT_SEQUENCE', 'OBJECT_INDEX', 'OBJECT_COLUMN']);

function colTargets(attlist: Json[] | undefined): Json[] {
  if (!attlist) return [{ ResTarget: { val: { ColumnRef: { fields: [{ A_Star: {} }] } } } }];
  return attlist.map((a: Json) => ({ ResTarget: { val: { ColumnRef: { fields: [a] } } } }));
}

/**
 * What a new routine can return: every result column of its body's statements; for procedural
 * bodies also every column they read (control flow can turn any of them into the return value).
 */
function routineSources(nested: StatementAnalysis[], procedural: boolean): ColumnRef[] {
  const src: ColumnRef[] = [];
  const visit = (list: StatementAnalysis[]): void => {
    for (const n of list) {
      for (const rc of n.result_columns) src.push(...rc.sources);
      if (procedural) {
        for (const r of n.reads) {
          if (r.columns.length === 0) src.push({ schema: r.schema, table: r.table, column: '*' });
          for (const c of r.columns) src.push({ schema: r.schema, table: r.table, column: c });
        }
      }
      visit(n.nested);
    }
  };
  visit(nested);
  return dedupe(src);
}

/** plpgsql (or other procedural) body of a catalog function, analyzed as its CREATE FUNCTION would be. */
function procedureBody(language: string, body: string, o: WalkOptions, d: number, returnsSet: boolean): BodyFacts {
  let tag = '$verdict$';
  for (let i = 1; body.includes(tag); i++) tag = `$verdict${i}$`;
  // plpgsql checks RETURN against the return type, which the catalog entry does not give: take the
  // first declaration its parser accepts (a body no declaration fits is reported opaque).
  const make = (ret: string): string => `CREATE FUNCTION verdict_body() RETURNS ${ret} LANGUAGE ${language} AS ${tag}${body}${tag}`;
  const kinds = returnsSet ? ['SETOF record'] : ['text', 'void', 'SETOF record'];
  let text = make(kinds[0] as string);
  for (const k of kinds) {
    try {
      hooks.parsePlpgsql(make(k));
      text = make(k);
      break;
    } catch (e) {
      if (e instanceof ParserTrap) throw e;
    }
  }
  const b = {
    options: [
      { DefElem: { defname: 'language', arg: { String: { sval: language } } } },
      { DefElem: { defname: 'as', arg: { List: { items: [{ String: { sval: body } }] } } } },
    ],
  };
  const r = bodyAnalyses('CreateFunctionStmt', b, text, o, d, { analyzeText, analyzeNode: analyzeStatement, parsePlpgsql: hooks.parsePlpgsql });
  return { nested: r.nested, opaque: r.opaque };
}

function finish(
  text: string,
  kind: StatementKind,
  command: string,
  w: Walker,
  result_columns: StatementAnalysis['result_columns'],
  copy: StatementAnalysis['copy'],
  nested: StatementAnalysis[],
): StatementAnalysis {
  const f = w.facts;
  let has_where = w.where.has;
  let where_is_trivial = w.where.trivial;
  // A data-modifying CTE that UPDATEs/DELETEs everything is as dangerous as the statement doing it.
  if (f.cteWhereMissing) has_where = false;
  if (f.cteWhereTrivial) where_is_trivial = true;
  return {
    text,
    kind,
    command,
    reads: accesses(f.reads),
    writes: accesses(f.writes),
    has_where,
    where_is_trivial,
    functions: [...f.functions],
    predicates_on: [...f.preds.values()],
    result_columns,
    unresolved: [...f.unresolved.values()],
    data_modifying_cte: f.dataModifyingCte,
    creates_table_from_query: f.createsTable,
    copy,
    setting: null,
    setting_value: null,
    explain_options: null,
    on_conflict: null,
    name: null,
    nested,
    opaque: f.opaque,
    parse_error: null,
    literal_dependent: f.litDep,
  };
}

/** The statement inside EXPLAIN / PREPARE / DECLARE, found with the scanner (options may nest). */
function innerText(tag: string, text: string): string {
  let toks;
  try {
    toks = guarded((p) => p.scanSync(text)).tokens;
  } catch {
    return text;
  }
  const ascii = !/[^\x00-\x7f]/.test(text);
  const at = (byte: number): string => (ascii ? text.slice(byte) : Buffer.from(text, 'utf8').subarray(byte).toString('utf8'));
  let depth = 0;
  for (let i = 1; i < toks.length; i++) {
    const t = toks[i];
    if (!t) break;
    if (t.text === '(') depth++;
    else if (t.text === ')') depth--;
    if (depth !== 0 || t.text === ')' || t.text === '(') continue;
    const kw = t.text.toUpperCase();
    if (tag === 'ExplainStmt') {
      if (kw === 'ANALYZE' || kw === 'ANALYSE' || kw === 'VERBOSE') continue;
      return cleanText(at(t.start));
    }
    if (tag === 'PrepareStmt' && kw === 'AS') return cleanText(at(toks[i + 1]?.start ?? t.end));
    if (tag === 'DeclareCursorStmt' && kw === 'FOR') return cleanText(at(toks[i + 1]?.start ?? t.end));
  }
  return text;
}

/** The run-time parameter a SET / RESET / SHOW names, lower-case; '*' for RESET ALL / SHOW ALL. */
function settingName(b: Json): string {
  if (b.kind === 'VAR_RESET_ALL') return '*';
  const name = typeof b.name === 'string' ? b.name.toLowerCase() : '*';
  return name === 'all' ? '*' : name;
}

/** EXPLAIN's options that are on: `ANALYZE`, `(ANALYZE true, FORMAT JSON)`; `(VERBOSE off)` is not. */
function explainOptions(b: Json): string[] {
  const on: string[] = [];
  for (const o of (b.options ?? []) as Json[]) {
    const d = o.DefElem;
    if (!d || typeof d.defname !== 'string') continue;
    const v = d.arg?.Boolean ? (d.arg.Boolean.boolval ?? false) : (d.arg?.String?.sval ?? d.arg?.Integer?.ival);
    if (v === undefined || !['false', 'off', 'no', '0', false, 0].includes(typeof v === 'string' ? v.toLowerCase() : v)) on.push(d.defname.toLowerCase());
  }
  return on;
}

/** The value a SET gives its parameter, as written (see StatementAnalysis.setting_value). */
function settingValue(b: Json): string | null {
  switch (b.kind) {
    case 'VAR_SET_VALUE': {
      const parts = ((b.args ?? []) as Json[]).map((a: Json) => {
        const c = a.A_Const ?? a.TypeCast?.arg?.A_Const;
        if (!c) return '?';
        if (c.sval) return String(c.sval.sval ?? '');
        if (c.ival) return String(c.ival.ival ?? 0);
        if (c.fval) return String(c.fval.fval ?? '');
        if (c.boolval) return c.boolval.boolval ? 'on' : 'off';
        return '?';
      });
      return parts.join(',');
    }
    case 'VAR_SET_DEFAULT':
    case 'VAR_RESET':
    case 'VAR_RESET_ALL':
      return 'DEFAULT';
    case 'VAR_SET_CURRENT':
      return 'FROM CURRENT';
    default:
      return null; // SET TRANSACTION ... (VAR_SET_MULTI)
  }
}

/** The cursor or prepared statement a statement names ('*' for CLOSE ALL / DEALLOCATE ALL), else null. */
function objectName(tag: string, b: Json): string | null {
  switch (tag) {
    case 'DeclareCursorStmt':
    case 'FetchStmt':
      return typeof b.portalname === 'string' ? b.portalname : null;
    case 'ClosePortalStmt':
      return typeof b.portalname === 'string' ? b.portalname : '*';
    case 'PrepareStmt':
    case 'ExecuteStmt':
      return typeof b.name === 'string' ? b.name : null;
    case 'DeallocateStmt':
      return b.isall ? '*' : typeof b.name === 'string' ? b.name : null;
    default:
      return null;
  }
}
