// SQL execution of the local Snowflake: one DuckDB instance (databases are ATTACHed in-memory catalogs, so
// DATABASE.SCHEMA.TABLE maps one to one), one DuckDB connection per Snowflake session running its statements in
// order, Snowflake binds converted to typed DuckDB parameters, and macros for functions the transpiler leaves alone.
import {
  BIGINT,
  BLOB,
  BOOLEAN,
  DATE,
  DOUBLE,
  DuckDBBlobValue,
  DuckDBConnection,
  DuckDBDateValue,
  DuckDBInstance,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimeValue,
  HUGEINT,
  TIME,
  TIMESTAMP,
  TIMESTAMPTZ,
  type DuckDBResultReader,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { SfCode, SnowflakeError, sfError } from './errors.ts';
import { quoteIdent } from './identifiers.ts';
import { countRowType, encodeCell, rowTypeOf, snowflakeTypeText, statusRowType, type Cell, type ColumnOrigin, type RowType } from './result-encoding.ts';
import { infoSchemaOf, planRequest, StatementType, type CreatedView, type Plan, type SessionContext, type TableRef } from './transpile.ts';

/** A bind as the drivers send it: `{"1": {"type": "FIXED", "value": "42"}}`; an array value is an array bind. */
export interface BindValue {
  type: string;
  value: string | null | Array<string | null>;
}
export type Bindings = Record<string, BindValue>;

/** The session state a statement reads and changes (a Session from sessions.ts, or the emulator's own). */
export interface EngineContext {
  readonly id: number;
  readonly user: string;
  role: string;
  database: string | null;
  schema: string | null;
  warehouse: string | null;
  readonly parameters: Map<string, string | number | boolean>;
  /** Roles USE ROLE may switch to; null: any. */
  readonly grantedRoles: readonly string[] | null;
}

export interface StatementResult {
  rowtype: RowType[];
  rows: Cell[][];
  statementTypeId: number;
}

export interface ExecuteRequest {
  sqlText: string;
  bindings?: Bindings | undefined;
  describeOnly?: boolean;
  /** MULTI_STATEMENT_COUNT: 1 (default) refuses several statements, 0 takes any number. */
  multiStatementCount?: number;
  signal?: AbortSignal;
}

/**
 * Functions Snowflake has and DuckDB (after transpiling) lacks, as temporary macros of every connection. Formats of
 * TO_VARCHAR(x, fmt) map Snowflake's elements to strftime's; FLATTEN is a table macro with Snowflake's columns.
 */
const MACROS = [
  `CREATE OR REPLACE TEMP MACRO sf_format(f) AS replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
     f, 'HH24', '%H'), 'HH12', '%I'), 'YYYY', '%Y'), 'YY', '%y'), 'MON', '%b'), 'MM', '%m'), 'DD', '%d'), 'DY', '%a'),
     'MI', '%M'), 'SS', '%S'), 'FF3', '%g'), 'FF6', '%f')`,
  `CREATE OR REPLACE TEMP MACRO to_varchar(x) AS CAST(x AS VARCHAR), (x, f) AS strftime(x, sf_format(f))`,
  `CREATE OR REPLACE TEMP MACRO to_number(x) AS CAST(x AS DECIMAL(38, 0)), (x, p) AS CAST(x AS DECIMAL(38, 0)), (x, p, s) AS round(CAST(x AS DECIMAL(38, 9)), s)`,
  `CREATE OR REPLACE TEMP MACRO to_decimal(x) AS to_number(x), (x, p) AS to_number(x), (x, p, s) AS to_number(x, p, s)`,
  `CREATE OR REPLACE TEMP MACRO to_numeric(x) AS to_number(x), (x, p) AS to_number(x), (x, p, s) AS to_number(x, p, s)`,
  `CREATE OR REPLACE TEMP MACRO try_to_number(x) AS TRY_CAST(x AS DECIMAL(38, 0))`,
  `CREATE OR REPLACE TEMP MACRO try_to_decimal(x) AS TRY_CAST(x AS DECIMAL(38, 0))`,
  `CREATE OR REPLACE TEMP MACRO startswith(a, b) AS starts_with(a, b)`,
  `CREATE OR REPLACE TEMP MACRO current_timestamp() AS get_current_timestamp()`,
  `CREATE OR REPLACE TEMP MACRO sha2(x) AS sha256(x), (x, n) AS sha256(x)`,
  `CREATE OR REPLACE TEMP MACRO object_keys(x) AS json_keys(x)`,
  `CREATE OR REPLACE TEMP MACRO hex_encode(x) AS upper(hex(x))`,
  `CREATE OR REPLACE TEMP MACRO initcap(x) AS array_to_string(list_transform(string_split(lower(x), ' '), w -> upper(w[1]) || w[2:]), ' ')`,
  `CREATE OR REPLACE TEMP MACRO sf_flatten(input) AS TABLE
     SELECT 1::BIGINT AS "SEQ", NULL::VARCHAR AS "KEY", '[' || (i - 1) || ']' AS "PATH", (i - 1)::BIGINT AS "INDEX",
            json_extract(input::JSON, '$[' || (i - 1) || ']') AS "VALUE", input::JSON AS "THIS"
     FROM range(1::BIGINT, (CASE WHEN json_type(input::JSON) = 'ARRAY' THEN json_array_length(input::JSON) ELSE 0 END)::BIGINT + 1) r(i)
     UNION ALL
     SELECT 1, k, k, NULL, json_extract(input::JSON, '$."' || k || '"'), input::JSON
     FROM (SELECT unnest(CASE WHEN json_type(input::JSON) = 'OBJECT' THEN json_keys(input::JSON) ELSE []::VARCHAR[] END) AS k)`,
];

/** DuckDB's own catalogs, never shown as Snowflake databases. */
const INTERNAL_DATABASES = new Set(['memory', 'system', 'temp']);
const NOT_INTERNAL_DB = `database_name NOT IN ('memory', 'system', 'temp')`;

/** CREATED / LAST_ALTERED of objects the emulator has no time for (the clinic's tables). */
const EPOCH_CREATED = `TIMESTAMPTZ '2026-01-05 09:00:00+00'`;

/** What Snowflake keeps of each view and DuckDB does not: the text as submitted, SECURE, the owning role. */
const VIEW_REGISTRY = 'memory.main."SF_VIEWS"';

/** Snowflake's DATA_TYPE for a DuckDB column type (duckdb_columns().data_type). */
const DATA_TYPE = `CASE
  WHEN data_type LIKE 'DECIMAL%' OR data_type IN ('BIGINT', 'INTEGER', 'SMALLINT', 'TINYINT', 'HUGEINT', 'UBIGINT', 'UINTEGER') THEN 'NUMBER'
  WHEN data_type IN ('DOUBLE', 'FLOAT', 'REAL') THEN 'FLOAT'
  WHEN data_type = 'VARCHAR' THEN 'TEXT'
  WHEN data_type = 'BLOB' THEN 'BINARY'
  WHEN data_type = 'TIMESTAMP WITH TIME ZONE' THEN 'TIMESTAMP_LTZ'
  WHEN data_type LIKE 'TIMESTAMP%' THEN 'TIMESTAMP_NTZ'
  WHEN data_type = 'JSON' THEN 'VARIANT'
  ELSE data_type END`;

/**
 * Database `db`'s INFORMATION_SCHEMA views COLUMNS, TABLES and VIEWS, with Snowflake's column names. As in
 * Snowflake, VIEW_DEFINITION is the CREATE VIEW statement as submitted, and a secure view's definition is shown
 * only to its owner role (the querying session's role is the DuckDB variable sf_role).
 */
function infoSchemaViews(db: string): string[] {
  const schema = `memory.${quoteIdent(infoSchemaOf(db))}`;
  const lit = `'${db.replace(/'/g, "''")}'`;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${schema}`,
    `CREATE OR REPLACE VIEW ${schema}."COLUMNS" AS
       SELECT database_name AS "TABLE_CATALOG", schema_name AS "TABLE_SCHEMA", table_name AS "TABLE_NAME", column_name AS "COLUMN_NAME",
              column_index::BIGINT AS "ORDINAL_POSITION", column_default AS "COLUMN_DEFAULT", CASE WHEN is_nullable THEN 'YES' ELSE 'NO' END AS "IS_NULLABLE",
              ${DATA_TYPE} AS "DATA_TYPE", character_maximum_length::BIGINT AS "CHARACTER_MAXIMUM_LENGTH", numeric_precision::BIGINT AS "NUMERIC_PRECISION",
              numeric_scale::BIGINT AS "NUMERIC_SCALE", comment AS "COMMENT"
       FROM duckdb_columns() WHERE database_name = ${lit} AND NOT internal`,
    `CREATE OR REPLACE VIEW ${schema}."TABLES" AS
       SELECT database_name AS "TABLE_CATALOG", schema_name AS "TABLE_SCHEMA", table_name AS "TABLE_NAME", 'ACCOUNTADMIN' AS "TABLE_OWNER",
              'BASE TABLE' AS "TABLE_TYPE", 'NO' AS "IS_TRANSIENT", estimated_size::BIGINT AS "ROW_COUNT", ${EPOCH_CREATED} AS "CREATED", ${EPOCH_CREATED} AS "LAST_ALTERED", comment AS "COMMENT"
       FROM duckdb_tables() WHERE database_name = ${lit} AND NOT internal AND NOT temporary
       UNION ALL
       SELECT v.database_name, v.schema_name, v.view_name, coalesce(r.owner, 'ACCOUNTADMIN'), 'VIEW', 'NO', NULL, coalesce(r.created, ${EPOCH_CREATED}), coalesce(r.created, ${EPOCH_CREATED}), v.comment
       FROM duckdb_views() v LEFT JOIN ${VIEW_REGISTRY} r USING (database_name, schema_name, view_name)
       WHERE v.database_name = ${lit} AND NOT v.internal`,
    `CREATE OR REPLACE VIEW ${schema}."VIEWS" AS
       SELECT v.database_name AS "TABLE_CATALOG", v.schema_name AS "TABLE_SCHEMA", v.view_name AS "TABLE_NAME", coalesce(r.owner, 'ACCOUNTADMIN') AS "TABLE_OWNER",
              CASE WHEN coalesce(r.secure, false) AND coalesce(r.owner, 'ACCOUNTADMIN') <> getvariable('sf_role') THEN NULL ELSE coalesce(r.text, v.sql) END AS "VIEW_DEFINITION",
              'NONE' AS "CHECK_OPTION", 'NO' AS "IS_UPDATABLE", 'NO' AS "INSERTABLE_INTO", CASE WHEN coalesce(r.secure, false) THEN 'YES' ELSE 'NO' END AS "IS_SECURE",
              coalesce(r.created, ${EPOCH_CREATED}) AS "CREATED", coalesce(r.created, ${EPOCH_CREATED}) AS "LAST_ALTERED", v.comment AS "COMMENT"
       FROM duckdb_views() v LEFT JOIN ${VIEW_REGISTRY} r USING (database_name, schema_name, view_name)
       WHERE v.database_name = ${lit} AND NOT v.internal`,
  ];
}
const OK_STATUS = 'Statement executed successfully.';

/** Runs one connection's work strictly in order (a DuckDB connection runs one statement at a time). */
class SerialConnection {
  #tail: Promise<unknown> = Promise.resolve();
  constructor(readonly conn: DuckDBConnection) {}

  run<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const next = this.#tail.then(() => fn(this.conn));
    this.#tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * The DuckDB side of the emulator.
 *
 * @example
 * const engine = await SqlEngine.create({ threads: 1 });
 * await engine.createDatabase('CLINIC');
 * const s = await engine.openSession(ctx);
 * const r = await s.execute({ sqlText: 'SELECT 1 AS one' });
 */
export class SqlEngine {
  readonly #instance: DuckDBInstance;
  readonly #admin: SerialConnection;
  readonly #sessions = new Set<EngineSession>();

  private constructor(
    instance: DuckDBInstance,
    admin: DuckDBConnection,
    readonly account: string,
  ) {
    this.#instance = instance;
    this.#admin = new SerialConnection(admin);
  }

  /** `threads: 1` keeps a statement on the calling worker; DuckDB's default pool costs ~19 ms a query on 2 cores. */
  static async create(options: { threads?: number; account?: string; timezone?: string } = {}): Promise<SqlEngine> {
    const instance = await DuckDBInstance.create(':memory:', { threads: String(options.threads ?? 1) });
    const admin = await instance.connect();
    // The session TIMEZONE parameter: TIMESTAMP_LTZ values render and compare in it.
    await admin.run(`SET GLOBAL TimeZone = '${(options.timezone ?? 'UTC').replace(/'/g, "''")}'`);
    await admin.run(`CREATE TABLE ${VIEW_REGISTRY} (database_name VARCHAR, schema_name VARCHAR, view_name VARCHAR, text VARCHAR, secure BOOLEAN, owner VARCHAR, created TIMESTAMPTZ)`);
    return new SqlEngine(instance, admin, options.account ?? 'EMULATOR');
  }

  async hasDatabase(name: string): Promise<boolean> {
    const r = await this.#admin.run((c) => c.runAndReadAll('SELECT 1 FROM duckdb_databases() WHERE database_name = $1', [name]));
    return r.currentRowCount > 0 && !INTERNAL_DATABASES.has(name);
  }

  async hasSchema(database: string, schema: string): Promise<boolean> {
    const r = await this.#admin.run((c) =>
      c.runAndReadAll('SELECT 1 FROM duckdb_schemas() WHERE database_name = $1 AND schema_name = $2', [database, schema]),
    );
    return r.currentRowCount > 0;
  }

  /** CREATE DATABASE: an in-memory catalog with a PUBLIC schema, as Snowflake creates one. */
  async createDatabase(name: string, options: { orReplace?: boolean; ifNotExists?: boolean } = {}): Promise<void> {
    if (INTERNAL_DATABASES.has(name.toLowerCase())) throw sfError.alreadyExists(name);
    const exists = await this.hasDatabase(name);
    if (exists && options.ifNotExists) return;
    if (exists && !options.orReplace) throw sfError.alreadyExists(name);
    await this.#admin.run(async (c) => {
      if (exists) await c.run(`DETACH DATABASE ${quoteIdent(name)}`);
      await c.run(`ATTACH ':memory:' AS ${quoteIdent(name)}`);
      await c.run(`CREATE SCHEMA ${quoteIdent(name)}."PUBLIC"`);
      for (const sql of infoSchemaViews(name)) await c.run(sql);
    });
  }

  /** A CREATE VIEW ran: what Snowflake keeps of it (INFORMATION_SCHEMA.VIEWS, SHOW VIEWS). */
  async recordView(v: CreatedView, owner: string): Promise<void> {
    await this.#admin.run(async (c) => {
      await c.run(`DELETE FROM ${VIEW_REGISTRY} WHERE database_name = $1 AND schema_name = $2 AND view_name = $3`, [v.database, v.schema, v.name]);
      await c.run(`INSERT INTO ${VIEW_REGISTRY} VALUES ($1, $2, $3, $4, $5, $6, get_current_timestamp())`, [v.database, v.schema, v.name, v.text, v.secure, owner]);
    });
  }

  async dropDatabase(name: string, options: { ifExists?: boolean } = {}): Promise<void> {
    if (!(await this.hasDatabase(name))) {
      if (options.ifExists) return;
      throw sfError.objectNotFound(name);
    }
    for (const s of this.#sessions) await s.leaveDatabase(name);
    await this.#admin.run(async (c) => {
      await c.run(`DETACH DATABASE ${quoteIdent(name)}`);
      await c.run(`DROP SCHEMA IF EXISTS memory.${quoteIdent(infoSchemaOf(name))} CASCADE`);
      await c.run(`DELETE FROM ${VIEW_REGISTRY} WHERE database_name = $1`, [name]);
    });
  }

  /** A DuckDB connection for one Snowflake session, with the macros and the session's current database/schema. */
  async openSession(ctx: EngineContext): Promise<EngineSession> {
    const conn = await this.#instance.connect();
    for (const m of MACROS) await conn.run(m);
    const s = new EngineSession(this, conn, ctx);
    await s.syncRole();
    await s.syncCurrent();
    this.#sessions.add(s);
    return s;
  }

  /** @internal */
  forget(s: EngineSession): void {
    this.#sessions.delete(s);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#sessions].map((s) => s.close()));
    await this.#admin.run(async (c) => c.closeSync());
    this.#instance.closeSync();
  }
}

