// The gateway's evidence errors: publishing to the evidence repository failed (PublishError, with a stable
// `code`). The evidence format's own errors (spool, events, keys) are EvidenceError in engine/evidence/errors.ts.

/** A batch could not be published; `code` says whether to retry. */
export class PublishError extends Error {
  override name = 'PublishError';
  constructor(
    /** CONFLICT: the path exists with other content (never overwritten); RETRYABLE: try again later; FATAL: configuration/auth. */
    readonly code: 'CONFLICT' | 'RETRYABLE' | 'FATAL',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
