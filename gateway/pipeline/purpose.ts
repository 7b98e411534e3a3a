// The declared purpose of use (HIPAA: treatment, payment, operations, …) from wherever a client can state it:
// a PostgreSQL startup option or leading comment, an MCP tool argument, a Snowflake session parameter, or the
// identity's token. The policy decides which purposes allow what (connection.purpose in its input).

/** What a purpose may look like once normalized: lower case words (treatment, public_health, research-irb). */
const PURPOSE = /^[a-z][a-z0-9_.-]{0,63}$/;

/**
 * A declared purpose, normalized (trimmed, lower case), or null when there is none. A value that is not a
 * plain word is kept as written (bounded): the policy then refuses it by name rather than it going unnoticed.
 *
 * @example
 * normalizePurpose(' Treatment ') // 'treatment'
 */
export function normalizePurpose(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const v = value.trim().toLowerCase();
  if (v === '') return null;
  return PURPOSE.test(v) ? v : v.slice(0, 64);
}

/**
 * The purpose in a PostgreSQL startup `options` string (`-c verdict.purpose=treatment`, `--verdict.purpose=…`,
 * as libpq passes PGOPTIONS: words separated by spaces, a backslash escaping the next character).
 *
 * @example
 * purposeFromStartupOptions('-c search_path=app -c verdict.purpose=treatment') // 'treatment'
 */
export function purposeFromStartupOptions(options: string | undefined | null): string | null {
  if (!options) return null;
  const words: string[] = [];
  let word = '';
  for (let i = 0; i < options.length; i++) {
    const c = options[i]!;
    if (c === '\\' && i + 1 < options.length) word += options[++i];
    else if (c === ' ' || c === '\t') {
      if (word) words.push(word);
      word = '';
    } else word += c;
  }
  if (word) words.push(word);
  let found: string | null = null;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const setting = w === '-c' ? words[++i] : w.startsWith('-c') ? w.slice(2) : w.startsWith('--') ? w.slice(2) : null;
    const m = setting ? /^verdict\.purpose=(.*)$/is.exec(setting) : null;
    if (m) found = normalizePurpose(m[1]); // the last one wins, as PostgreSQL applies them in order
  }
  return found;
}

/**
 * The purpose a statement declares in a leading comment: `/* purpose: treatment *\/ SELECT …`. It applies to
 * the statements of that string only.
 *
 * @example
 * purposeFromComment('/* purpose: payment *\/ SELECT 1') // 'payment'
 */
export function purposeFromComment(sql: string): string | null {
  const m = /^\s*\/\*\s*purpose\s*:\s*([^*]*?)\s*\*\//i.exec(sql);
  return m ? normalizePurpose(m[1]) : null;
}

/**
 * The purpose a validated token carries (claim `purpose`), for identity providers that stamp one.
 *
 * @example
 * purposeFromClaims({ sub: 'alice', purpose: 'treatment' }) // 'treatment'
 */
export function purposeFromClaims(claims: Record<string, unknown> | undefined): string | null {
  return normalizePurpose(claims?.purpose);
}
