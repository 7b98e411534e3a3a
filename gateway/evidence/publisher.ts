// The evidence publisher interface: sealed batches become files in an evidence git repository.
// Implementations: a local git repository (embedded default) and GitHub through octokit's git data API.
// Publishers only ever add files; a published file is never rewritten or removed.

export interface EvidenceFile {
  /** Repository path computed by engine/evidence/layout.ts, e.g. streams/gw-1/2026/11/21/000000000001.jsonl */
  path: string;
  content: Buffer;
}

export interface PublishResult {
  /** The commit that contains the files. */
  commit: string;
  /** Files that were already present with identical content (idempotent re-publish after a crash). */
  alreadyPresent: string[];
}

export interface EvidencePublisher {
  readonly name: string;
  /**
   * Commits `files` in one commit on the configured branch, fast-forward only (several gateway instances
   * publish concurrently: on a lost race, re-read the branch head and retry). A file that already exists
   * with identical bytes is skipped (reported in alreadyPresent); with different bytes → PublishError CONFLICT.
   */
  publish(files: EvidenceFile[], message: string): Promise<PublishResult>;
  /** Reads a file at the branch head, or null (used by recovery and by tests). */
  read(path: string): Promise<Buffer | null>;
}
