// The seam between the engine and a SQL dialect: each dialect turns its own SQL into the same
// StatementAnalysis facts (types.ts), so one policy judges PostgreSQL and Snowflake statements alike.
import type { Measurement } from './types.ts';
import type { AnalyzeOptions, StatementAnalysis } from './types.ts';

export type { Measurement };

export type DialectName = 'postgres' | 'snowflake';

/**
 * A SQL dialect: its parser, its cache-key fingerprint and its analysis.
 *
 * @example
 * await postgres.load();
 * const [a] = postgres.analyze('DELETE FROM t WHERE 1=1');   // a.where_is_trivial === true
 */
export interface Dialect {
  readonly name: DialectName;
  /** Loads the parser (WASM) once; later calls are cheap. Await it before fingerprint() and analyze(). */
  load(): Promise<void>;
  /**
   * The decision-cache key of a SQL string: its normalized text with literals replaced. Equal
   * fingerprints mean the dialect parses both strings alike up to literal values; null when that
   * cannot be promised (then nothing is cached).
   */
  fingerprint(sql: string): string | null;
  /**
   * Splits `sql` into statements and extracts each one's policy facts. Never throws for bad SQL: what
   * cannot be analyzed becomes an 'unknown' statement with parse_error (which the policy denies).
   */
  analyze(sql: string, options?: AnalyzeOptions): StatementAnalysis[];
  /**
   * The read-only count that measures a write's blast radius (rows it would change, rows in its table), or why
   * it cannot be measured. Absent: this dialect measures nothing (every write that needs a count is unmeasurable).
   */
  measurementQuery?(a: StatementAnalysis): Measurement;
}

/** The analysis of text that could not be analyzed: kind 'unknown', with the reason as parse_error. */
export function unknownStatement(text: string, message: string): StatementAnalysis {
  return {
    text,
    kind: 'unknown',
    command: 'UNKNOWN',
    reads: [],
    writes: [],
    has_where: false,
    where_is_trivial: false,
    functions: [],
    predicates_on: [],
    result_columns: [],
    unresolved: [],
    data_modifying_cte: false,
    creates_table_from_query: false,
    copy: null,
    setting: null,
    setting_value: null,
    explain_options: null,
    on_conflict: null,
    name: null,
    nested: [],
    opaque: false,
    parse_error: message,
    literal_dependent: true,
  };
}
