// The local Snowflake's error vocabulary: Snowflake's own codes and SQLSTATEs, and the two shapes the drivers
// read them in — HTTP 200 `{success:false, code, message, data:{sqlState, queryId}}`, or HTTP 401 for token problems.

/** Snowflake error codes the emulator answers with (GS codes 39xxxx are session/auth, 333333/4 are not errors). */
export const SfCode = {
  /** Login with a wrong user name or password (or a user who may not use that authenticator). */
  INCORRECT_USERNAME_PASSWORD: '390100',
  /** No `Authorization: Snowflake Token="…"` header (HTTP 401). */
  AUTH_HEADER_MISSING: '390101',
  /** The session or master token is not one the server issued (HTTP 401). */
  SESSION_TOKEN_INVALID: '390104',
  /** The session was deleted (logged out). */
  GONE_SESSION: '390111',
  /** The session token expired: drivers renew with the master token and retry. */
  SESSION_TOKEN_EXPIRED: '390112',
  /** The master token expired: a new login is needed. */
  MASTER_TOKEN_EXPIRED: '390114',
  /** Key-pair login with a JWT that does not verify (signature, issuer, fingerprint, lifetime). */
  JWT_INVALID: '390144',
  /** The role asked for at login is not granted to the user. */
  ROLE_NOT_AUTHORIZED: '390189',
  /** OAuth login with a token the authorization server does not accept. */
  OAUTH_TOKEN_INVALID: '390303',
  /** Still running; poll `getResultUrl` (synchronous request that outlived the server's wait). */
  QUERY_IN_PROGRESS: '333333',
  /** Still running; submitted with `asyncExec`. */
  QUERY_IN_PROGRESS_ASYNC: '333334',
  /** Several statements sent without MULTI_STATEMENT_COUNT. */
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
  /** Table, view, schema or database missing (or not authorized). */
  OBJECT_NOT_FOUND: '002003',
  /** SQL compilation error: an unknown function. */
  UNKNOWN_FUNCTION: '002140',
  /** An object that already exists. */
  OBJECT_ALREADY_EXISTS: '002002',
  /** A statement the emulator does not support. */
  UNSUPPORTED: '002040',
  /** A value that cannot be converted (numeric, date…). */
  VALUE_NOT_RECOGNIZED: '100038',
  /** Division by zero. */
  DIVISION_BY_ZERO: '100051',
  /** NULL into a NOT NULL column. */
  NULL_IN_NOT_NULL: '100072',
  /** Any other failure while the statement runs. */
  EXECUTION_ERROR: '100000',
  /** The request body is not what the endpoint takes. */
  BAD_REQUEST: '390400',
} as const;
export type SfCode = (typeof SfCode)[keyof typeof SfCode];

/** An error the emulator reports to a driver in Snowflake's shape. */
export class SnowflakeError extends Error {
  override name = 'SnowflakeError';
  constructor(
    readonly code: SfCode,
    message: string,
    readonly sqlState: string,
    /** 200 for every statement and login error; 401 for missing or unknown tokens, as Snowflake does. */
    readonly httpStatus: 200 | 401 = 200,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Named constructors for the errors the routes and the SQL layer raise. */
export const sfError = {
  incorrectCredentials: () =>
    new SnowflakeError(SfCode.INCORRECT_USERNAME_PASSWORD, 'Incorrect username or password was specified.', '08004'),
  jwtInvalid: () => new SnowflakeError(SfCode.JWT_INVALID, 'JWT token is invalid.', '08004'),
  oauthInvalid: () => new SnowflakeError(SfCode.OAUTH_TOKEN_INVALID, 'Invalid OAuth access token.', '08004'),
  roleNotAuthorized: (role: string) =>
    new SnowflakeError(SfCode.ROLE_NOT_AUTHORIZED, `Role '${role}' specified in the connect string is not granted to this user. Contact your local system administrator, or attempt to login with another role, e.g. PUBLIC.`, '08004'),
  authHeaderMissing: () => new SnowflakeError(SfCode.AUTH_HEADER_MISSING, 'Authorization header not found in the request data.', '08001', 401),
  tokenInvalid: () => new SnowflakeError(SfCode.SESSION_TOKEN_INVALID, 'Invalid session token.', '08001', 401),
  sessionGone: () => new SnowflakeError(SfCode.GONE_SESSION, 'Session no longer exists.  New login required to access the service.', '08001'),
  sessionExpired: () => new SnowflakeError(SfCode.SESSION_TOKEN_EXPIRED, 'Session token has expired.', '08001'),
  masterExpired: () => new SnowflakeError(SfCode.MASTER_TOKEN_EXPIRED, 'Authentication token has expired.  The user must authenticate again.', '08001'),
  badRequest: (what: string) => new SnowflakeError(SfCode.BAD_REQUEST, what, '08P01'),
  statementCount: (actual: number, wanted: number) =>
    new SnowflakeError(SfCode.STATEMENT_COUNT_MISMATCH, `Actual statement count ${actual} did not match the desired statement count ${wanted}.`, '0A000'),
  canceled: () => new SnowflakeError(SfCode.QUERY_CANCELED, 'SQL execution canceled', '57014'),
  notExecuting: () => new SnowflakeError(SfCode.QUERY_NOT_EXECUTING, 'Identified SQL statement is not currently executing.', '01000'),
  queryNotFound: (id: string) => new SnowflakeError(SfCode.QUERY_NOT_FOUND, `Statement ${id} not found`, '02000'),
  syntax: (detail: string) => new SnowflakeError(SfCode.SYNTAX_ERROR, `SQL compilation error:\n${detail}`, '42000'),
  objectNotFound: (name: string) =>
    new SnowflakeError(SfCode.OBJECT_NOT_FOUND, `SQL compilation error:\nObject '${name}' does not exist or not authorized.`, '42S02'),
  alreadyExists: (what: string) => new SnowflakeError(SfCode.OBJECT_ALREADY_EXISTS, `SQL compilation error:\nObject '${what}' already exists.`, '42710'),
  invalidIdentifier: (name: string) =>
    new SnowflakeError(SfCode.INVALID_IDENTIFIER, `SQL compilation error: error line 1 at position 0\ninvalid identifier '${name}'`, '42000'),
  unknownFunction: (name: string) => new SnowflakeError(SfCode.UNKNOWN_FUNCTION, `SQL compilation error:\nUnknown function ${name}`, '42601'),
  unsupported: (what: string) => new SnowflakeError(SfCode.UNSUPPORTED, `SQL compilation error:\nUnsupported feature '${what}'.`, '0A000'),
} as const;

/** The body of an HTTP 200/401 failure, exactly as Snowflake writes it. */
export function errorBody(err: SnowflakeError, queryId?: string): Record<string, unknown> {
  return {
    data: {
      internalError: false,
      errorCode: err.code,
      age: 0,
      sqlState: err.sqlState,
      queryId: queryId ?? null,
      line: -1,
      pos: -1,
      type: 'COMPILATION',
    },
    code: err.code,
    message: err.message,
    success: false,
    headers: null,
  };
}
