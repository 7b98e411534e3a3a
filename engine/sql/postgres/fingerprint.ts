// Statement fingerprint for the decision cache: normalized SQL text with literals replaced by `?`,
// computed by a hand-rolled single-pass lexer so a cache hit never pays for the WASM parser.
//
// Two kinds of integer stay verbatim because their value is structure, not data: the precision in
// float(p) and positional references such as ORDER BY 2 / GROUP BY 1 / DISTINCT ON (1).
//
// Contract: if fingerprint(a) === fingerprint(b) !== null, PostgreSQL (18's scan.l, mirrored below)
// lexes a and b into the same token sequence except for the values of literal tokens, so they parse
// to the same tree modulo constant values. Whenever this lexer could disagree with PostgreSQL (or
// PostgreSQL versions disagree with each other) it returns null and the caller skips the cache.
//
// NOTE for callers: equal fingerprints do NOT mean equal policy facts. A literal's value can change
// a decision (WHERE 1=1 vs 1=2, COPY file names, SET values, DO / function bodies, which are dollar-
// quoted literals here). Only reuse a cached decision whose analysis had literal_dependent = false.

/** Inputs longer than this (UTF-16 code units) are not fingerprinted: bounds the work per statement. */
const MAX_INPUT = 64 * 1024;

// ASCII character classes. Anything >= 128 outside literals/comments/quoted identifiers is rejected
// (PostgreSQL treats high bytes as identifier characters; we stay out of encoding questions).
const C_SPACE = 1; // [ \t\n\r\f]: \v is whitespace only since PostgreSQL 16, so it is rejected
const C_IDSTART = 2; // [A-Za-z_]
const C_IDCONT = 4; // [A-Za-z0-9_$]
const C_DIGIT = 8;
const C_OP = 16; // op_chars: ~!@#^&|`?+-*/%<>=
const C_SELF = 32; // single-char tokens that are not op chars: , ( ) [ ] . ; :
const CLASS = new Uint8Array(128);
function mark(chars: string, bits: number): void {
  for (let k = 0; k < chars.length; k++) {
    const c = chars.charCodeAt(k);
    CLASS[c] = CLASS[c]! | bits;
  }
}
mark(' \t\n\r\f', C_SPACE);
mark('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_', C_IDSTART | C_IDCONT);
mark('$', C_IDCONT); // $ continues identifiers (a$b), never starts one
mark('0123456789', C_IDCONT | C_DIGIT);
mark('~!@#^&|`?+-*/%<>=', C_OP);
mark(',()[].;:', C_SELF);

// String literal flavours: they differ in how a backslash and a doubled quote are treated.
const S_STD = 0; // '...' and N'...': backslash meaning depends on standard_conforming_strings -> reject
const S_ESC = 1; // E'...': backslash escapes the next character
const S_UNI = 2; // U&'...': backslash is the Unicode escape char, processed after lexing; harmless
const S_BIT = 3; // B'...' / X'...': no '' doubling at all ([^']*), backslash rejected

const CH_QUOTE = 39;
const CH_DQUOTE = 34;
const CH_DOLLAR = 36;
const CH_BACKSLASH = 92;
const CH_DOT = 46;
const CH_MINUS = 45;
const CH_SLASH = 47;
const CH_STAR = 42;
const CH_LPAREN = 40;
const CH_RPAREN = 41;
const CH_SEMI = 59;
const CH_QMARK = 63;
const CH_UNDERSCORE = 95;
const CH_LF = 10;
const CH_CR = 13;

/** Parenthesis nesting tracked in a 32-bit mask; deeper statements are simply not fingerprinted. */
const MAX_DEPTH = 30;

// Keywords that can follow an ORDER BY / GROUP BY list at the same depth: positional meaning ends.
const LIST_END_WORDS = new Set(['limit', 'offset', 'fetch', 'for', 'having', 'window', 'union', 'intersect', 'except', 'order']);

