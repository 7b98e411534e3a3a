// The Snowflake upstream: a session opened with `snowflake-sdk` under a key pair the gateway holds
// (SNOWFLAKE_JWT, https://docs.snowflake.com/en/user-guide/key-pair-auth), statements run with their binds,
// every value returned as text (the masking layer reads text) with the rowtype of each column. Clients never
// see these credentials or Snowflake's tokens. Knows nothing of policy.
import type snowflake from 'snowflake-sdk';
import { SqlState } from '../../../engine/sqlstate.ts';
import { SnowflakeUpstreamError } from './errors.ts';

/** One Snowflake account as the gateway reaches it. */
export interface SnowflakeTarget {
  name: string;
  /** Account identifier (`myorg-myaccount`). */
  account: string;
  user: string;
  /** PEM of the user's private key (PKCS#8), resolved from its secret reference. */
  privateKey: string;
  /** Base URL when it is not https://<account>.snowflakecomputing.com (a private link, or a local emulator). */
  accessUrl?: string;
  warehouse?: string;
  database: string;
  schema?: string;
  /** Default 60. */
  loginTimeoutSeconds?: number;
}

/** A result column as Snowflake describes it (rowtype). */
export interface SnowflakeColumn {
  name: string;
  /** Snowflake's type name, lower case: fixed, real, text, date, timestamp_ntz, boolean, variant, … */
  type: string;
  precision: number | null;
  scale: number | null;
  nullable: boolean;
}

export interface SnowflakeResult {
  queryId: string;
  columns: SnowflakeColumn[];
  /** Values as Snowflake's text form; null is SQL NULL. */
  rows: (string | null)[][];
  /** Rows inserted/updated/deleted, for DML; null otherwise. */
  rowsAffected: number | null;
}

/** A bind value as Snowflake's drivers send it: `{ type: 'TEXT', value: '…' }`, an array for array binds. */
export type SnowflakeBind = string | number | boolean | null | (string | number | boolean | null)[];

const FULL_PRECISION = `ALTER SESSION SET TIMESTAMP_OUTPUT_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9 TZHTZM', TIMESTAMP_NTZ_OUTPUT_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9', TIMESTAMP_LTZ_OUTPUT_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9 TZHTZM', TIMESTAMP_TZ_OUTPUT_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF9 TZHTZM', TIME_OUTPUT_FORMAT = 'HH24:MI:SS.FF9'`;

const ALL_AS_TEXT: snowflake.DataType[] = ['String', 'Boolean', 'Number', 'Date', 'JSON', 'Buffer'];

let sdk: Promise<typeof snowflake> | null = null;

/**
 * snowflake-sdk, loaded on first use: importing it loads the AWS SDK, which warns on stderr about the Node
 * version — in every `verdict` command and every gateway without a Snowflake upstream, otherwise.
 */
function snowflakeSdk(): Promise<typeof snowflake> {
  sdk ??= import('snowflake-sdk').then((m) => {
    const s = m.default;
    // The SDK logs every login at INFO on stdout; the gateway reports what matters in its own log.
    s.configure({ logLevel: 'ERROR' });
    return s;
  });
  return sdk;
}

function upstreamError(err: snowflake.SnowflakeError | Error, prefix: string): SnowflakeUpstreamError {
  const e = err as snowflake.SnowflakeError;
  return new SnowflakeUpstreamError(`${prefix}${e.message}`, e.code !== undefined ? String(e.code) : null, e.sqlState ?? null, e.isFatal ?? false);
}

/**
 * One upstream Snowflake session as `role`.
 *
 * @example
 * const s = await SnowflakeSession.open(target, { role: 'ANALYST' });
 * const r = await s.execute('SELECT name FROM patients WHERE id = ?', ['7']);
 * await s.close();
 */
export class SnowflakeSession {
  readonly #conn: snowflake.Connection;
  #closed = false;

  private constructor(conn: snowflake.Connection) {
    this.#conn = conn;
  }

