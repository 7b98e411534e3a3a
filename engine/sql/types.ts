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
  /**
   * false for a direct copy: the column itself, through aliases, views, subqueries, CTEs, set-operation
   * arms and casts to text / varchar (without a length); true when the value is computed from its sources.
   */
  derived: boolean;
  /**
   * Sources that reach this value only through the results of calls that took a direct copy of them as an
   * argument (`count(ssn)`, `count(DISTINCT p.ssn::text)`), with those calls' names as written. Absent when
   * there are none. The policy data says which functions return none of their argument's content.
   */
  through?: ThroughRef[];
  /**
   * For a whole row serialized to JSON (`row_to_json(p)`, `to_jsonb(p)`, `json_agg(p)`, …): each key the
   * JSON objects carry — the row's column names — with that column's own lineage, so masks can apply to the
   * values under the keys and leave the rest valid JSON. Absent otherwise (or when the keys are not known).
   */
  json_keys?: JsonKey[];
}

/** One key of a serialized row: the column name, and what its value derives from. */
export interface JsonKey {
  key: string;
  sources: ColumnRef[];
  derived: boolean;
}

/** A source that reaches a result column only through the results of the named function calls. */
export interface ThroughRef extends ColumnRef {
  /** Lower-case; 'schema.name' when the SQL qualifies it. Sorted. */
  functions: string[];
}

/**
 * Something whose lineage the analysis could not follow, so a result may carry columns it does not
 * list. `reason` starts with a stable code and a colon:
 * - `dynamic_sql:` SQL known only at run time (plpgsql EXECUTE, query_to_xml, dblink, ...)
 * - `unknown_function:` a function neither in Catalog.functions nor a known pure built-in, whose
 *   value reaches a result column (its body could read any table)
 * - `unknown_set_function:` such a function in FROM: its output columns and what they derive from are unknown
 * - `opaque_function:` a catalog function whose body cannot be analyzed (language c, plpython, a body
 *   that does not parse, nesting too deep)
 * - `view:` a catalog view whose definition cannot be analyzed (does not parse, nesting too deep)
 * - `unknown_shape:` `(expr).*` over a composite value, or a record-returning function in FROM, whose
 *   columns are unknown: the lineage is complete but a '*' result column stands for an unknown count
 */
export interface Unresolved {
  reason: string;
  /** The result column the unresolved value flows into, when it is in the statement's own output list. */
  column?: string;
}

export interface CopyInfo {
  direction: 'from' | 'to';
  /**
   * stdin/stdout travel over the client connection; file/program run on the server. Snowflake's COPY INTO
   * a stage or location, and PUT / GET, are 'file': the files live on the server side, not the client's.
   */
  target: 'stdin' | 'stdout' | 'file' | 'program';
  /** The table for `COPY t ...`; null for `COPY (query) TO`. */
  table: { schema: string; table: string } | null;
}

/** A bind parameter ($1 is position 1) and the table columns it is compared with, combined with or written to. */
export interface ParameterUse {
  position: number;
  columns: ColumnRef[];
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
  /**
   * Output columns (SELECT list, RETURNING, COPY TO, a cursor's or prepared statement's query) and,
   * for SELECT INTO / CREATE TABLE AS / CREATE [MATERIALIZED] VIEW / CREATE FUNCTION, what the new
   * object will hold or return (nothing is sent to the client then, but the lineage is carried forward).
   */
  result_columns: ResultColumn[];
  /** What the lineage analysis could not resolve; empty when every result column's sources are complete. */
  unresolved: Unresolved[];
  /** WITH x AS (INSERT/UPDATE/DELETE/MERGE ...) anywhere in the statement. */
  data_modifying_cte: boolean;
  /** SELECT INTO / CREATE TABLE AS / CREATE MATERIALIZED VIEW AS: a query whose rows land in a new table. */
  creates_table_from_query: boolean;
  copy: CopyInfo | null;
  /** The run-time parameter SET / RESET / SHOW names (lower-case, '*' for ALL); null otherwise. */
  setting: string | null;
  /**
   * For SET: the value as written ('off', 'UTF8', 'a,b' for a list), 'DEFAULT' for SET ... TO DEFAULT
   * and RESET, 'FROM CURRENT' for SET ... FROM CURRENT; null otherwise. Not part of the policy input:
   * the gateway's session model reads it to refuse settings that would change how it lexes SQL.
   */
  setting_value: string | null;
  /**
   * For EXPLAIN: the options turned on, lower-case ('analyze', 'verbose', 'buffers', 'format', ...);
   * null otherwise. ANALYZE runs the statement; VERBOSE prints output expressions.
   */
  explain_options: string[] | null;
  /** For INSERT: 'update' for ON CONFLICT DO UPDATE (an upsert changes existing rows), 'nothing', or null. */
  on_conflict: 'update' | 'nothing' | null;
  /** The cursor or prepared statement DECLARE/FETCH/MOVE/CLOSE/PREPARE/EXECUTE/DEALLOCATE names ('*' = ALL). */
  name: string | null;
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
   * The statement's bind parameters and the columns each meets (PostgreSQL: $1, $2, …). null (or absent)
   * when the dialect cannot tell: then any parameter may meet any column the statement touches.
   */
  parameters?: ParameterUse[] | null;
  /**
   * true when a literal's value changes a fact above (e.g. WHERE 1=1 vs WHERE 1=2, a file name in
   * COPY, a SET value): the decision for this shape must not be reused for other literals.
   */
  literal_dependent: boolean;
}