/** Returns the fingerprint text, or null when the input contains anything the lexer is not sure about (then the caller skips the cache: always safe). */
export function fingerprint(sql: string): string | null {
  const n = sql.length;
  if (n > MAX_INPUT) return null;
  // Literal bodies, comments and quoted identifiers are skipped without a per-character class check,
  // but a NUL anywhere truncates the text for C consumers (libpg-query, the server): never cache it.
  if (sql.indexOf('\0') !== -1) return null;

  let out = '';
  let i = 0;
  // Whitespace or a comment since the previous token: emitted as one space before the next token.
  let sep = false;
  // The previous token was an operator run ending in '-'. PostgreSQL folds "- <number>" into a
  // negative constant but keeps "- <string>" as an operator expression, so after a minus the literal
  // kind is structural and `?` would hide it: a string literal there makes us return null.
  let afterMinus = false;
  // The two previous tokens, as lower-case words or single punctuation characters ('' for others).
  // Two places where PostgreSQL gives an integer literal a structural meaning need them, and the
  // number is then kept verbatim: float(p) picks float4 or float8 from p's value, and a bare integer
  // in ORDER BY / GROUP BY / DISTINCT ON names an output column by position (normalize() keeps
  // those too), so ORDER BY 1 and ORDER BY 2 read different columns.
  let p1 = '';
  let p2 = '';
  let depth = 0; // parenthesis depth, at most MAX_DEPTH
  // Bit d set: the tokens at parenthesis depth d belong to an ORDER BY / GROUP BY / DISTINCT ON
  // list. Parentheses opened inside such a list inherit the bit, because ORDER BY (1) is still
  // positional (and keeping a few more numbers verbatim is merely less sharing, never unsafe).
  let posBits = 0;

  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c >= 128) return null;
    const cls = CLASS[c]!;

    if (cls & C_SPACE) {
      sep = true;
      i++;
      continue;
    }
    if (c === CH_MINUS && sql.charCodeAt(i + 1) === CH_MINUS) {
      i += 2;
      while (i < n) {
        const d = sql.charCodeAt(i);
        if (d === CH_LF || d === CH_CR) break;
        i++;
      }
      sep = true;
      continue;
    }
    if (c === CH_SLASH && sql.charCodeAt(i + 1) === CH_STAR) {
      i = skipBlockComment(sql, i + 2);
      if (i < 0) return null;
      sep = true;
      continue;
    }

    // A token starts here. Each kind sets its spelling in the fingerprint (text), where it ends, the word
    // it leaves for the next tokens to look back at (p1: '' for literals and operators), and whether it is
    // an operator run ending in '-'.
    if (sep) {
      if (out.length !== 0) out += ' ';
      sep = false;
    }
    let text = '';
    let end = i;
    let word = '';
    let minus = false;
    // Where a string literal or quoted identifier opens, past its prefix if any (-1: not one), and the
    // literal's flavour. One-letter prefixes E'', B'', X'', N'' win over the identifier rule (flex longest
    // match: "b'" beats "b"); "U&" followed by anything but a quote is the identifier U and the operator &.
    let open = -1;
    let kind = S_STD;

    if (cls & C_IDSTART) {
      const c1 = sql.charCodeAt(i + 1);
      const lc = c | 0x20;
      if (c1 === CH_QUOTE) {
        if (lc === 101 /* e */) kind = S_ESC;
        else if (lc === 98 /* b */ || lc === 120 /* x */) kind = S_BIT;
        else if (lc === 110 /* n */) kind = S_STD;
        else kind = -1;
        if (kind >= 0) open = i + 1;
      } else if (c1 === 38 /* & */ && lc === 117 /* u */) {
        const c2 = sql.charCodeAt(i + 2);
        if (c2 === CH_QUOTE || c2 === CH_DQUOTE) {
          open = i + 2;
          kind = S_UNI;
        }
      }
      if (open < 0) {
        end = i + 1;
        let upper = c <= 90;
        while (end < n) {
          const d = sql.charCodeAt(end);
          if (d >= 128) return null;
          if (!(CLASS[d]! & C_IDCONT)) break;
          if (d >= 65 && d <= 90) upper = true;
          end++;
        }
        word = sql.slice(i, end);
        if (upper) word = word.toLowerCase();
        // UESCAPE changes how the preceding U& literal or identifier is decoded: not worth modelling.
        if (end - i === 7 && word === 'uescape') return null;
        if (word === 'by' && (p1 === 'order' || p1 === 'group')) posBits |= 1 << depth;
        else if (posBits !== 0 && LIST_END_WORDS.has(word)) posBits &= ~(1 << depth);
        text = word;
      }
    } else if (c === CH_QUOTE || c === CH_DQUOTE) {
      open = i;
    } else if (cls & C_DIGIT || (c === CH_DOT && isDigit(sql.charCodeAt(i + 1)))) {
      end = scanNumber(sql, i);
      if (end < 0) return null;
      const structural =
        (p1 === '(' && p2 === 'float') ||
        ((posBits >>> depth) & 1 && (p1 === 'by' || p1 === ',' || p1 === '(' || p1 === 'distinct' || p1 === 'all'));
      text = structural ? sql.slice(i, end) : '?';
    } else if (c === CH_DOLLAR) {
      const c1 = sql.charCodeAt(i + 1);
      if (c1 >= 48 && c1 <= 57) {
        // Positional parameter: kept as-is. "$1abc" is an error in PostgreSQL 16+, an alias before.
        end = i + 2;
        while (end < n) {
          const d = sql.charCodeAt(end);
          if (d < 48 || d > 57) break;
          end++;
        }
        const d = sql.charCodeAt(end);
        if (end < n && (d >= 128 || CLASS[d]! & C_IDCONT)) return null;
        text = sql.slice(i, end);
      } else {
        // Dollar quote: $$ or $tag$ where tag = [A-Za-z_][A-Za-z0-9_]* (non-ASCII tags rejected).
        let j = i + 1;
        if (c1 !== CH_DOLLAR) {
          if (c1 >= 128 || !(CLASS[c1]! & C_IDSTART)) return null;
          j++;
          while (j < n) {
            const d = sql.charCodeAt(j);
            if (d >= 128) return null;
            if (d === CH_DOLLAR || !(CLASS[d]! & C_IDCONT)) break;
            j++;
          }
          // "$tag" without the closing "$" is PostgreSQL's dolqfailed: a lone '$' token, a syntax error.
          if (sql.charCodeAt(j) !== CH_DOLLAR) return null;
        }
        // The body ends at the first occurrence of the exact delimiter (tags are case-sensitive);
        // flex tries a delimiter match at every '$' of the body, so indexOf finds the same end.
        const delim = sql.slice(i, j + 1);
        const close = sql.indexOf(delim, j + 1);
        if (close < 0 || afterMinus) return null;
        text = '?';
        end = close + delim.length;
      }
    } else if (cls & C_OP) {
      // Operator run, emitted verbatim: PostgreSQL splits a run (e.g. trailing +/- rule) purely from
      // its own characters, so equal runs always split equally. A run stops where -- or /* begins.
      end = i + 1;
      while (end < n) {
        const d = sql.charCodeAt(end);
        if (d >= 128 || !(CLASS[d]! & C_OP)) break;
        if ((d === CH_MINUS && sql.charCodeAt(end + 1) === CH_MINUS) || (d === CH_SLASH && sql.charCodeAt(end + 1) === CH_STAR)) break;
        end++;
      }
      // `?` is our placeholder; a real `?` operator (jsonb ?, ?|, ?&) would make the text ambiguous.
      for (let k = i; k < end; k++) if (sql.charCodeAt(k) === CH_QMARK) return null;
      text = sql.slice(i, end);
      minus = sql.charCodeAt(end - 1) === CH_MINUS;
    } else if (cls & C_SELF) {
      // "1..2"-style DOT_DOT only exists for PL/pgSQL and lexes differently from ". .5": reject.
      if (c === CH_DOT && sql.charCodeAt(i + 1) === CH_DOT) return null;
      if (c === CH_LPAREN) {
        if (++depth > MAX_DEPTH) return null;
        if ((posBits >>> (depth - 1)) & 1 || (p1 === 'on' && p2 === 'distinct')) posBits |= 1 << depth;
      } else if (c === CH_RPAREN) {
        posBits &= ~(1 << depth);
        if (depth > 0) depth--;
      } else if (c === CH_SEMI) {
        depth = 0;
        posBits = 0;
      }
      text = word = sql[i]!;
      end = i + 1;
    } else {
      // Backslash, braces, control characters (incl. \v, NUL), DEL: PostgreSQL would return them as
      // single-character tokens that no grammar rule accepts, or (\v) versions disagree on them.
      return null;
    }

    // A string literal or quoted identifier, prefixed or not.
    if (open >= 0) {
      if (sql.charCodeAt(open) === CH_QUOTE) {
        end = scanString(sql, open + 1, kind);
        if (end < 0) return null;
        // N'...' is lexed as the keyword NCHAR followed by an ordinary string: a typed literal,
        // not a bare constant, so it must not share the plain `?` spelling.
        if (open === i + 1 && (c | 0x20) === 110) text = 'nchar ?';
        else if (afterMinus) return null;
        else text = '?';
      } else {
        end = scanQuotedIdent(sql, open + 1);
        if (end < 0) return null;
        text = sql.slice(i, end);
      }
    }

    out += text;
    p2 = p1;
    p1 = word;
    afterMinus = minus;
    i = end;
  }
  return out;
}

