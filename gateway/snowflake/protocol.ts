// Facts of Snowflake's published REST protocol that the door and the local Snowflake (the emulator) both speak:
// error codes and the failure body, rowtype metadata, value text forms, session parameters, chunk and body encoding.
// Production code: the emulator imports this module, never the other way round.
import { gunzipSync, gzipSync } from 'node:zlib';

/** Snowflake error codes. 39xxxx are session and login codes; 333333/4 mean "still running", not a failure. */
export const SfCode = {
  /** A login with a wrong user or password, or an authenticator or account that is not accepted. */
  INCORRECT_USERNAME_PASSWORD: '390100',
  /** No `Authorization: Snowflake Token="…"` header (HTTP 401). */
  AUTH_HEADER_MISSING: '390101',
  /** A session or master token the server did not issue (HTTP 401). */
  SESSION_TOKEN_INVALID: '390104',
  /** The session was logged out or ended. */
  GONE_SESSION: '390111',
  /** The session token expired: drivers renew it with the master token and retry. */
  SESSION_TOKEN_EXPIRED: '390112',
  /** The master token expired: log in again. */
  MASTER_TOKEN_EXPIRED: '390114',
  /** Key-pair login with a JWT that does not verify (signature, issuer, fingerprint, lifetime). */
  JWT_INVALID: '390144',
  /** The role asked for at login is not granted to the user. */
  ROLE_NOT_AUTHORIZED: '390189',
  /** The service cannot answer (an upstream that cannot be reached, evidence that cannot be written). */
  SERVICE_UNAVAILABLE: '390201',
  /** An OAuth token the server does not accept. */
  OAUTH_TOKEN_INVALID: '390303',
  /** The request body is not what the endpoint takes. */
  BAD_REQUEST: '390400',
  /** Still running; poll `getResultUrl` (a synchronous request that outlived the server's wait). */
  QUERY_IN_PROGRESS: '333333',
  /** Still running; submitted with `asyncExec`. */
  QUERY_IN_PROGRESS_ASYNC: '333334',
  /** Several statements in one request (without a matching MULTI_STATEMENT_COUNT). */
  STATEMENT_COUNT_MISMATCH: '000008',
  /** The statement was cancelled (abort-request). */
  QUERY_CANCELED: '000604',
  /** abort-request for a statement that is not running. */
  QUERY_NOT_EXECUTING: '000605',
  /** A query id (result or status request) the server does not know. */
  QUERY_NOT_FOUND: '000709',
  /** An identifier that does not resolve to a column. */
  INVALID_IDENTIFIER: '000904',
  /** SQL compilation error: syntax. */
  SYNTAX_ERROR: '001003',
  /** An object that already exists. */
  OBJECT_ALREADY_EXISTS: '002002',
  /** Bindings that do not fit the statement's bind variables (a variable not set, names mixed with positions). */
  BIND_MISMATCH: '002049',
  /** Table, view, schema or database missing (or not authorized). */
  OBJECT_NOT_FOUND: '002003',
  /** A feature the server does not support. */
  UNSUPPORTED: '002040',
  /** SQL compilation error: an unknown function. */
  UNKNOWN_FUNCTION: '002140',
  /** Insufficient privileges. */
  INSUFFICIENT_PRIVILEGES: '003001',
  /** Any other failure while the statement runs. */
  EXECUTION_ERROR: '100000',
  /** A value that cannot be converted (numeric, date…). */
  VALUE_NOT_RECOGNIZED: '100038',
  /** Division by zero. */
  DIVISION_BY_ZERO: '100051',
  /** NULL into a NOT NULL column. */
  NULL_IN_NOT_NULL: '100072',
} as const;
export type SfCode = (typeof SfCode)[keyof typeof SfCode];

/** What a failure body needs of an error: Snowflake's code, its text, its SQLSTATE, extra `data` fields. */
export interface SfFailure {
  readonly code: string;
  readonly message: string;
  readonly sqlstate: string;
  readonly extra?: Record<string, unknown>;
}

/**
 * The body of a failure (HTTP 200, or 401 for token problems), exactly as Snowflake writes it.
 *
 * @example
 * errorBody({ code: '000709', message: 'Statement x not found', sqlstate: '02000' }).success // false
 */
export function errorBody(err: SfFailure, queryId: string | null = null): Record<string, unknown> {
  return {
    data: { internalError: false, errorCode: err.code, age: 0, sqlState: err.sqlstate, queryId, line: -1, pos: -1, type: 'COMPILATION', ...err.extra },
    code: err.code,
    message: err.message,
    success: false,
    headers: null,
  };
}