/** A function whose definition the upstream exposes (pg_proc.prosrc / pg_get_functiondef). */
export interface CatalogFunction {
  /** 'sql', 'plpgsql', 'c', 'internal', 'plpython3u', ... */
  language: string;
  /** The function body (the text between AS $$ ... $$); for SQL-standard bodies, `BEGIN ATOMIC ... END` or `RETURN expr`. */
  body: string;
  returns_set?: boolean;
}

/**
 * What the analysis knows about the upstream database. Keys are 'schema.name'. Views' columns are
 * in `tables` too (as PostgreSQL lists them); `views` adds their definitions so lineage goes through them.
 */
export interface Catalog {
  /** Column names per table / view, in attribute order, so `*` can be expanded. */
  tables: Record<string, string[]>;
  /** View definitions as pg_get_viewdef returns them (a SELECT). */
  views?: Record<string, string>;
  /**
   * Functions whose bodies lineage may follow. One entry per name: for SQL overloads join the bodies
   * with ';' (every statement's result counts), for mixed languages give one that cannot be analyzed.
   */
  functions?: Record<string, CatalogFunction>;
}

export interface AnalyzeOptions {
  catalog?: Catalog;
  /** PostgreSQL: schemas for unqualified table names after pg_catalog; default ['public']. */
  searchPath?: string[];
  /**
   * Snowflake: the session's current database and schema (as Snowflake names them: CLINIC, PUBLIC), for
   * names with fewer than three parts. Without them such names cannot be resolved and the statement is
   * 'unknown'. Snowflake tables appear with `schema: 'DATABASE.SCHEMA'`; catalog keys are 'DATABASE.SCHEMA.TABLE'.
   */
  database?: string;
  schema?: string;
  /** Maximum expression/subquery nesting before the statement is rejected; default 200. */
  maxDepth?: number;
  /**
   * Most statements one string may hold; a string with more is one 'unknown' statement (denied) before any is
   * analyzed: analyzing and deciding tens of thousands would hold every session up. Default 1000.
   */
  maxStatements?: number;
}

/**
 * What the gateway measured for a write before deciding it (decision.measure = ['blast_radius']); the
 * policy input carries it as `statement.blast_radius`. `error` says why it could not be measured (then
 * `rows` is null). See engine/sql/postgres/blast-radius.ts for the method and its limits.
 */
export interface BlastRadius {
  /** 'count': SELECT count(*) over the rows the write's predicate selects, run just before it in the same session; 'current_of': WHERE CURRENT OF (one row). */
  method: 'count' | 'current_of';
  /** Rows the write would change (for MERGE an upper bound: every source row may act once). */
  rows: number | null;
  /** Rows in the target table when measured. */
  table_rows: number | null;
  error: string | null;
}

/**
 * The count a gateway runs to measure a write's blast radius: one row, columns `rows` and `table_rows` (bigint
 * as text); `params`: the parameter numbers ($n) it refers to (a write's SET values are not among them). Or a
 * write through a cursor (`WHERE CURRENT OF`: one row), or why it cannot be measured.
 */
export type Measurement = { sql: string; params: number[] } | { current_of: true } | { error: string };
