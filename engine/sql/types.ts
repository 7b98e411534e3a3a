// The facts SQL analysis extracts from one statement: the `statement` part of the policy input.
// Field names are snake_case because they are the policy contract (docs/decision-contract.md).

/** What a statement does, at the granularity policies decide on. */
export type StatementKind =
  | 'select'
  | 'insert'
  | 'update'
  | 'delete'
  | 'merge'
  | 'copy'
  | 'ddl'
  | 'dcl'
  | 'tcl'
  | 'utility'
  | 'unknown';

/** One column of one table. `schema` is resolved (see AnalyzeOptions.searchPath). */
export interface ColumnRef {
  schema: string;
  table: string;
  column: string;
}

/** A table a statement reads or writes, with the columns it touches ('*' = all / not resolvable). */
export interface TableAccess {
  schema: string;
  table: string;
  columns: string[];
}

/** One output column of a statement and the table columns its value derives from. */
export interface ResultColumn {
  name: string;
  sources: ColumnRef[];
  /** true when the value is computed from its sources (any expression), false for a plain reference. */
  derived: boolean;
}

export interface CopyInfo {
  direction: 'from' | 'to';
  /** stdin/stdout travel over the client connection; file/program run on the server. */
  target: 'stdin' | 'stdout' | 'file' | 'program';
  /** The table for `COPY t ...`; null for `COPY (query) TO`. */
  table: { schema: string; table: string } | null;
}

export interface StatementAnalysis {
  /** The statement's own text, sliced out of the (possibly multi-statement) string, trimmed. */
  text: string;
  kind: StatementKind;
  /** PostgreSQL's command tag style name: 'SELECT', 'CREATE TABLE', 'DO', 'SET', ... */
  command: string;
  reads: TableAccess[];
  writes: TableAccess[];
  has_where: boolean;
  /** WHERE true / 1=1 / x OR true: a WHERE that filters nothing counts as none. */
  where_is_trivial: boolean;
  /** Every function called, lower-case; 'schema.name' when the SQL qualifies it, else 'name'. */
  functions: string[];
  /** Columns used in WHERE / JOIN ON / GROUP BY / HAVING / ORDER BY / window clauses. */
  predicates_on: ColumnRef[];
  result_columns: ResultColumn[];
  /** WITH x AS (INSERT/UPDATE/DELETE/MERGE ...) anywhere in the statement. */
  data_modifying_cte: boolean;
  /** SELECT INTO / CREATE TABLE AS / CREATE MATERIALIZED VIEW AS: a query whose rows land in a new table. */
  creates_table_from_query: boolean;
  copy: CopyInfo | null;
  /** The run-time parameter SET / RESET / SHOW names (lower-case, '*' for ALL); null otherwise. */
  setting: string | null;
  /**
   * Statements found inside DO blocks, function bodies, EXPLAIN, PREPARE, DECLARE and data-modifying
   * CTEs, at any depth, flattened into this one list (their own `nested` is empty).
   */
  nested: StatementAnalysis[];
  /** Dynamic SQL (plpgsql EXECUTE) whose text cannot be known before it runs. */
  opaque: boolean;
  /** null, or the parser's message when PostgreSQL's grammar rejects the statement (kind = 'unknown'). */
  parse_error: string | null;
  /**
   * true when a literal's value changes a fact above (e.g. WHERE 1=1 vs WHERE 1=2, a file name in
   * COPY, a SET value): the decision for this shape must not be reused for other literals.
   */
  literal_dependent: boolean;
}

/** Column names per table, in table order, so `*` can be expanded. Keys: 'schema.table'. */
export interface Catalog {
  tables: Record<string, string[]>;
}

export interface AnalyzeOptions {
  catalog?: Catalog;
  /** Schemas for unqualified table names after pg_catalog; default ['public']. */
  searchPath?: string[];
  /** Maximum expression/subquery nesting before the statement is rejected; default 200. */
  maxDepth?: number;
}