/** Snowflake's statementTypeId values; drivers test the ranges (DML is 0x3000–0x3FFF) to read DML counts. */
export const StatementType = { SELECT: 0x1000, INSERT: 0x3100, UPDATE: 0x3200, DELETE: 0x3300, MERGE: 0x3400, COPY: 0x3000, SESSION: 0x4000, TRANSACTION: 0x5000, DDL: 0x6000 } as const;

/** Column types as `rowtype` names them (lower case). */
export type SnowflakeType =
  | 'fixed'
  | 'real'
  | 'text'
  | 'boolean'
  | 'date'
  | 'time'
  | 'timestamp_ntz'
  | 'timestamp_ltz'
  | 'timestamp_tz'
  | 'binary'
  | 'variant'
  | 'object'
  | 'array';

/** Snowflake's VARCHAR without a length: 16 MB. */
export const MAX_TEXT = 16_777_216;
/** Snowflake's BINARY without a length: 8 MB. */
export const MAX_BINARY = 8_388_608;

/** One column of `rowtype` as Snowflake sends it. */
export interface RowType<T extends string = string> {
  name: string;
  database: string;
  schema: string;
  table: string;
  nullable: boolean;
  type: T;
  length: number | null;
  byteLength: number | null;
  precision: number | null;
  scale: number | null;
  collation: null;
}

/** What a rowtype entry is built from; precision and scale only where the column has its own. */
export interface ColumnFacts<T extends string> {
  name: string;
  type: T;
  nullable: boolean;
  database?: string;
  schema?: string;
  table?: string;
  precision?: number | null;
  scale?: number | null;
}

/**
 * A rowtype entry: NUMBER defaults to (38,0), text-like types carry 16 MB, binary 8 MB, times scale 9.
 *
 * @example
 * rowTypeFor({ name: 'ID', type: 'fixed', nullable: true }).precision // 38
 */
export function rowTypeFor<T extends string>(c: ColumnFacts<T>): RowType<T> {
  const base = { name: c.name, database: c.database ?? '', schema: c.schema ?? '', table: c.table ?? '', nullable: c.nullable, type: c.type, collation: null } as const;
  switch (c.type as string) {
    case 'fixed':
      return { ...base, length: null, byteLength: null, precision: c.precision ?? 38, scale: c.scale ?? 0 };
    case 'text':
    case 'variant':
    case 'object':
    case 'array':
      return { ...base, length: MAX_TEXT, byteLength: MAX_TEXT, precision: null, scale: null };
    case 'binary':
      return { ...base, length: MAX_BINARY, byteLength: MAX_BINARY, precision: null, scale: null };
    case 'time':
    case 'timestamp_ntz':
    case 'timestamp_ltz':
    case 'timestamp_tz':
      return { ...base, length: null, byteLength: null, precision: 0, scale: c.scale ?? 9 };
    default:
      return { ...base, length: null, byteLength: null, precision: c.precision ?? null, scale: c.scale ?? null };
  }
}

/**
 * Nanoseconds → the JSON rowset's text of a time or timestamp: "seconds.nnnnnnnnn" as a signed decimal.
 *
 * @example
 * fractionalSeconds(-1_500_000_000n) // '-1.500000000'
 */