/** Statements of one Snowflake session. */
export class EngineSession {
  readonly #engine: SqlEngine;
  readonly #serial: SerialConnection;
  readonly #ctx: EngineContext;
  #closed = false;
  /** Inside BEGIN … COMMIT/ROLLBACK: array binds then run in the session's transaction, not their own. */
  #inTransaction = false;

  constructor(engine: SqlEngine, conn: DuckDBConnection, ctx: EngineContext) {
    this.#engine = engine;
    this.#serial = new SerialConnection(conn);
    this.#ctx = ctx;
  }

  /**
   * Runs a query-request's SQL. Rejects with SnowflakeError; an aborted `signal` interrupts DuckDB (or the
   * SYSTEM$WAIT timer) and rejects with 000604.
   */
  async execute(req: ExecuteRequest): Promise<StatementResult> {
    const { plans, bindKeys } = planRequest(req.sqlText, this.#snapshot());
    const wanted = req.multiStatementCount ?? 1;
    if (wanted !== 0 && plans.length !== wanted) throw sfError.statementCount(plans.length, wanted);
    const binds = bindKeys.length > 0 ? resolveBinds(bindKeys, req.bindings ?? {}) : null;
    let last: StatementResult | null = null;
    for (const plan of plans) {
      if (req.signal?.aborted) throw sfError.canceled();
      last = await this.#runPlan(plan, binds, req);
    }
    return last!;
  }

  /** Closes the DuckDB connection after whatever is queued on it. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#engine.forget(this);
    return this.#serial.run(async (c) => c.closeSync()).catch(() => undefined);
  }

  /** Tells DuckDB the session's role (INFORMATION_SCHEMA.VIEWS shows a secure view's text to its owner only). */
  async syncRole(): Promise<void> {
    await this.#serial.run((c) => c.run(`SET VARIABLE sf_role = '${this.#ctx.role.replace(/'/g, "''")}'`));
  }

  /** Points DuckDB at the session's current database and schema. */
  async syncCurrent(): Promise<void> {
    const { database, schema } = this.#ctx;
    if (!database) return;
    const target = schema ? `${quoteIdent(database)}.${quoteIdent(schema)}` : quoteIdent(database);
    await this.#serial.run((c) => c.run(`USE ${target}`));
  }

  /** The database is being dropped: Snowflake sessions keep running without a current database. */
  async leaveDatabase(name: string): Promise<void> {
    if (this.#ctx.database !== name) return;
    this.#ctx.database = null;
    this.#ctx.schema = null;
    await this.#serial.run((c) => c.run('USE memory.main'));
  }

  #snapshot(): SessionContext {
    const c = this.#ctx;
    return { database: c.database, schema: c.schema, warehouse: c.warehouse, role: c.role, user: c.user, account: this.#engine.account, sessionId: c.id };
  }

  async #runPlan(plan: Plan, binds: ResolvedBinds | null, req: ExecuteRequest): Promise<StatementResult> {
    if (req.describeOnly && plan.kind !== 'duckdb') return status(OK_STATUS, StatementType.SESSION, true);
    switch (plan.kind) {
      case 'duckdb': {
        if (req.describeOnly) return this.#describe(plan);
        const r = await this.#runDuck(plan, binds, req.signal);
        if (plan.view) await this.#engine.recordView(plan.view, this.#ctx.role);
        return r;
      }
      case 'use':
        return this.#use(plan.object, plan.name);
      case 'alter-session':
        for (const [k, v] of plan.set) {
          this.#ctx.parameters.set(k, v);
          if (k === 'TIMEZONE') await this.#serial.run((c) => c.run(`SET TimeZone = '${String(v).replace(/'/g, "''")}'`));
        }
        for (const k of plan.unset) this.#ctx.parameters.delete(k);
        return status(OK_STATUS, StatementType.SESSION);
      case 'create-database': {
        await this.#engine.createDatabase(plan.name, plan);
        // Snowflake makes a new database (and its PUBLIC schema) current.
        this.#ctx.database = plan.name;
        this.#ctx.schema = 'PUBLIC';
        await this.syncCurrent();
        return status(`Database ${plan.name} successfully created.`, StatementType.DDL);
      }
      case 'drop-database':
        await this.#engine.dropDatabase(plan.name, plan);
        return status(`${plan.name} successfully dropped.`, StatementType.DDL);
      case 'transaction':
        await this.#serial.run(async (c) => {
          // Snowflake ignores BEGIN inside a transaction and COMMIT/ROLLBACK outside one; DuckDB would fail.
          if ((plan.op === 'BEGIN') === this.#inTransaction) return;
          await c.run(plan.op === 'BEGIN' ? 'BEGIN TRANSACTION' : plan.op);
          this.#inTransaction = plan.op === 'BEGIN';
        });
        return status(OK_STATUS, StatementType.TRANSACTION);
      case 'show':
        return this.#show(plan);
      case 'describe':
        return this.#describeTable(plan.name);
    }
  }

