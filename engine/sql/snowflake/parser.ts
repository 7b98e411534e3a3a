// Snowflake's grammar: @polyglot-sql/sdk (sqlglot's dialects ported to Rust, WASM), imported on first load()
// only, so a PostgreSQL gateway never instantiates it (22 MB of WASM; importing it also wraps fetch()).
import { EngineError, messageOf } from '../../errors.ts';
import type * as Polyglot from '@polyglot-sql/sdk';

// polyglot's AST is JSON with one key per node ({ select: {...} }); typed loosely, as the PostgreSQL walker's.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** One lexer token; start / end are UTF-16 offsets into the string that was tokenized. */
export interface Token {
  type: string;
  text: string;
  start: number;
  end: number;
}

let sdk: typeof Polyglot | null = null;
let loading: Promise<void> | null = null;

/**
 * Loads the Snowflake parser once; later calls are cheap. Await it before tokenize() / parse().
 * @example await loadParser(); parse('SELECT 1');
 */
export function loadParser(): Promise<void> {
  loading ??= import('@polyglot-sql/sdk').then(
    (m) => {
      sdk = m;
    },
    (e: unknown) => {
      loading = null;
      throw e;
    },
  );
  return loading;
}

function ready(): typeof Polyglot {
  if (!sdk) throw new EngineError('PARSER_NOT_LOADED', 'Snowflake parser not loaded: await loadParser() first');
  return sdk;
}

/** The tokens of `sql` as Snowflake's lexer reads them (comments are not tokens), or the lexer's error. */
export function tokenize(sql: string): { tokens: Token[] } | { error: string } {
  let r: Polyglot.TokenizeResult;
  try {
    r = ready().tokenize(sql, ready().Dialect.Snowflake);
  } catch (e) {
    if (e instanceof EngineError) throw e; // not loaded: a programming error, not bad SQL
    return { error: `the Snowflake lexer failed: ${messageOf(e)}` };
  }
  if (!r.success || !r.tokens) return { error: r.error ?? 'the Snowflake lexer rejected the text' };
  const at = offsets(sql);
  return {
    tokens: r.tokens.map((t) => {
      // The runtime spells the fields in snake_case, whatever the .d.ts says.
      const raw = t as unknown as { token_type?: string; tokenType?: string };
      return { type: raw.token_type ?? raw.tokenType ?? '', text: t.text, start: at(t.span.start), end: at(t.span.end) };
    }),
  };
}

/** The statements polyglot parses `sql` into, or its error (a parse failure: the statement is denied). */
export function parse(sql: string): { ast: Json[] } | { error: string } {
  try {
    const r = ready().parse(sql, ready().Dialect.Snowflake);
    if (!r.success) return { error: r.error ?? 'Snowflake grammar rejects the statement' };
    return { ast: r.ast as Json[] };
  } catch (e) {
    if (e instanceof EngineError) throw e; // not loaded: a programming error, not bad SQL
    return { error: `the Snowflake parser failed: ${messageOf(e)}` };
  }
}

/** Snowflake SQL for polyglot statements (as parse() returns them), or the generator's error. */
export function generate(ast: Json[]): { sql: string } | { error: string } {
  try {
    const r = ready().generate(ast, ready().Dialect.Snowflake);
    if (!r.success || !r.sql || r.sql.length !== 1) return { error: r.error ?? 'polyglot could not write the statement' };
    return { sql: r.sql[0]! };
  } catch (e) {
    if (e instanceof EngineError) throw e; // not loaded: a programming error, not bad SQL
    return { error: `the Snowflake generator failed: ${messageOf(e)}` };
  }
}

/**
 * polyglot counts offsets in Unicode scalar values; JavaScript strings index UTF-16 code units. The
 * two differ only after a character outside the BMP (a surrogate pair), so ASCII-like text maps 1:1.
 */
function offsets(sql: string): (scalar: number) => number {
  if (!/[\uD800-\uDBFF]/.test(sql)) return (n) => n;
  const map: number[] = [];
  for (let i = 0; i < sql.length; i++) {
    map.push(i);
    const c = sql.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < sql.length) i++;
  }
  map.push(sql.length);
  return (n) => map[n] ?? sql.length;
}