export function fractionalSeconds(nanos: bigint): string {
  const neg = nanos < 0n;
  const abs = neg ? -nanos : nanos;
  return `${neg ? '-' : ''}${abs / 1_000_000_000n}.${(abs % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/**
 * Session parameters sent at login and with every result, in Snowflake's `[{name, value}]` form. The
 * *_QUERY_RESULT_FORMAT ones make every driver ask for JSON; `overrides` replace or add parameters.
 *
 * @example
 * sessionParameterList('UTC', { CLIENT_TELEMETRY_ENABLED: false })
 */
export function sessionParameterList(timezone: string, overrides: Record<string, unknown> = {}): Array<{ name: string; value: unknown }> {
  const p: Record<string, unknown> = {
    TIMEZONE: timezone,
    TIMESTAMP_OUTPUT_FORMAT: 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM',
    TIMESTAMP_NTZ_OUTPUT_FORMAT: 'YYYY-MM-DD HH24:MI:SS.FF3',
    TIMESTAMP_LTZ_OUTPUT_FORMAT: '',
    TIMESTAMP_TZ_OUTPUT_FORMAT: '',
    DATE_OUTPUT_FORMAT: 'YYYY-MM-DD',
    TIME_OUTPUT_FORMAT: 'HH24:MI:SS',
    BINARY_OUTPUT_FORMAT: 'HEX',
    CLIENT_PREFETCH_THREADS: 4,
    CLIENT_RESULT_CHUNK_SIZE: 160,
    CLIENT_SESSION_KEEP_ALIVE: false,
    CLIENT_SESSION_KEEP_ALIVE_HEARTBEAT_FREQUENCY: 3600,
    CLIENT_TELEMETRY_ENABLED: true,
    CLIENT_STAGE_ARRAY_BINDING_THRESHOLD: 65280,
    AUTOCOMMIT: true,
    GO_QUERY_RESULT_FORMAT: 'JSON',
    JDBC_QUERY_RESULT_FORMAT: 'JSON',
    ODBC_QUERY_RESULT_FORMAT: 'JSON',
    PYTHON_CONNECTOR_QUERY_RESULT_FORMAT: 'JSON',
    JS_TREAT_INTEGER_AS_BIGINT: false,
    ...overrides,
  };
  return Object.entries(p).map(([name, value]) => ({ name, value }));
}

/** One downloadable piece of a large result, as the `chunks` array announces it. */
export interface EncodedChunk {
  rowCount: number;
  /** The bytes served at the chunk URL (gzip, or the plain body). */
  body: Buffer;
  gzip: boolean;
  uncompressedSize: number;
  compressedSize: number;
}

/**
 * A chunk's body: the rows' JSON arrays joined by commas WITHOUT the enclosing brackets (drivers add `[` and `]`
 * before parsing), gzipped unless `gzip` is false.
 *
 * @example
 * encodeChunk([['1'], ['2']], false).body.toString() // '["1"],["2"]'
 */
export function encodeChunk(rows: (string | null)[][], gzip = true): EncodedChunk {
  const text = Buffer.from(rows.map((r) => JSON.stringify(r)).join(','), 'utf8');
  const body = gzip ? gzipSync(text) : text;
  return { rowCount: rows.length, body, gzip, uncompressedSize: text.length, compressedSize: body.length };
}

/** The SSE-C headers Snowflake hands out for its S3 result files; drivers send them back on every chunk GET. */
export const SSE_ALGORITHM = 'x-amz-server-side-encryption-customer-algorithm';
export const SSE_KEY = 'x-amz-server-side-encryption-customer-key';

/** What S3 answers to a chunk URL or key it does not accept (HTTP 403). */
export function chunkAccessDenied(): { body: Buffer; headers: Record<string, string> } {
  return { body: Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'), headers: { 'Content-Type': 'application/xml' } };
}

/**
 * A request body's JSON: snowflake-sdk may gzip bodies (Content-Encoding: gzip, or the gzip magic); gosnowflake
 * sends plain JSON. Null for an empty body; throws `notJson()` when the body is not (gzipped) JSON.
 *
 * @example
 * parseRequestBody(Buffer.from('{"a":1}'), undefined, () => new Error('not JSON')) // { a: 1 }
 */
export function parseRequestBody(raw: Buffer, encoding: string | undefined, notJson: () => Error): unknown {
  if (raw.length === 0) return null;
  try {
    return JSON.parse((encoding === 'gzip' || (raw[0] === 0x1f && raw[1] === 0x8b) ? gunzipSync(raw) : raw).toString('utf8')) as unknown;
  } catch {
    throw notJson();
  }
}

/** A statement as the monitoring endpoint describes it. */
export interface MonitoredQuery {
  queryId: string;
  status: string;
  sqlText: string;
  startTime: number;
  endTime: number | null;
  error: { code: string; message: string } | null;
}

/** One entry of `GET /monitoring/queries/:id` (`data.queries[0]`); `now` ends a statement still running. */
export function monitoringEntry(q: MonitoredQuery, sessionId: number | string, producedRows: number, now: number): Record<string, unknown> {
  return {
    id: q.queryId,
    status: q.status,
    state: q.status === 'RUNNING' ? 'RUNNING' : 'SUCCEEDED',
    sqlText: q.sqlText,
    startTime: q.startTime,
    endTime: q.endTime ?? 0,
    totalDuration: (q.endTime ?? now) - q.startTime,
    sessionId,
    errorCode: q.error?.code ?? '',
    errorMessage: q.error?.message ?? '',
    stats: { scanBytes: 0, producedRows },
  };
}
