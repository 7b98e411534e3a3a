// Snowflake statement fingerprints and statement splitting, both read off polyglot's own lexer.
//
// The fingerprint is the token sequence with literals replaced by `?`, so equal fingerprints mean the parser
// sees the same tokens up to literal values (a lexer of our own could disagree with it, and that is how a
// cached decision would be reused for a statement it does not fit).
//
// NOTE for callers: equal fingerprints do NOT mean equal policy facts. A literal's value can change a
// decision (WHERE 1=1, COPY locations, IDENTIFIER('t'), EXECUTE IMMEDIATE '...'): reuse a decision only
// when its analysis had literal_dependent = false.
import { tokenize, type Token } from './parser.ts';

/** Inputs longer than this (UTF-16 code units) are not fingerprinted: bounds the work per statement. */
const MAX_INPUT = 64 * 1024;

/** A statement of a SQL string: its text (leading comments kept, terminator dropped) and its tokens. */
export interface Piece {
  text: string;
  /** Where `text` starts in the string (token offsets count from there too). */
  offset: number;
  tokens: Token[];
}

export interface Scanned {
  fingerprint: string | null;
  pieces: Piece[];
}

// Keywords that end an ORDER BY / GROUP BY list at the same depth: positional meaning ends there.
const LIST_END = new Set(['LIMIT', 'OFFSET', 'FETCH', 'HAVING', 'QUALIFY', 'WINDOW', 'UNION', 'INTERSECT', 'EXCEPT', 'ORDER', 'FROM', 'WHERE']);

let last: { sql: string; scanned: Scanned | { error: string } } | null = null;

/**
 * Splits `sql` into statements at top-level semicolons and computes its fingerprint, in one pass of the
 * lexer (the engine asks for the fingerprint, then the analysis, of the same string: the last is memoized).
 * @example scan("SELECT a FROM t WHERE b = 'x'").fingerprint === 'SELECT A FROM T WHERE B = ?'
 */
export function scan(sql: string): Scanned | { error: string } {
  if (last && last.sql === sql) return last.scanned;
  const t = tokenize(sql);
  const scanned = 'error' in t ? t : { fingerprint: sql.length > MAX_INPUT ? null : normalize(t.tokens), pieces: split(sql, t.tokens) };
  last = { sql, scanned };
  return scanned;
}

/**
 * The decision-cache key of a Snowflake SQL string: its tokens, identifiers folded as Snowflake folds
 * them, literals replaced; null when the lexer rejects the text (then nothing is cached).
 * @example fingerprint("select ssn from patients where id = 7") === fingerprint('SELECT SSN FROM PATIENTS WHERE ID = 8')
 */
export function fingerprint(sql: string): string | null {
  const s = scan(sql);
  return 'error' in s ? null : s.fingerprint;
}

function normalize(tokens: Token[]): string {
  const out: string[] = [];
  let depth = 0;
  // Bit d set: tokens at parenthesis depth d are in an ORDER BY / GROUP BY list, where an integer names an
  // output column by position (ORDER BY 2 reads another column than ORDER BY 1): those stay verbatim.
  let positional = 0;
  let prev = '';
  for (const t of tokens) {
    const type = t.type;
    let word: string;
    if (type === 'NUMBER') word = depth < 31 && positional & (1 << depth) ? t.text : '?';
    else if (type === 'STRING' || type === 'DOLLAR_STRING') word = '?';
    // X'..', N'..', B'..', R'..': typed literals, kept apart from plain strings.
    else if (type.endsWith('_STRING')) word = `?${type}`;
    else if (type === 'QUOTED_IDENTIFIER') word = `"${t.text.replace(/"/g, '""')}"`;
    // A bind placeholder is not a literal: `?` and `$1` must not read as one.
    else if (type === 'PARAMETER') word = t.text === '?' ? '$?' : `$${t.text}`;
    else word = t.text.toUpperCase();
    if (type === 'L_PAREN') depth++;
    else if (type === 'R_PAREN') {
      if (depth < 31) positional &= ~(1 << depth);
      depth = Math.max(0, depth - 1);
    } else if (word === 'BY' && (prev === 'ORDER' || prev === 'GROUP')) {
      if (depth < 31) positional |= 1 << depth;
    } else if (LIST_END.has(word) || type === 'SEMICOLON') {
      if (depth < 31) positional &= ~(1 << depth);
    }
    // Parentheses opened inside a positional list inherit it (GROUP BY CUBE (1, 2)); keeping a few more
    // numbers verbatim only shares less, never wrongly.
    if (type === 'L_PAREN' && depth < 31 && positional & (1 << (depth - 1))) positional |= 1 << depth;
    out.push(word);
    prev = word;
  }
  return out.join(' ');
}

function split(sql: string, tokens: Token[]): Piece[] {
  const pieces: Piece[] = [];
  let from = 0;
  let run: Token[] = [];
  const close = (end: number): void => {
    // The text runs from the previous terminator, so leading comments stay with their statement (a policy
    // may read one, e.g. a break-glass reason).
    if (!run.length) return;
    const raw = sql.slice(from, end);
    const lead = raw.length - raw.trimStart().length;
    pieces.push({ text: raw.trim(), offset: from + lead, tokens: run });
    run = [];
  };
  for (const t of tokens) {
    if (t.type === 'SEMICOLON') {
      close(t.start);
      from = t.end;
    } else run.push(t);
  }
  close(sql.length);
  return pieces;
}