/** Index just past the comment that started before `i`, honouring PostgreSQL's nesting; -1 if unterminated. */
function skipBlockComment(s: string, i: number): number {
  const n = s.length;
  let depth = 1;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === CH_SLASH && s.charCodeAt(i + 1) === CH_STAR) {
      depth++;
      i += 2;
    } else if (c === CH_STAR && s.charCodeAt(i + 1) === CH_SLASH) {
      i += 2;
      if (--depth === 0) return i;
    } else {
      i++;
    }
  }
  return -1;
}

/**
 * Scans a quoted string body starting at `i` (just after the opening quote), including
 * SQL-standard continuation segments ('a'<newline>'b' is ONE constant). Returns the index
 * just past the literal, or -1 when unterminated or when a backslash makes it ambiguous.
 */
function scanString(s: string, i: number, kind: number): number {
  const n = s.length;
  for (;;) {
    for (;;) {
      if (i >= n) return -1;
      const c = s.charCodeAt(i);
      if (c === CH_QUOTE) {
        // '' is an embedded quote, except in bit strings whose body is [^']*.
        if (kind !== S_BIT && s.charCodeAt(i + 1) === CH_QUOTE) {
          i += 2;
          continue;
        }
        break;
      }
      if (c === CH_BACKSLASH) {
        if (kind === S_ESC) {
          // \x consumes x whatever it is (\' does not end the string); \ at the end is unterminated.
          i += 2;
          continue;
        }
        // In '...' a backslash escapes the quote when standard_conforming_strings is off: the
        // server's reading depends on a setting we cannot see, so do not guess.
        if (kind !== S_UNI) return -1;
      }
      i++;
    }
    i++; // closing quote
    // Continuation: whitespace containing at least one newline, then a quote. A /* */ comment in
    // between prevents it. scan.l's whitespace_with_newline also allows -- comments in the gap, but
    // libpg-query 18 does not join across them: with two readings in the wild we refuse to pick one.
    let j = i;
    let newline = false;
    let comment = false;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (c === 32 || c === 9 || c === 12) j++;
      else if (c === CH_LF || c === CH_CR) {
        newline = true;
        j++;
      } else if (c === CH_MINUS && s.charCodeAt(j + 1) === CH_MINUS) {
        comment = true;
        j += 2;
        while (j < n) {
          const d = s.charCodeAt(j);
          if (d === CH_LF || d === CH_CR) break;
          j++;
        }
      } else break;
    }
    if (!newline || s.charCodeAt(j) !== CH_QUOTE) return i;
    if (comment) return -1;
    i = j + 1; // the continued segment is scanned with the same flavour (E stays E)
  }
}

