// The protocol codec's one error type (stable `code` to switch on) and the named constructors for the
// ErrorResponse fields the gateway sends to clients, each with its SQLSTATE (pgdog style).
import { SqlState } from './constants.ts';

export type ProtocolErrorCode =
  /** A length word over the limit for that message (or the startup packet's 10 000 bytes). */
  | 'MESSAGE_TOO_LARGE'
  /** The bytes do not form the message its type byte announces (length < 4, missing NUL, counts that overrun). */
  | 'MALFORMED_MESSAGE'
  /** A type byte no frontend sends; framing is lost. */
  | 'UNKNOWN_MESSAGE'
  /** A startup packet asking for a protocol other than 3.x. */
  | 'UNSUPPORTED_PROTOCOL'
  /** A StartupMessage without the mandatory `user` parameter. */
  | 'MISSING_USER'
  /** A string the gateway would judge is not valid UTF-8, so what policy sees could differ from what PostgreSQL runs. */
  | 'INVALID_UTF8'
  /** The gateway itself asked the writer for something unencodable (a NUL inside a string, a bad status byte). */
  | 'INVALID_ARGUMENT'
  /** next() after an earlier ProtocolError: message boundaries are lost, the connection must be closed. */
  | 'READER_FAILED';

const SQLSTATE_OF: Record<ProtocolErrorCode, SqlState> = {
  MESSAGE_TOO_LARGE: SqlState.ProtocolViolation,
  MALFORMED_MESSAGE: SqlState.ProtocolViolation,
  UNKNOWN_MESSAGE: SqlState.ProtocolViolation,
  // PostgreSQL answers an unsupported protocol with 0A000 and a missing user with 28000 (postmaster's ProcessStartupPacket).
  UNSUPPORTED_PROTOCOL: SqlState.FeatureNotSupported,
  MISSING_USER: SqlState.InvalidAuthorizationSpecification,
  INVALID_UTF8: SqlState.ProtocolViolation,
  INVALID_ARGUMENT: SqlState.ProtocolViolation,
  READER_FAILED: SqlState.ProtocolViolation,
};

/**
 * A protocol error. `code` is stable; `message` says what was wrong with the bytes; `sqlstate` is what to answer.
 *
 * @example
 * try { msg = reader.next() } catch (e) {
 *   if (e instanceof ProtocolError) { writer.errorResponse(fromProtocolError(e)); socket.end(writer.flush()) }
 * }
 */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  /** The SQLSTATE PostgreSQL itself would send for this violation. */
  readonly sqlstate: SqlState;

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtocolError';
    this.code = code;
    this.sqlstate = SQLSTATE_OF[code];
  }
}

/** Severities allowed in an ErrorResponse. */
export type ErrorSeverity = 'ERROR' | 'FATAL' | 'PANIC';
/** Severities allowed in a NoticeResponse. */
export type NoticeSeverity = 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';
export type Severity = ErrorSeverity | NoticeSeverity;

/**
 * The fields of an ErrorResponse/NoticeResponse (https://www.postgresql.org/docs/current/protocol-error-fields.html).
 * Strings must not contain NUL. The gateway should leave file/line/routine unset: they describe server internals.
 */
export interface ResponseFields<S extends Severity = Severity> {
  severity: S;
  /** Five-character SQLSTATE, e.g. '42501'. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  /** 1-based character (not byte) position in the query string. */
  position?: number;
  internalPosition?: number;
  internalQuery?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  file?: string;
  line?: number;
  routine?: string;
}
export type ErrorFields = ResponseFields<ErrorSeverity>;
export type NoticeFields = ResponseFields<NoticeSeverity>;

/**
 * FATAL 08P01: the client broke the protocol; send it and close.
 *
 * @example
 * writer.errorResponse(protocolViolation('unexpected Bind before startup completed'))
 */
export function protocolViolation(message: string): ErrorFields {
  return { severity: 'FATAL', code: SqlState.ProtocolViolation, message };
}

/**
 * FATAL with the SQLSTATE PostgreSQL would use for a ProtocolError (08P01, 0A000 or 28000).
 *
 * @example
 * writer.errorResponse(fromProtocolError(err)) // err.code === 'UNSUPPORTED_PROTOCOL' → code '0A000'
 */
export function fromProtocolError(err: ProtocolError): ErrorFields {
  return { severity: 'FATAL', code: err.sqlstate, message: err.message };
}

/**
 * FATAL 28000: the client is not who it may connect as (unknown user, bad token, no identity).
 *
 * @example
 * writer.errorResponse(invalidAuthorization('no Verdict identity for user "alice"'))
 */
export function invalidAuthorization(message: string): ErrorFields {
  return { severity: 'FATAL', code: SqlState.InvalidAuthorizationSpecification, message };
}

/**
 * FATAL 28P01: the password or token did not verify.
 *
 * @example
 * writer.errorResponse(invalidPassword('password authentication failed for user "alice"'))
 */
