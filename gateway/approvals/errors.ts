// The approvals area's one error module: the local provider's (ApprovalError), the GitHub provider's
// (GitHubApprovalError) and the webhook's (WebhookError), each with a stable `code` callers switch on.
import { CodedError } from '../../engine/errors.ts';

/** A local approval request cannot be read or decided (`verdict approve|reject`, the local provider). */
export class ApprovalError extends CodedError<'NOT_FOUND' | 'SELF_APPROVAL' | 'NOT_AN_APPROVER' | 'ALREADY_DECIDED' | 'EXPIRED' | 'BAD_SIGNATURE'> {
  override name = 'ApprovalError';
}

/** Why the GitHub approval provider failed; callers `switch (err.code)`. */
export type GitHubApprovalErrorCode =
  /** No such request (unknown id, or no pull request of the gateway's for it). */
  | 'NOT_FOUND'
  /** GitHub could not be reached, answered 5xx or rate-limited us: try again later. */
  | 'UNAVAILABLE'
  /** Credentials rejected or missing permissions (401/403). */
  | 'FORBIDDEN'
  /** What is on GitHub does not match what the gateway filed (edited marker, forged commit or file). */
  | 'TAMPERED'
  /** The provider is configured in a way that cannot work (e.g. no gatewayLogin with App auth). */
  | 'CONFIG';

/** The GitHub approval provider failed; `cause` keeps octokit's error. */
export class GitHubApprovalError extends CodedError<GitHubApprovalErrorCode> {
  override name = 'GitHubApprovalError';
}

/** The webhook endpoint cannot be served as configured. */
export class WebhookError extends CodedError<'NO_SECRET'> {
  override name = 'WebhookError';
}