/** Scans a "..." body starting after the opening quote ("" doubles); returns the index past the closing quote or -1. */
function scanQuotedIdent(s: string, i: number): number {
  for (;;) {
    const q = s.indexOf('"', i);
    if (q < 0) return -1;
    if (s.charCodeAt(q + 1) !== CH_DQUOTE) return q + 1;
    i = q + 2;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** {decdigit}(_?{decdigit})* starting at a digit; returns the end index. */
function scanDecimal(s: string, i: number): number {
  i++;
  for (;;) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) i++;
    else if (c === CH_UNDERSCORE && isDigit(s.charCodeAt(i + 1))) i += 2;
    else return i;
  }
}

function radixDigit(c: number, radix: number): boolean {
  if (radix === 16) return isDigit(c) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
  if (radix === 8) return c >= 48 && c <= 55;
  return c === 48 || c === 49;
}

/**
 * Scans a numeric constant per PostgreSQL 16+ (hex/octal/binary, underscores, decimals, exponents).
 * Returns the end index, or -1 for the *fail / *junk forms, which older servers lex as a number
 * followed by an identifier (an alias!) while newer ones reject them.
 */
function scanNumber(s: string, i: number): number {
  let j: number;
  const c0 = s.charCodeAt(i);
  const p = s.charCodeAt(i + 1) | 0x20;
  if (c0 === 48 && (p === 120 || p === 111 || p === 98)) {
    const radix = p === 120 ? 16 : p === 111 ? 8 : 2;
    j = i + 2;
    if (s.charCodeAt(j) === CH_UNDERSCORE) j++;
    if (!radixDigit(s.charCodeAt(j), radix)) return -1;
    j++;
    for (;;) {
      const c = s.charCodeAt(j);
      if (radixDigit(c, radix)) j++;
      else if (c === CH_UNDERSCORE && radixDigit(s.charCodeAt(j + 1), radix)) j += 2;
      else break;
    }
  } else {
    if (c0 === CH_DOT) {
      j = scanDecimal(s, i + 1);
    } else {
      j = scanDecimal(s, i);
      if (s.charCodeAt(j) === CH_DOT) {
        if (s.charCodeAt(j + 1) === CH_DOT) return -1; // 1..2
        j++;
        if (isDigit(s.charCodeAt(j))) j = scanDecimal(s, j);
      }
    }
    if ((s.charCodeAt(j) | 0x20) === 101 /* e */) {
      let k = j + 1;
      const sign = s.charCodeAt(k);
      if (sign === 43 || sign === CH_MINUS) k++;
      if (!isDigit(s.charCodeAt(k))) return -1; // 1e, 1e+
      j = scanDecimal(s, k);
    }
  }
  if (j < s.length) {
    const d = s.charCodeAt(j);
    // 123abc, 1_, 0x1Fg, 1.5.5, 1$: PostgreSQL versions disagree or it is an error anyway.
    if (d >= 128 || CLASS[d]! & C_IDCONT || d === CH_DOT) return -1;
  }
  return j;
}