  /**
   * Logs in (key-pair JWT). Rejects with SnowflakeUpstreamError when the login fails — checked through the
   * callback: the SDK's promise form resolves even then.
   */
  static async open(target: SnowflakeTarget, options: { role?: string | null; application?: string } = {}): Promise<SnowflakeSession> {
    const conn = (await snowflakeSdk()).createConnection({
      account: target.account,
      username: target.user,
      authenticator: 'SNOWFLAKE_JWT',
      privateKey: target.privateKey,
      database: target.database,
      ...(target.accessUrl ? { accessUrl: target.accessUrl } : {}),
      ...(target.warehouse ? { warehouse: target.warehouse } : {}),
      ...(target.schema ? { schema: target.schema } : {}),
      ...(options.role ? { role: options.role } : {}),
      application: options.application ?? 'Verdict',
      timeout: (target.loginTimeoutSeconds ?? 60) * 1000,
      // With values fetched as text the SDK renders SQL NULL as the string 'NULL' unless told not to (a setting
      // that is global to the SDK): NULL must stay null, distinct from the text 'NULL'.
      representNullAsStringNull: false,
    });
    await new Promise<void>((resolve, reject) => {
      conn.connect((err) => (err ? reject(upstreamError(err, `login to Snowflake account ${target.account} failed: `)) : resolve()));
    });
    const session = new SnowflakeSession(conn);
    try {
      // Values come back as text in the session's output formats, whose defaults stop at milliseconds: ask for all
      // nine fractional digits Snowflake keeps, so times and timestamps reach clients without losing precision.
      await session.execute(FULL_PRECISION);
    } catch (err) {
      await session.close();
      throw err;
    }
    return session;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs one statement with positional binds (`?`, `:1`). Every value comes back as text. `signal` cancels the
   * statement on Snowflake. `describeOnly`: the columns without running it.
   */
  execute(sql: string, binds: readonly SnowflakeBind[] = [], options: { signal?: AbortSignal; describeOnly?: boolean } = {}): Promise<SnowflakeResult> {
    if (this.#closed) return Promise.reject(new SnowflakeUpstreamError('the Snowflake session is closed', null, SqlState.ConnectionDoesNotExist, true));
    return new Promise((resolve, reject) => {
      const statement = this.#conn.execute({
        sqlText: sql,
        binds: sdkBinds(binds),
        fetchAsString: ALL_AS_TEXT,
        rowMode: 'array',
        ...(options.describeOnly ? { describeOnly: true } : {}),
        complete: (err, stmt, rows) => {
          options.signal?.removeEventListener('abort', onAbort);
          if (err) return reject(upstreamError(err, ''));
          const columns = (stmt.getColumns() ?? []).map((c) => ({
            name: c.getName(),
            type: c.getType().toLowerCase(),
            precision: numberOrNull(c.getPrecision()),
            scale: numberOrNull(c.getScale()),
            nullable: c.isNullable(),
          }));
          const updated = stmt.getNumUpdatedRows();
          resolve({
            queryId: stmt.getQueryId(),
            columns,
            rows: ((rows ?? []) as unknown[][]).map((row) => row.map((v) => (v === null || v === undefined ? null : String(v)))),
            rowsAffected: typeof updated === 'number' ? updated : null,
          });
        },
      });
      const onAbort = () => statement.cancel();
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Logs out and ends the session. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve) => this.#conn.destroy(() => resolve()));
  }
}

/**
 * Binds per marker (an array = an array bind, one value per row) → snowflake-sdk's form: positional values, or for
 * array binds one array per row (a scalar next to arrays repeats on every row, as Snowflake takes it).
 */
export function sdkBinds(binds: readonly SnowflakeBind[]): snowflake.Binds {
  const rows = binds.reduce<number>((n, b) => (Array.isArray(b) ? Math.max(n, b.length) : n), -1);
  if (rows < 0) return binds as snowflake.Binds;
  const out: (string | number | boolean | null)[][] = [];
  for (let r = 0; r < rows; r++) out.push(binds.map((b) => (Array.isArray(b) ? (b[r] ?? null) : b)));
  return out as snowflake.Binds;
}

function numberOrNull(n: unknown): number | null {
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}
