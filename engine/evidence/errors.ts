// The evidence area's one error module: EvidenceError (thrown, with a stable `code`) and the codes of
// verification findings (returned as values, never thrown: a verifier reports everything it finds).
import { CodedError } from '../errors.ts';

/** Codes of thrown evidence errors; callers `switch (err.code)`. */
export type EvidenceErrorCode =
  /** The spool cannot be written (disk full, fsync failed, directory gone): with require_durable, statements are refused. */
  | 'SPOOL_UNAVAILABLE'
  /** Another live process holds the spool directory. */
  | 'SPOOL_LOCKED'
  /** The writer was closed; nothing more can be appended. */
  | 'SPOOL_CLOSED'
  /** An event is not one of the specified types or lacks a required field. */
  | 'EVENT_INVALID'
  /** A stream id, sequence number or path does not follow docs/evidence-format.md. */
  | 'FORMAT_INVALID'
  /** A signing key is missing, malformed or not Ed25519. */
  | 'KEY_INVALID'
  /** The `git` command failed in a way retrying will not fix (not installed, not a repository, ...). */
  | 'GIT_FAILED'
  /** An evidence repository path given to a tool does not exist or cannot be read. */
  | 'REPOSITORY_UNREADABLE';

/**
 * An error from the evidence writer, publisher or tools. `code` is stable; `message` says what to fix.
 *
 * @example
 * try { await writer.append(event) } catch (e) {
 *   if (e instanceof EvidenceError && e.code === 'SPOOL_UNAVAILABLE') refuseStatement(e.message)
 * }
 */
export class EvidenceError extends CodedError<EvidenceErrorCode> {
  override name = 'EvidenceError';
  static readonly codes: readonly EvidenceErrorCode[] = [
    'SPOOL_UNAVAILABLE',
    'SPOOL_LOCKED',
    'SPOOL_CLOSED',
    'EVENT_INVALID',
    'FORMAT_INVALID',
    'KEY_INVALID',
    'GIT_FAILED',
    'REPOSITORY_UNREADABLE',
  ];
}

/**
 * Codes of verification findings, as listed in docs/evidence-format.md § Verification.
 * `error` findings mean the evidence was altered, removed or forged (or the writer is broken);
 * `warning` findings are disclosed facts (gap records) or oddities that do not break integrity.
 */
export const FINDING_CODES = {
  // files and layout
  UNEXPECTED_FILE: 'warning',
  PATH_MISMATCH: 'error',
  BATCH_WITHOUT_CHECKPOINT: 'error',
  CHECKPOINT_WITHOUT_BATCH: 'error',
  // lines
  LINE_NOT_JSON: 'error',
  LINE_NOT_CANONICAL: 'error',
  LINE_SCHEMA: 'error',
  LINE_STREAM_MISMATCH: 'error',
  SEQ_MISMATCH: 'error',
  PREV_HASH_MISMATCH: 'error',
  TIME_REGRESSION: 'error',
  FILE_NOT_NEWLINE_TERMINATED: 'error',
  // checkpoints
  CHECKPOINT_MALFORMED: 'error',
  CHECKPOINT_SIGNATURE_INVALID: 'error',
  CHECKPOINT_BATCH_HASH_MISMATCH: 'error',
  CHECKPOINT_LINE_COUNT_MISMATCH: 'error',
  CHECKPOINT_HEAD_MISMATCH: 'error',
  CHECKPOINT_CHAIN_BROKEN: 'error',
  CHECKPOINT_SEQ_GAP: 'error',
  CHECKPOINT_TIME_INVALID: 'error',
  // keys
  KEY_SET_MALFORMED: 'error',
  KEY_SET_INCONSISTENT: 'error',
  KEY_UNKNOWN: 'error',
  KEY_NOT_VALID_AT_TIME: 'error',
  KEY_NOT_ANNOUNCED: 'error',
  KEY_THUMBPRINT_MISMATCH: 'error',
  KEY_NOT_PINNED: 'error',
  KEY_ROTATION_UNSIGNED: 'error',
  KEY_ROTATION_SIGNATURE_INVALID: 'error',
  KEY_ROTATION_LEGACY: 'warning',
  // cross-references
  APPROVAL_REFERENCE_MISSING: 'error',
  APPROVAL_STATE_CONFLICT: 'error',
  // policy inputs kept for replay
  POLICY_INPUT_HASH_MISMATCH: 'error',
  POLICY_INPUT_MISSING: 'error',
  POLICY_INPUT_MISMATCH: 'error',
  RESPONSE_MALFORMED: 'error',
  RESPONSE_DECISION_MISSING: 'error',
  // recorded heads (rewritten history) and repository history
  RECORDED_HEAD_MISSING: 'error',
  RECORDED_HEAD_MISMATCH: 'error',
  HISTORY_REWRITTEN: 'error',
  PUBLISHED_FILE_CHANGED: 'error',
  // disclosed loss
  GAP_RECORDED: 'warning',
} as const;

export type FindingCode = keyof typeof FINDING_CODES;
export type Severity = 'error' | 'warning';

/**
 * One thing a verifier found. It keeps the evidence: where (file, 1-based line, seq) and, when a value
 * was compared, both `expected` — what the evidence commits to (a signed checkpoint field, a line's prev,
 * a recorded head, the chain rule such as previous seq + 1) — and `computed` — what the verifier derived
 * from the bytes in front of it.
 */
export interface Finding {
  code: FindingCode;
  severity: Severity;
  /** Repository path, '' for repository-wide findings. */
  file: string;
  line?: number;
  stream?: string;
  seq?: number;
  message: string;
  expected?: string | number | null;
  computed?: string | number | null;
}

/**
 * Builds a finding with the severity its code has in FINDING_CODES.
 *
 * @example
 * finding('PREV_HASH_MISMATCH', 'streams/gw-1/2026/01/05/000000000001.jsonl', 'line 7 does not link to line 6', { line: 7, expected: a, computed: b })
 */
export function finding(code: FindingCode, file: string, message: string, extra: Omit<Finding, 'code' | 'severity' | 'file' | 'message'> = {}): Finding {
  return { code, severity: FINDING_CODES[code], file, message, ...extra };
}
