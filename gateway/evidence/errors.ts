// The gateway's evidence errors: publishing to the evidence repository failed (PublishError, with a stable
// `code`). The evidence format's own errors (spool, events, keys) are EvidenceError in engine/evidence/errors.ts.
import { CodedError } from '../../engine/errors.ts';

/**
 * A batch could not be published; `code` says whether to retry: CONFLICT, the path exists with other content
 * (never overwritten); RETRYABLE, try again later; FATAL, configuration or authentication.
 */
export class PublishError extends CodedError<'CONFLICT' | 'RETRYABLE' | 'FATAL'> {
  override name = 'PublishError';
}
