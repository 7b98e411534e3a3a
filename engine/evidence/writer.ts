// The pure state machine of one writer stream: events in, line text and sealed-batch files out.
// The spool (gateway/evidence/spool.ts) puts its output on disk; tests and golden data use it in memory.
import { createHash, type Hash } from 'node:crypto';
import { sha256Hex } from '../canonical.ts';
import { createChain, type ChainHead, type EncodedLine } from './chain.ts';
import { signCheckpoint, type CheckpointPayload } from './checkpoint.ts';
import { EvidenceError } from './errors.ts';
import type { EvidenceEvent } from './events.ts';
import { encodeKeySet, publishedKey, type KeySet, type PublishedKey, type SigningKey } from './keys.ts';
import { endorseRotation, ROTATION_RULE } from './rotation.ts';
import { batchPath, checkpointPath, keySetPath } from './layout.ts';

/** Where a stream stands: enough to continue it after a restart. */
export interface StreamPosition {
  head: ChainHead;
  lastTs: string;
  /** The key the chain's latest key_rotation line announced (null before the first). */
  announcedKid: string | null;
  /** The latest checkpoint: path, sha256 of its file bytes, sealed_at, last seq it seals. */
  prevCheckpoint: { path: string; sha256: string; sealedAt: string; lastSeq: number } | null;
  /** The newest key set snapshot (null before the first key_rotation). */
  keySet: KeySet | null;
}

/** A sealed batch: its two repository files. */
export interface SealedBatch {
  firstSeq: number;
  lastSeq: number;
  lines: number;
  batchPath: string;
  checkpointPath: string;
  checkpoint: string;
  payload: CheckpointPayload;
}

export const EMPTY_POSITION: StreamPosition = Object.freeze({ head: { seq: 0, hash: null }, lastTs: '', announcedKid: null, prevCheckpoint: null, keySet: null });

/**
 * A writer for one stream. `append` is synchronous (it only serializes and hashes); `seal` signs.
 * Callers serialize `seal` and `rotate` with `append` (the spool runs them on one queue).
 *
 * @example
 * const w = createStreamWriter('gw-1', key)
 * const genesis = await w.announceKey(new Date())      // key set file + key_rotation line
 * const line = w.append({ type: 'gateway_stop', data: { reason: 'test' } }, new Date())
 * const sealed = await w.seal(new Date())              // batch path + checkpoint file
 */
