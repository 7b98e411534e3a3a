// Snowflake as a Dialect: polyglot's Snowflake grammar (WASM, loaded on first use) for analysis, its
// lexer for fingerprints. Parsing costs about a millisecond, so analyses are cached by fingerprint.
import type { Dialect } from '../dialect.ts';
import type { AnalyzeOptions, Catalog, StatementAnalysis } from '../types.ts';
import { analyzeSnowflake } from './analyze.ts';
import { measurementQuery } from './blast-radius.ts';
import { fingerprint, scan } from './fingerprint.ts';
import { loadParser } from './parser.ts';

/** Analyses kept per catalog (a new catalog object starts afresh); the oldest go first past this many. */
const MAX_CACHED = 10_000;

const byCatalog = new WeakMap<Catalog, Map<string, StatementAnalysis[]>>();
const noCatalog = new Map<string, StatementAnalysis[]>();

/**
 * The analysis of `sql`, reused for every string of the same fingerprint and options unless a literal's
 * value changed a fact (literal_dependent): then it is never reused.
 */
function analyze(sql: string, options: AnalyzeOptions = {}): StatementAnalysis[] {
  const s = scan(sql);
  const fp = 'error' in s ? null : s.fingerprint;
  if (fp === null || 'error' in s) return analyzeSnowflake(sql, options);
  const key = `${options.database ?? ''}\u0000${options.schema ?? ''}\u0000${options.maxDepth ?? ''}\u0000${fp}`;
  let cache = noCatalog;
  if (options.catalog) {
    cache = byCatalog.get(options.catalog) ?? new Map();
    byCatalog.set(options.catalog, cache);
  }
  const hit = cache.get(key);
  if (hit && hit.length === s.pieces.length) return hit.map((a, i) => ({ ...a, text: s.pieces[i]?.text ?? a.text }));
  const out = analyzeSnowflake(sql, options);
  if (out.length === s.pieces.length && !out.some((a) => a.literal_dependent)) {
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
    cache.set(key, out);
  }
  return out;
}

/** @example await snowflake.load(); snowflake.analyze('SELECT ssn FROM patients', { database: 'CLINIC', schema: 'PUBLIC' }) */
export const snowflake: Dialect = {
  name: 'snowflake',
  load: loadParser,
  fingerprint,
  analyze,
  measurementQuery,
};