export function invalidPassword(message: string): ErrorFields {
  return { severity: 'FATAL', code: SqlState.InvalidPassword, message };
}

/**
 * ERROR 42501: policy denied the statement. Put the rule and decision id in `detail`, the way to get access in `hint`.
 *
 * @example
 * writer.errorResponse(insufficientPrivilege(
 *   'policy denied SELECT on patients.ssn',
 *   'rule hipaa.phi_columns, decision d-42',
 *   'request access: https://github.com/acme/policies/pull/new',
 * ))
 */
export function insufficientPrivilege(message: string, detail?: string, hint?: string): ErrorFields {
  const fields: ErrorFields = { severity: 'ERROR', code: SqlState.InsufficientPrivilege, message };
  if (detail !== undefined) fields.detail = detail;
  if (hint !== undefined) fields.hint = hint;
  return fields;
}

/**
 * FATAL 57P01: the gateway is shutting down and closes the session.
 *
 * @example
 * writer.errorResponse(adminShutdown())
 */
export function adminShutdown(message = 'terminating connection due to administrator command'): ErrorFields {
  return { severity: 'FATAL', code: SqlState.AdminShutdown, message };
}

/**
 * FATAL 08006: the upstream connection failed, so this session cannot go on.
 *
 * @example
 * writer.errorResponse(connectionFailure('upstream PostgreSQL closed the connection'))
 */
export function connectionFailure(message: string): ErrorFields {
  return { severity: 'FATAL', code: SqlState.ConnectionFailure, message };
}

/**
 * ERROR 0A000: the client asked for something the gateway does not do (e.g. FunctionCall, replication).
 *
 * @example
 * writer.errorResponse(featureNotSupported('FunctionCall messages are not supported by Verdict'))
 */
export function featureNotSupported(message: string): ErrorFields {
  return { severity: 'ERROR', code: SqlState.FeatureNotSupported, message };
}

/**
 * ERROR 57014: the statement was cancelled (CancelRequest, or an approval that timed out).
 *
 * @example
 * writer.errorResponse(queryCanceled())
 */
export function queryCanceled(message = 'canceling statement due to user request'): ErrorFields {
  return { severity: 'ERROR', code: SqlState.QueryCanceled, message };
}

/**
 * FATAL 53300: the gateway's connection limit is reached.
 *
 * @example
 * writer.errorResponse(tooManyConnections('sorry, too many clients already (limit 200)'))
 */
export function tooManyConnections(message: string): ErrorFields {
  return { severity: 'FATAL', code: SqlState.TooManyConnections, message };
}

/**
 * FATAL XX000: the upstream answered in a way the session model cannot attribute to what the gateway decided
 * (a row, a command or a setting it cannot account for). Nothing of that answer was forwarded. See
 * docs/session-model.md.
 *
 * @example
 * writer.errorResponse(sessionDesynchronized('the server ran more statements than the 1 the gateway decided on'))
 */
export function sessionDesynchronized(reason: string): ErrorFields {
  return {
    severity: 'FATAL',
    code: SqlState.InternalError,
    message: `Verdict ended the session: ${reason}. Nothing of that answer was forwarded; reconnect to continue`,
  };
}

/**
 * FATAL XX000: the gateway itself failed (a bug); the session is closed, the details are in the gateway log.
 *
 * @example
 * writer.errorResponse(internalError())
 */
export function internalError(message = 'internal error in the gateway; the session was closed (see the gateway log)'): ErrorFields {
  return { severity: 'FATAL', code: SqlState.InternalError, message };
}

/**
 * FATAL 3D000: the database the client named is not one the gateway serves (PostgreSQL's answer for an
 * unknown database).
 *
 * @example
 * writer.errorResponse(invalidCatalogName('database "x" is not served by this gateway', 'connect to one of: clinic'))
 */
export function invalidCatalogName(message: string, hint?: string): ErrorFields {
  return { severity: 'FATAL', code: SqlState.InvalidCatalogName, message, ...(hint ? { hint } : {}) };
}

/**
 * ERROR 58030: the statement was refused because its audit evidence could not be made durable (require_durable).
 *
 * @example
 * writer.errorResponse(evidenceUnavailable())
 */
export function evidenceUnavailable(): ErrorFields {
  return {
    severity: 'ERROR',
    code: SqlState.IoError,
    message: 'Verdict refused this statement: its audit evidence could not be written, and it may not run without it',
    hint: 'try again later; the gateway operator has been alerted in the gateway log',
  };
}

/**
 * NOTICE 01000 (warning class): something the client should know that is not an error, e.g. a statement
 * waiting for approval.
 *
 * @example
 * writer.noticeResponse(notice('this statement needs approval', 'request req-1', 'approve it with: …'))
 */
export function notice(message: string, detail?: string, hint?: string): NoticeFields {
  return { severity: 'NOTICE', code: SqlState.Warning, message, ...(detail ? { detail } : {}), ...(hint ? { hint } : {}) };
}
