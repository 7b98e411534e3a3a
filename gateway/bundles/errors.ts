// The bundles area's one error module: why a policy source could not be read (BundleSourceError, with a
// stable `code`). A bundle that was read but is refused (signature, revision, rollback) is an EngineError.
import { CodedError } from '../../engine/errors.ts';

/** Why a policy source could not be read; callers `switch (err.code)`. */
export const BundleSourceErrorCode = {
  /** The bundle file or directory of a file source does not exist or cannot be read. */
  FileUnreadable: 'SOURCE_FILE_UNREADABLE',
  /** policy.source.url is not https (plain http is allowed to loopback only). */
  InsecureUrl: 'SOURCE_INSECURE_URL',
  /** The HTTP request for the bundle failed, or answered a status other than 200 or 304. */
  FetchFailed: 'SOURCE_FETCH_FAILED',
  /** The GitHub release cannot be read, has no asset of the configured name, or the asset cannot be downloaded. */
  ReleaseUnavailable: 'SOURCE_RELEASE_UNAVAILABLE',
} as const;
export type BundleSourceErrorCode = (typeof BundleSourceErrorCode)[keyof typeof BundleSourceErrorCode];

/**
 * A policy source could not be read; the follower keeps the last good bundle and reports `message`.
 *
 * @example
 * try { await source.fetch(null) } catch (e) { if (e instanceof BundleSourceError && e.code === 'SOURCE_FETCH_FAILED') retryLater() }
 */
export class BundleSourceError extends CodedError<BundleSourceErrorCode> {
  override name = 'BundleSourceError';
}
