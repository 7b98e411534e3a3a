// Errors the Snowflake door answers drivers with, in Snowflake's shape (HTTP 200 `success:false` with a code and
// SQLSTATE; HTTP 401 for a missing or unknown token), with stable codes drivers and people can act on. Snowflake's
// error numbers are SfCode's; the SQLSTATEs come from the shared table (engine/sqlstate.ts).

import { SqlState } from '../../engine/sqlstate.ts';
import { SfCode } from './protocol.ts';

export { SfCode, errorBody } from './protocol.ts';

/** An error for a driver: Snowflake's code, a message a person can act on, a SQLSTATE, the HTTP status. */
export class SfDoorError extends Error {
  override name = 'SfDoorError';
  constructor(
    readonly code: string,
    message: string,
    readonly sqlstate: string,
    readonly httpStatus: 200 | 401 = 200,
    /** Extra fields for `data` (Verdict's decision id, an approval request). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Named constructors. */
export const sfError = {
  wrongAuthenticator: (a: string) =>
    new SfDoorError(SfCode.INCORRECT_USERNAME_PASSWORD, `Verdict accepts only OAUTH logins with an OIDC token (authenticator ${a || 'SNOWFLAKE'} refused).`, SqlState.SqlserverRejectedEstablishmentOfSqlconnection),
  incorrectLogin: (why: string) => new SfDoorError(SfCode.INCORRECT_USERNAME_PASSWORD, `Incorrect username or password was specified (${why}).`, SqlState.SqlserverRejectedEstablishmentOfSqlconnection),
  oauthInvalid: (why: string) => new SfDoorError(SfCode.OAUTH_TOKEN_INVALID, `Invalid OAuth access token: ${why}`, SqlState.SqlserverRejectedEstablishmentOfSqlconnection),
  authHeaderMissing: () => new SfDoorError(SfCode.AUTH_HEADER_MISSING, 'Authorization header not found in the request data.', SqlState.SqlclientUnableToEstablishSqlconnection, 401),
  tokenInvalid: () => new SfDoorError(SfCode.SESSION_TOKEN_INVALID, 'Invalid session token.', SqlState.SqlclientUnableToEstablishSqlconnection, 401),
  sessionGone: () => new SfDoorError(SfCode.GONE_SESSION, 'Session no longer exists.  New login required to access the service.', SqlState.SqlclientUnableToEstablishSqlconnection),
  sessionExpired: () => new SfDoorError(SfCode.SESSION_TOKEN_EXPIRED, 'Session token has expired.', SqlState.SqlclientUnableToEstablishSqlconnection),
  masterExpired: () => new SfDoorError(SfCode.MASTER_TOKEN_EXPIRED, 'Authentication token has expired.  The user must authenticate again.', SqlState.SqlclientUnableToEstablishSqlconnection),
  badRequest: (what: string) => new SfDoorError(SfCode.BAD_REQUEST, what, SqlState.ProtocolViolation),
  unavailable: (what: string) => new SfDoorError(SfCode.SERVICE_UNAVAILABLE, what, SqlState.ConnectionFailure),
  statementCount: (actual: number) =>
    new SfDoorError(SfCode.STATEMENT_COUNT_MISMATCH, `Actual statement count ${actual} did not match the desired statement count 1. Verdict runs one statement per request.`, SqlState.FeatureNotSupported),
  /** 57014 query_canceled; `why`: what canceled it (an approval withdrawn or timed out). */
  canceled: (why?: string, extra: Record<string, unknown> = {}) => new SfDoorError(SfCode.QUERY_CANCELED, why ? `SQL execution canceled: ${why}` : 'SQL execution canceled', SqlState.QueryCanceled, 200, extra),
  notExecuting: () => new SfDoorError(SfCode.QUERY_NOT_EXECUTING, 'Identified SQL statement is not currently executing.', SqlState.Warning),
  queryNotFound: (id: string) => new SfDoorError(SfCode.QUERY_NOT_FOUND, `Statement ${id} not found`, SqlState.NoData),
  /** Bindings that do not fit the statement's bind variables (Snowflake answers 002049 / 42601). */
  binds: (what: string) => new SfDoorError(SfCode.BIND_MISMATCH, `SQL compilation error:\n${what}`, SqlState.SyntaxError),
  unsupported: (what: string) => new SfDoorError(SfCode.UNSUPPORTED, `SQL compilation error:\nUnsupported feature '${what}'.`, SqlState.FeatureNotSupported),
  /** Verdict's policy refused the statement: which rule, which decision. */
  denied: (message: string, extra: Record<string, unknown> = {}) => new SfDoorError(SfCode.INSUFFICIENT_PRIVILEGES, message, SqlState.InsufficientPrivilege, 200, extra),
} as const;