export function createStreamWriter(stream: string, key: SigningKey, position: StreamPosition = EMPTY_POSITION) {
  let chain = createChain(stream, position.head, position.lastTs);
  let signingKey = key;
  let announcedKid = position.announcedKid;
  // The key that signs the next rotation: the one the chain announced last (null until we hold it).
  let endorser: SigningKey | null = key.kid === announcedKid ? key : null;
  let prevCheckpoint = position.prevCheckpoint;
  let keySet = position.keySet;
  // The batch file's sha256 is fed in chunks: two Hash.update calls per line (text, newline) were ~0.6 µs
  // of crossing into C++ per event; one update per HASH_CHUNK lines amortizes that.
  let batch: { firstSeq: number; firstTs: string; lines: number; hash: Hash; unhashed: string[] } | null = null;
  const HASH_CHUNK = 256;

  function take(line: EncodedLine): EncodedLine {
    if (!batch) batch = { firstSeq: line.record.seq, firstTs: line.record.ts, lines: 0, hash: createHash('sha256'), unhashed: [] };
    batch.lines++;
    if (batch.unhashed.push(line.text) >= HASH_CHUNK) hashUnhashed(batch);
    return line;
  }

  function hashUnhashed(b: NonNullable<typeof batch>): void {
    if (b.unhashed.length === 0) return;
    b.hash.update(b.unhashed.join('\n') + '\n');
    b.unhashed.length = 0;
  }

  return {
    stream,
    get key(): SigningKey {
      return signingKey;
    },
    get position(): StreamPosition {
      return { head: chain.head, lastTs: chain.lastTs, announcedKid, prevCheckpoint, keySet };
    },
    /** Lines in the open (unsealed) batch. */
    get openLines(): number {
      return batch?.lines ?? 0;
    },
    get openFirstSeq(): number | null {
      return batch?.firstSeq ?? null;
    },
    /** Whether the signing key still has to be announced by a key_rotation line. */
    get needsAnnouncement(): boolean {
      return announcedKid !== signingKey.kid;
    },

    /** Puts an event on the chain; returns the line to write (text without newline). */
    append(event: EvidenceEvent, now: Date): EncodedLine {
      if (announcedKid !== signingKey.kid) throw new EvidenceError('FORMAT_INVALID', `announce key ${signingKey.kid} before appending (announceKey)`);
      return take(chain.append(event, now));
    },

    /**
     * Re-adopts a line recovered from the spool (already written, already valid for this chain).
     * Returns false when it does not continue the chain (the caller truncates there).
     */
    adopt(text: string, record: { seq: number; prev: string | null; ts: string; type: string; data: unknown }): boolean {
      const head = chain.head;
      if (record.seq !== head.seq + 1 || record.prev !== head.hash) return false;
      const hash = sha256Hex(text);
      // Move the chain on without re-serializing: the line is already canonical on disk.
      chain = createChain(stream, { seq: record.seq, hash }, record.ts > chain.lastTs ? record.ts : chain.lastTs);
      if (record.type === 'key_rotation') {
        announcedKid = (record.data as { kid: string }).kid;
        endorser = signingKey.kid === announcedKid ? signingKey : endorser?.kid === announcedKid ? endorser : null;
      }
      take({ record: record as EncodedLine['record'], text, hash });
      return true;
    },

    /**
     * Announces the current signing key (first key, or after `useKey`): returns the key set snapshot file to
     * publish and the key_rotation line. Seal the open batch first when the old key should seal what came
     * before; otherwise the new key seals the whole batch (a batch is sealed by the key announced last in it).
     * Every rotation after the first is endorsed by the key the chain announced before it; throws KEY_INVALID
     * when that key is not held (`useKey` it, or pass it to `endorseWith`).
     */
    async announceKey(now: Date): Promise<{ keySetPath: string; keySet: string; line: EncodedLine }> {
      const ts = now.toISOString() > chain.lastTs ? now.toISOString() : chain.lastTs;
      const fromSeq = chain.head.seq + 1;
      const previous = announcedKid;
      let endorsement: string | undefined;
      if (previous !== null) {
        if (!endorser || endorser.kid !== previous)
          throw new EvidenceError('KEY_INVALID', `the rotation from evidence signing key ${previous} to ${signingKey.kid} must be signed by ${previous}, and that key is not available`);
        endorsement = await endorseRotation(
          { v: 1, type: 'key_rotation', stream, seq: fromSeq, kid: signingKey.kid, thumbprint: signingKey.thumbprint, previous_kid: previous, previous_thumbprint: endorser.thumbprint },
          endorser,
        );
      }
      const keys: PublishedKey[] = (keySet?.keys ?? []).map((k) => (k.valid_until === null && k.kid !== signingKey.kid ? { ...k, valid_until: ts } : k));
      if (!keys.some((k) => k.kid === signingKey.kid)) keys.push(publishedKey(signingKey, ts));
      keySet = { v: 1, stream, from_seq: fromSeq, keys };
      const path = keySetPath(stream, fromSeq);
      announcedKid = signingKey.kid;
      endorser = signingKey;
      const line = take(
        chain.append(
          {
            type: 'key_rotation',
            data: { kid: signingKey.kid, thumbprint: signingKey.thumbprint, previous_kid: previous, keys_path: path, rotations: ROTATION_RULE, ...(endorsement ? { endorsement } : {}) },
          },
          new Date(ts),
        ),
      );
      return { keySetPath: path, keySet: encodeKeySet(keySet), line };
    },

    /** Switches to a new signing key; call `announceKey` next (after sealing). */
    useKey(next: SigningKey): void {
      if (signingKey.kid === announcedKid) endorser = signingKey;
      signingKey = next;
    },

    /** Hands the writer the private key the chain announced last (after a restart), so it can sign the next rotation. */
    endorseWith(previous: SigningKey): void {
      if (previous.kid === announcedKid) endorser = previous;
    },

    /** Seals the open batch with a checkpoint signed by the current key; null when nothing is open. */
    async seal(now: Date): Promise<SealedBatch | null> {
      if (!batch) return null;
      const b = batch;
      batch = null;
      const head = chain.head;
      const sealedAt = now.toISOString() > chain.lastTs ? now.toISOString() : chain.lastTs;
      const bPath = batchPath(stream, b.firstSeq, b.firstTs);
      hashUnhashed(b);
      const batchSha256 = b.hash.digest('hex');
      const payload: CheckpointPayload = {
        v: 1,
        type: 'checkpoint',
        stream,
        batch: { path: bPath, first_seq: b.firstSeq, last_seq: head.seq, lines: b.lines, sha256: batchSha256 },
        head: { seq: head.seq, hash: head.hash! },
        prev: prevCheckpoint ? { path: prevCheckpoint.path, sha256: prevCheckpoint.sha256 } : null,
        sealed_at: sealedAt,
      };
      const checkpoint = await signCheckpoint(payload, signingKey);
      const cPath = checkpointPath(stream, b.firstSeq, b.firstTs);
      prevCheckpoint = { path: cPath, sha256: sha256Hex(checkpoint), sealedAt, lastSeq: head.seq };
      return { firstSeq: b.firstSeq, lastSeq: head.seq, lines: b.lines, batchPath: bPath, checkpointPath: cPath, checkpoint, payload };
    },
  };
}
