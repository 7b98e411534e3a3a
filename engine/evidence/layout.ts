// Where everything lives in an evidence repository: the one module that computes and parses paths
// (docs/evidence-format.md § Layout). Writers, publishers and verifiers never build paths themselves.
import { EvidenceError } from './errors.ts';

/** Stream (writer instance) ids: lower case so paths cannot collide on case-insensitive file systems. */
export const STREAM_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const SEQ_DIGITS = 12;

export type EvidencePath =
  | { kind: 'batch'; stream: string; firstSeq: number; date: string }
  | { kind: 'checkpoint'; stream: string; firstSeq: number; date: string }
  | { kind: 'keys'; stream: string; fromSeq: number };

/**
 * Throws FORMAT_INVALID unless `stream` is a valid stream id.
 *
 * @example
 * assertStreamId('gw-1')
 */
export function assertStreamId(stream: string): void {
  if (!STREAM_ID.test(stream) || stream.includes('..'))
    throw new EvidenceError('FORMAT_INVALID', `stream id ${JSON.stringify(stream)} must match ${STREAM_ID.source} (lower case, digits, . _ -)`);
}

/** A sequence number zero-padded to 12 digits, so file names sort in chain order. */
export function seqName(seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new EvidenceError('FORMAT_INVALID', `sequence number ${seq} must be an integer ≥ 1`);
  return String(seq).padStart(SEQ_DIGITS, '0');
}

function dateDir(ts: string): string {
  // ts is YYYY-MM-DDTHH:MM:SS.sssZ (UTC); the directory is the UTC day of the batch's first line.
  return `${ts.slice(0, 4)}/${ts.slice(5, 7)}/${ts.slice(8, 10)}`;
}

/**
 * Path of the batch file whose first line has `firstSeq` and timestamp `firstTs`.
 *
 * @example
 * batchPath('gw-1', 1, '2026-01-05T10:00:00.000Z') // 'streams/gw-1/2026/01/05/000000000001.jsonl'
 */
export function batchPath(stream: string, firstSeq: number, firstTs: string): string {
  assertStreamId(stream);
  return `streams/${stream}/${dateDir(firstTs)}/${seqName(firstSeq)}.jsonl`;
}

/**
 * Path of the checkpoint that seals a batch: its sibling with `.checkpoint.jws`.
 *
 * @example
 * checkpointPath('gw-1', 1, '2026-01-05T10:00:00.000Z') // 'streams/gw-1/2026/01/05/000000000001.checkpoint.jws'
 */
export function checkpointPath(stream: string, firstSeq: number, firstTs: string): string {
  assertStreamId(stream);
  return `streams/${stream}/${dateDir(firstTs)}/${seqName(firstSeq)}.checkpoint.jws`;
}

/**
 * Path of the key set (JWKS) of `stream` that applies from sequence number `fromSeq` on.
 *
 * @example
 * keySetPath('gw-1', 1) // 'keys/gw-1/000000000001.jwks.json'
 */
export function keySetPath(stream: string, fromSeq: number): string {
  assertStreamId(stream);
  return `keys/${stream}/${seqName(fromSeq)}.jwks.json`;
}

/** The checkpoint path that belongs to a batch path. */
export function checkpointOf(batch: string): string {
  return batch.replace(/\.jsonl$/, '.checkpoint.jws');
}

const BATCH_RE = /^streams\/([^/]+)\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{12,})\.(jsonl|checkpoint\.jws)$/;
const KEYS_RE = /^keys\/([^/]+)\/(\d{12,})\.jwks\.json$/;

/**
 * Parses a repository path; null for paths the format does not define (README.md, .git/...).
 *
 * @example
 * parseEvidencePath('keys/gw-1/000000000001.jwks.json') // { kind: 'keys', stream: 'gw-1', fromSeq: 1 }
 */
export function parseEvidencePath(path: string): EvidencePath | null {
  let m = BATCH_RE.exec(path);
  if (m) {
    const [, stream, y, mo, d, seq, ext] = m as unknown as [string, string, string, string, string, string, string];
    if (!STREAM_ID.test(stream)) return null;
    const firstSeq = Number(seq);
    if (!Number.isSafeInteger(firstSeq) || firstSeq < 1 || (seq.length > SEQ_DIGITS && seq.startsWith('0'))) return null;
    return { kind: ext === 'jsonl' ? 'batch' : 'checkpoint', stream, firstSeq, date: `${y}-${mo}-${d}` };
  }
  m = KEYS_RE.exec(path);
  if (m) {
    const [, stream, seq] = m as unknown as [string, string, string];
    const fromSeq = Number(seq);
    if (!STREAM_ID.test(stream) || !Number.isSafeInteger(fromSeq) || fromSeq < 1) return null;
    return { kind: 'keys', stream, fromSeq };
  }
  return null;
}

/** Whether the format governs this path (so an unparseable file there is suspicious, not ignorable). */
export function isEvidenceArea(path: string): boolean {
  return path.startsWith('streams/') || path.startsWith('keys/');
}
