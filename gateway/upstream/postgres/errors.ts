// The upstream connector's errors: UpstreamError when opening a connection fails (a stable `code` callers
// switch on, the server's SQLSTATE when PostgreSQL said no, the cause kept), and StatementError when a statement
// is refused (the ErrorResponse's fields). Messages name the upstream, never a secret.

import { CodedError } from '../../../engine/errors.ts';
import { SqlState } from '../../../engine/sqlstate.ts';

export type UpstreamErrorCode =
  | 'CONNECT_FAILED'
  | 'TLS_FAILED'
  | 'AUTH_FAILED'
  | 'AUTH_UNSUPPORTED'
  | 'PROTOCOL'
  | 'TIMEOUT'
  | 'SECRET_MISSING'
  | 'SERVER_ERROR';

/**
 * Opening an upstream connection failed. `code` is stable; `sqlstate` is set when the server sent an
 * ErrorResponse (28P01 wrong password, 3D000 unknown database, 53300 too many connections, ...).
 *
 * @example
 * try { await connectUpstream(target) } catch (e) { if (e instanceof UpstreamError && e.code === 'AUTH_FAILED') ... }
 */
export class UpstreamError extends CodedError<UpstreamErrorCode> {
  override name = 'UpstreamError';
  readonly sqlstate?: string;

  constructor(code: UpstreamErrorCode, message: string, options?: { cause?: unknown; sqlstate?: string }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.sqlstate !== undefined) this.sqlstate = options.sqlstate;
  }
}

/**
 * PostgreSQL refused the statement: an ErrorResponse (https://www.postgresql.org/docs/current/protocol-error-fields.html).
 * The connection stays usable. `position` is the 1-based character offset into the statement text.
 *
 * @example
 * try { await session.run('SELECT 1/0', []) } catch (e) { if (e instanceof StatementError && e.sqlstate === '22012') ... }
 */
export class StatementError extends Error {
  readonly sqlstate: string;
  readonly severity: string;
  readonly detail?: string;
  readonly hint?: string;
  readonly position?: number;

  constructor(sqlstate: string, message: string, fields: { severity?: string; detail?: string; hint?: string; position?: number } = {}) {
    super(message);
    this.name = 'StatementError';
    this.sqlstate = sqlstate;
    this.severity = fields.severity ?? 'ERROR';
    this.detail = fields.detail;
    this.hint = fields.hint;
    this.position = fields.position;
  }

  /** 22021 character_not_in_repertoire: what PostgreSQL answers for a NUL byte in text. */
  static characterNotInRepertoire(message: string): StatementError {
    return new StatementError(SqlState.CharacterNotInRepertoire, message);
  }

  /** 54023 too_many_arguments: more bind parameters than the protocol's Int16 count can carry. */
  static tooManyArguments(message: string): StatementError {
    return new StatementError(SqlState.TooManyArguments, message);
  }
}