  async #runDuck(plan: Extract<Plan, { kind: 'duckdb' }>, binds: ResolvedBinds | null, signal: AbortSignal | undefined): Promise<StatementResult> {
    if (plan.waitMs > 0) await abortableSleep(plan.waitMs, signal);
    return this.#serial.run(async (conn) => {
      if (signal?.aborted) throw sfError.canceled();
      const onAbort = () => conn.interrupt();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        if (binds && binds.rows > 1) return await this.#runArrayBind(conn, plan, binds);
        const values = binds ? binds.values.map((col) => col[0]!) : undefined;
        const reader = await conn.runAndReadAll(plan.sql, values?.map((v) => v.value), values ? bindTypes(values) : undefined);
        return await this.#readResult(conn, plan, reader);
      } catch (e) {
        if (signal?.aborted) throw sfError.canceled();
        throw duckError(e);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    });
  }

  /** Array binding: the statement once per row, in one transaction; the counts add up (a multi-row INSERT). */
  async #runArrayBind(conn: DuckDBConnection, plan: Extract<Plan, { kind: 'duckdb' }>, binds: ResolvedBinds): Promise<StatementResult> {
    const stmt = await conn.prepare(plan.sql);
    let changed = 0;
    const own = !this.#inTransaction;
    try {
      if (own) await conn.run('BEGIN TRANSACTION');
      for (let r = 0; r < binds.rows; r++) {
        const row = binds.values.map((col) => col[r] ?? { value: null, type: undefined });
        stmt.bind(row.map((v) => v.value), bindTypes(row));
        const res = await stmt.run();
        changed += Number(res.rowsChanged);
      }
      if (own) await conn.run('COMMIT');
    } catch (e) {
      if (own) await conn.run('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      stmt.destroySync();
    }
    return dmlResult(plan.statementTypeId, changed);
  }

  async #readResult(conn: DuckDBConnection, plan: Extract<Plan, { kind: 'duckdb' }>, reader: DuckDBResultReader): Promise<StatementResult> {
    const t = plan.statementTypeId;
    if (t >= 0x3000 && t < 0x4000) return dmlResult(t, reader.rowsChanged);
    if (plan.status !== null) return status(plan.status, t);
    const names = reader.columnNames();
    const types = reader.columnTypes();
    const origins = plan.table ? await this.#origins(conn, plan.table, names) : null;
    const rowtype = names.map((n, i) => rowTypeOf(n, types[i]!, origins?.get(n) ?? null));
    const raw = reader.getRows();
    const rows: Cell[][] = new Array(raw.length);
    for (let r = 0; r < raw.length; r++) {
      const src = raw[r]!;
      const out: Cell[] = new Array(src.length);
      for (let c = 0; c < src.length; c++) out[c] = encodeCell(src[c]!, types[c]!);
      rows[r] = out;
    }
    return { rowtype, rows, statementTypeId: t };
  }

  /** rowtype database/schema/table/nullable for the columns of a single-table SELECT. */
  async #origins(conn: DuckDBConnection, table: TableRef, names: string[]): Promise<Map<string, ColumnOrigin> | null> {
    const database = table.database ?? this.#ctx.database;
    const schema = table.schema ?? this.#ctx.schema ?? 'PUBLIC';
    if (!database) return null;
    const r = await conn.runAndReadAll(
      'SELECT column_name, is_nullable FROM duckdb_columns() WHERE database_name = $1 AND schema_name = $2 AND table_name = $3',
      [database, schema, table.name],
    );
    const out = new Map<string, ColumnOrigin>();
    const wanted = new Set(names);
    for (const [col, nullable] of r.getRows() as Array<[string, boolean]>) {
      if (wanted.has(col)) out.set(col, { database, schema, table: table.name, nullable });
    }
    return out;
  }

  async #describe(plan: Extract<Plan, { kind: 'duckdb' }>): Promise<StatementResult> {
    const t = plan.statementTypeId;
    if (t >= 0x3000 && t < 0x4000) return { ...dmlResult(t, 0), rows: [] };
    if (plan.status !== null) return { ...status(plan.status, t), rows: [] };
    return this.#serial.run(async (conn) => {
      try {
        const stmt = await conn.prepare(plan.sql);
        try {
          const rowtype: RowType[] = [];
          for (let i = 0; i < stmt.columnCount; i++) rowtype.push(rowTypeOf(stmt.columnName(i), stmt.columnType(i)));
          return { rowtype, rows: [], statementTypeId: t };
        } finally {
          stmt.destroySync();
        }
      } catch (e) {
        throw duckError(e);
      }
    });
  }

  async #use(object: 'DATABASE' | 'SCHEMA' | 'WAREHOUSE' | 'ROLE', name: string[]): Promise<StatementResult> {
    const ctx = this.#ctx;
    switch (object) {
      case 'DATABASE': {
        const db = name[0]!;
        if (!(await this.#engine.hasDatabase(db))) throw sfError.objectNotFound(db);
        ctx.database = db;
        ctx.schema = (await this.#engine.hasSchema(db, 'PUBLIC')) ? 'PUBLIC' : null;
        break;
      }
      case 'SCHEMA': {
        const db = name.length > 1 ? name[0]! : ctx.database;
        const schema = name[name.length - 1]!;
        if (!db || !(await this.#engine.hasSchema(db, schema))) throw sfError.objectNotFound(db ? `${db}.${schema}` : schema);
        ctx.database = db;
        ctx.schema = schema;
        break;
      }
      case 'WAREHOUSE':
        ctx.warehouse = name[0]!;
        return status(OK_STATUS, StatementType.SESSION);
      case 'ROLE': {
        const role = name[0]!;
        if (ctx.grantedRoles && !ctx.grantedRoles.includes(role) && role !== 'PUBLIC') throw sfError.objectNotFound(role);
        ctx.role = role;
        await this.syncRole();
        return status(OK_STATUS, StatementType.SESSION);
      }
    }
    await this.syncCurrent();
    return status(OK_STATUS, StatementType.SESSION);
  }

  /** SHOW DATABASES / SCHEMAS / TABLES / VIEWS / COLUMNS with Snowflake's lower-case column names (a subset). */
  async #show(plan: Extract<Plan, { kind: 'show' }>): Promise<StatementResult> {
    const { object, like, scope } = plan;
    let db: string | null = this.#ctx.database;
    let schema: string | null = object === 'SCHEMAS' ? null : this.#ctx.schema;
    if (scope?.kind === 'ACCOUNT') {
      db = null;
      schema = null;
    } else if (scope && (scope.kind === 'SCHEMA' || (scope.kind === null && scope.name.length > 1))) {
      db = scope.name.length > 1 ? scope.name[0]! : this.#ctx.database;
      schema = scope.name[scope.name.length - 1]!;
    } else if (scope) {
      db = scope.name[0] ?? db;
      schema = null;
    }
    const params: string[] = [];
    const filters: string[] = [];
    const p = (v: string) => {
      params.push(v);
      return `$${params.length}`;
    };
    let sql: string;
    const created = `TIMESTAMPTZ '2026-01-05 09:00:00+00'`;
    switch (object) {
      case 'DATABASES':
        sql = `SELECT ${created} AS "created_on", database_name AS "name", CASE WHEN database_name = ${p(this.#ctx.database ?? '')} THEN 'Y' ELSE 'N' END AS "is_current", '' AS "origin", 'ACCOUNTADMIN' AS "owner", '' AS "comment", 'STANDARD' AS "kind"
               FROM duckdb_databases() WHERE database_name NOT IN ('memory', 'system', 'temp')`;
        if (like !== null) filters.push(`database_name ILIKE ${p(like)}`);
        break;
      case 'SCHEMAS':
        sql = `SELECT ${created} AS "created_on", schema_name AS "name", database_name AS "database_name", 'ACCOUNTADMIN' AS "owner", '' AS "comment"
               FROM duckdb_schemas() WHERE schema_name NOT IN ('main', 'pg_catalog', 'information_schema') AND NOT internal AND ${NOT_INTERNAL_DB}`;
        if (db) filters.push(`database_name = ${p(db)}`);
        if (like !== null) filters.push(`schema_name ILIKE ${p(like)}`);
        break;
      case 'TABLES':
        sql = `SELECT ${created} AS "created_on", table_name AS "name", database_name AS "database_name", schema_name AS "schema_name", 'TABLE' AS "kind", coalesce(comment, '') AS "comment", estimated_size::BIGINT AS "rows", 'ACCOUNTADMIN' AS "owner"
               FROM duckdb_tables() WHERE NOT temporary AND ${NOT_INTERNAL_DB}`;
        break;
      case 'VIEWS':
        sql = `SELECT ${created} AS "created_on", view_name AS "name", database_name AS "database_name", schema_name AS "schema_name", coalesce(r.owner, 'ACCOUNTADMIN') AS "owner", coalesce(comment, '') AS "comment",
                      CASE WHEN coalesce(r.secure, false) AND coalesce(r.owner, 'ACCOUNTADMIN') <> getvariable('sf_role') THEN '' ELSE coalesce(r.text, sql) END AS "text", CASE WHEN coalesce(r.secure, false) THEN 'true' ELSE 'false' END AS "is_secure"
               FROM duckdb_views() LEFT JOIN ${VIEW_REGISTRY} r USING (database_name, schema_name, view_name) WHERE NOT internal AND ${NOT_INTERNAL_DB}`;
        break;
      case 'COLUMNS':
        sql = `SELECT table_name AS "table_name", schema_name AS "schema_name", column_name AS "column_name", data_type AS "data_type", CASE WHEN is_nullable THEN 'true' ELSE 'false' END AS "null?", coalesce(column_default, '') AS "default", 'COLUMN' AS "kind", database_name AS "database_name"
               FROM duckdb_columns() WHERE NOT internal AND ${NOT_INTERNAL_DB}`;
        break;
    }
    if (object !== 'DATABASES' && object !== 'SCHEMAS') {
      if (db) filters.push(`database_name = ${p(db)}`);
      if (schema) filters.push(`schema_name = ${p(schema)}`);
      const nameCol = object === 'TABLES' ? 'table_name' : object === 'VIEWS' ? 'view_name' : 'column_name';
      if (like !== null) filters.push(`${nameCol} ILIKE ${p(like)}`);
    }
    const full = `${sql}${filters.length ? ` AND ${filters.join(' AND ')}` : ''} ORDER BY ALL`;
    return this.#serial.run(async (conn) => {
      const reader = await conn.runAndReadAll(full, params);
      const types = reader.columnTypes();
      return {
        rowtype: reader.columnNames().map((n, i) => rowTypeOf(n, types[i]!)),
        rows: reader.getRows().map((row) => row.map((v, i) => encodeCell(v, types[i]!))),
        statementTypeId: StatementType.SESSION,
      };
    });
  }

  /** DESCRIBE TABLE: one row per column with Snowflake's type names. */
  async #describeTable(name: string[]): Promise<StatementResult> {
    const table = name[name.length - 1]!;
    const schema = name.length > 1 ? name[name.length - 2]! : (this.#ctx.schema ?? 'PUBLIC');
    const db = name.length > 2 ? name[0]! : this.#ctx.database;
    if (!db) throw sfError.objectNotFound(table);
    const target = `${quoteIdent(db)}.${quoteIdent(schema)}.${quoteIdent(table)}`;
    return this.#serial.run(async (conn) => {
      let stmt;
      try {
        stmt = await conn.prepare(`SELECT * FROM ${target}`);
      } catch {
        throw sfError.objectNotFound(`${db}.${schema}.${table}`);
      }
      try {
        const nulls = await conn.runAndReadAll(
          'SELECT column_name, is_nullable, column_default FROM duckdb_columns() WHERE database_name = $1 AND schema_name = $2 AND table_name = $3',
          [db, schema, table],
        );
        const meta = new Map((nulls.getRows() as Array<[string, boolean, string | null]>).map(([c, n, d]) => [c, { n, d }]));
        const cols = ['name', 'type', 'kind', 'null?', 'default', 'primary key', 'unique key', 'check', 'expression', 'comment'];
        const rows: Cell[][] = [];
        for (let i = 0; i < stmt.columnCount; i++) {
          const col = stmt.columnName(i);
          const m = meta.get(col);
          rows.push([col, snowflakeTypeText(stmt.columnType(i)), 'COLUMN', m?.n === false ? 'N' : 'Y', m?.d ?? null, 'N', 'N', null, null, null]);
        }
        return { rowtype: cols.map((c) => statusRowType(c)), rows, statementTypeId: StatementType.SESSION };
      } finally {
        stmt.destroySync();
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Binds

interface DuckBind {
  value: DuckDBValue;
  /** Undefined for text: DuckDB then types the parameter from where it stands (a date column, a number…). */
  type: DuckDBType | undefined;
}

interface ResolvedBinds {
  /** One column of values per bind marker; more than one row for an array bind. */
  values: DuckBind[][];
  rows: number;
}

/** node-api infers the type of an `undefined` entry from its value (text → VARCHAR, cast where it stands). */
function bindTypes(row: DuckBind[]): DuckDBType[] {
  return row.map((v) => v.type) as DuckDBType[];
}

function resolveBinds(keys: string[], bindings: Bindings): ResolvedBinds {
  let rows = 1;
  const values = keys.map((key) => {
    const b = bindings[key];
    if (!b) throw new SnowflakeError(SfCode.SYNTAX_ERROR, `SQL compilation error:\nBind variable ${/^\d+$/.test(key) ? '?' : `:${key}`} not set.`, '42601');
    if (Array.isArray(b.value)) {
      rows = Math.max(rows, b.value.length);
      return b.value.map((v) => toDuck(b.type, v));
    }
    return [toDuck(b.type, b.value)];
  });
  // A scalar bind next to array binds repeats on every row.
  for (const col of values) while (col.length < rows) col.push(col[0]!);
  return { values, rows };
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * A driver's bind → a DuckDB parameter. Values arrive as text: FIXED digits, REAL, BOOLEAN, DATE as epoch
 * milliseconds, TIME as nanoseconds since midnight, TIMESTAMP_* as epoch nanoseconds (gosnowflake), BINARY as hex.
 */
function toDuck(type: string, value: string | null): DuckBind {
  if (value === null) return { value: null, type: undefined };
  switch (type.toUpperCase()) {
    case 'FIXED':
      if (/^-?\d+$/.test(value)) {
        const n = BigInt(value);
        return { value: n, type: n >= INT64_MIN && n <= INT64_MAX ? BIGINT : HUGEINT };
      }
      return Number.isFinite(Number(value)) ? { value: Number(value), type: DOUBLE } : { value, type: undefined };
    case 'REAL':
      return { value: Number(value), type: DOUBLE };
    case 'BOOLEAN':
      return { value: /^(true|1|t|yes|y|on)$/i.test(value), type: BOOLEAN };
    case 'DATE':
      return /^-?\d+$/.test(value) ? { value: new DuckDBDateValue(Math.floor(Number(value) / 86_400_000)), type: DATE } : { value, type: undefined };
    case 'TIME':
      return /^\d+$/.test(value) ? { value: new DuckDBTimeValue(BigInt(value) / 1000n), type: TIME } : { value, type: undefined };
    case 'TIMESTAMP_NTZ':
    case 'TIMESTAMP':
      return /^-?\d+$/.test(value) ? { value: new DuckDBTimestampValue(BigInt(value) / 1000n), type: TIMESTAMP } : { value, type: undefined };
    case 'TIMESTAMP_LTZ':
    case 'TIMESTAMP_TZ': {
      const ns = value.split(' ')[0]!;
      return /^-?\d+$/.test(ns) ? { value: new DuckDBTimestampTZValue(BigInt(ns) / 1000n), type: TIMESTAMPTZ } : { value, type: undefined };
    }
    case 'BINARY':
      return { value: new DuckDBBlobValue(Buffer.from(value, 'hex')), type: BLOB };
    default:
      return { value, type: undefined };
  }
}

// ---------------------------------------------------------------------------------------------
// Results and errors

function status(text: string, statementTypeId: number, describeOnly = false): StatementResult {
  return { rowtype: [statusRowType()], rows: describeOnly ? [] : [[text]], statementTypeId };
}

function dmlResult(statementTypeId: number, changed: number | bigint): StatementResult {
  const n = String(changed);
  switch (statementTypeId) {
    case StatementType.INSERT:
      return { rowtype: [countRowType('number of rows inserted')], rows: [[n]], statementTypeId };
    case StatementType.UPDATE:
      return { rowtype: [countRowType('number of rows updated'), countRowType('number of multi-joined rows updated')], rows: [[n, '0']], statementTypeId };
    case StatementType.DELETE:
      return { rowtype: [countRowType('number of rows deleted')], rows: [[n]], statementTypeId };
    case StatementType.MERGE:
      // DuckDB reports one total; Snowflake splits it by action. The total goes in the first column.
      return { rowtype: [countRowType('number of rows inserted'), countRowType('number of rows updated'), countRowType('number of rows deleted')], rows: [[n, '0', '0']], statementTypeId };
    default:
      return { rowtype: [countRowType('rows_loaded')], rows: [[n]], statementTypeId };
  }
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(sfError.canceled());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(sfError.canceled());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A DuckDB failure → Snowflake's code, SQLSTATE and wording. */
export function duckError(e: unknown): SnowflakeError {
  if (e instanceof SnowflakeError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const first = msg.split('\n')[0] ?? msg;
  let m: RegExpExecArray | null;
  if ((m = /^Catalog Error: (?:Table|View|Schema|Table Function) with name "?([^"!\s]+)"? does not exist/.exec(first))) return sfError.objectNotFound(m[1]!);
  if ((m = /^(?:Binder|Catalog) Error: (?:Catalog|Schema) "?([^"!\s]+)"? does not exist/.exec(first))) return sfError.objectNotFound(m[1]!);
  if ((m = /^Catalog Error: (?:Scalar|Aggregate) Function with name "?([^"!\s]+)"? does not exist/.exec(first))) return sfError.unknownFunction(m[1]!.toUpperCase());
  if ((m = /^Catalog Error: .* with name "?([^"\s]+)"? already exists/.exec(first))) return sfError.alreadyExists(m[1]!);
  if ((m = /^Binder Error: Referenced column "?([^"\s]+)"? not found/.exec(first))) return sfError.invalidIdentifier(m[1]!);
  if (/^Parser Error:/.test(first)) return sfError.syntax(first.replace(/^Parser Error:\s*/, ''));
  if (/^INTERRUPT Error/.test(first)) return sfError.canceled();
  if (/Division by zero|divide by zero/i.test(first)) return new SnowflakeError(SfCode.DIVISION_BY_ZERO, 'Division by zero', '22012', 200, { cause: e });
  if (/^Constraint Error: NOT NULL constraint failed/.test(first)) return new SnowflakeError(SfCode.NULL_IN_NOT_NULL, 'NULL result in a non-nullable column', '22000', 200, { cause: e });
  if (/^Conversion Error:/.test(first)) {
    const v = /string '([^']*)'/.exec(first)?.[1];
    return new SnowflakeError(SfCode.VALUE_NOT_RECOGNIZED, v !== undefined ? `Numeric value '${v}' is not recognized` : first.replace(/^Conversion Error:\s*/, ''), '22018', 200, { cause: e });
  }
  if (/^Binder Error:/.test(first)) return new SnowflakeError(SfCode.SYNTAX_ERROR, `SQL compilation error:\n${first.replace(/^Binder Error:\s*/, '')}`, '42000', 200, { cause: e });
  return new SnowflakeError(SfCode.EXECUTION_ERROR, `SQL execution error: ${first}`, '22000', 200, { cause: e });
}
