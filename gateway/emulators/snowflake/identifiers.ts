// Snowflake identifier rules for the local Snowflake: unquoted names fold to UPPER, "quoted" names keep their case,
// and object names have up to three dotted parts (database.schema.object).

/** Folds one identifier as Snowflake does: `clinic` → `CLINIC`, `"Clinic"` → `Clinic`. */
export function foldIdentifier(raw: string): string {
  const t = raw.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1).replace(/""/g, '"');
  return t.toUpperCase();
}

/**
 * Splits a dotted name into folded parts, honouring quotes: `clinic."My Schema".t` → [CLINIC, My Schema, T].
 * Returns null when the text is not a well-formed name.
 */
export function splitName(text: string): string[] | null {
  const parts: string[] = [];
  let i = 0;
  const s = text.trim();
  while (i < s.length) {
    if (s[i] === '"') {
      let j = i + 1;
      let value = '';
      for (;;) {
        if (j >= s.length) return null;
        if (s[j] === '"') {
          if (s[j + 1] === '"') {
            value += '"';
            j += 2;
            continue;
          }
          break;
        }
        value += s[j];
        j++;
      }
      parts.push(value);
      i = j + 1;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(s.slice(i));
      if (!m) return null;
      parts.push(m[0].toUpperCase());
      i += m[0].length;
    }
    if (i === s.length) break;
    if (s[i] !== '.') return null;
    i++;
  }
  return parts.length > 0 ? parts : null;
}

/** Quotes a folded identifier for DuckDB (which is case-insensitive but keeps the stored case). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
