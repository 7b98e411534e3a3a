// The upstream connector's one error type: a stable `code` callers switch on, the server's SQLSTATE
// when PostgreSQL said no, and the cause kept. Messages name the upstream, never a secret.

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
export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode;
  readonly sqlstate?: string;

  constructor(code: UpstreamErrorCode, message: string, options?: { cause?: unknown; sqlstate?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UpstreamError';
    this.code = code;
    if (options?.sqlstate !== undefined) this.sqlstate = options.sqlstate;
  }
}
