// The local Snowflake's error vocabulary: Snowflake's own codes and SQLSTATEs, and the two shapes the drivers
// read them in — HTTP 200 `{success:false, code, message, data:{sqlState, queryId}}`, or HTTP 401 for token problems.

import { SfCode } from '../../snowflake/protocol.ts';

export { SfCode, errorBody } from '../../snowflake/protocol.ts';

/** An error the emulator reports to a driver in Snowflake's shape. */
export class SnowflakeError extends Error {
  override name = 'SnowflakeError';
  constructor(
    readonly code: SfCode,
    message: string,
    readonly sqlstate: string,
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
