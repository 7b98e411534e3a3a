// Checkpoints: the signed record that seals one batch file — its hash and line count, the chain head
// after it, and the previous checkpoint — as a compact JWS (EdDSA/Ed25519, `kid`) (docs/evidence-format.md § Checkpoints).
import { base64url, CompactSign, compactVerify, type CryptoKey } from 'jose';
import { canonicalJson, SHA256_HEX } from '../canonical.ts';
import { FORMAT_VERSION, TIMESTAMP } from './events.ts';
import type { SigningKey } from './keys.ts';

export const CHECKPOINT_TYP = 'verdict-checkpoint+jws';

export interface CheckpointPayload {
  v: typeof FORMAT_VERSION;
  type: 'checkpoint';
  stream: string;
  batch: { path: string; first_seq: number; last_seq: number; lines: number; sha256: string };
  /** The chain head after the batch: its last line's seq and line hash. */
  head: { seq: number; hash: string };
  /** The previous checkpoint of the stream (path and sha256 of its file bytes), null for the first. */
  prev: { path: string; sha256: string } | null;
  sealed_at: string;
}

export interface CheckpointHeader {
  alg: 'EdDSA';
  kid: string;
  typ: typeof CHECKPOINT_TYP;
}

/**
 * Signs a checkpoint payload; returns the checkpoint file's bytes (compact JWS and a newline).
 *
 * @example
 * const file = await signCheckpoint(payload, key) // 'eyJhbGciOiJFZERTQSIs...\n'
 */
export async function signCheckpoint(payload: CheckpointPayload, key: Pick<SigningKey, 'kid' | 'privateKey'>): Promise<string> {
  const jws = await new CompactSign(new TextEncoder().encode(canonicalJson(payload)))
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: CHECKPOINT_TYP } satisfies CheckpointHeader)
    .sign(key.privateKey);
  return jws + '\n';
}

export type DecodedCheckpoint = { ok: true; jws: string; header: CheckpointHeader; payload: CheckpointPayload } | { ok: false; problem: string };

const isInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n);

function payloadProblem(p: Partial<CheckpointPayload>): string | null {
  if (p.v !== FORMAT_VERSION || p.type !== 'checkpoint') return 'payload must have v 1 and type "checkpoint"';
  if (typeof p.stream !== 'string') return 'payload.stream must be a string';
  const b = p.batch;
  if (!b || typeof b.path !== 'string' || !isInt(b.first_seq) || !isInt(b.last_seq) || !isInt(b.lines) || typeof b.sha256 !== 'string' || !SHA256_HEX.test(b.sha256))
    return 'payload.batch must be {path, first_seq, last_seq, lines, sha256}';
  if (!p.head || !isInt(p.head.seq) || typeof p.head.hash !== 'string' || !SHA256_HEX.test(p.head.hash)) return 'payload.head must be {seq, hash}';
  if (p.prev !== null && (!p.prev || typeof p.prev.path !== 'string' || typeof p.prev.sha256 !== 'string' || !SHA256_HEX.test(p.prev.sha256)))
    return 'payload.prev must be null or {path, sha256}';
  if (typeof p.sealed_at !== 'string' || !TIMESTAMP.test(p.sealed_at)) return 'payload.sealed_at must be a UTC timestamp';
  return null;
}

/**
 * Decodes a checkpoint file without verifying its signature (recovery reads its own checkpoints;
 * the verifier decodes first to learn the kid, then verifies with verifyCheckpointSignature).
 *
 * @example
 * const c = decodeCheckpoint(bytes); if (c.ok) c.payload.head.seq
 */
export function decodeCheckpoint(bytes: Uint8Array | string): DecodedCheckpoint {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8');
  if (!text.endsWith('\n') || text.indexOf('\n') !== text.length - 1) return { ok: false, problem: 'a checkpoint file is one compact JWS followed by one newline' };
  const jws = text.slice(0, -1);
  const parts = jws.split('.');
  if (parts.length !== 3) return { ok: false, problem: 'not a compact JWS (three base64url parts)' };
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  let payloadText: string;
  try {
    header = JSON.parse(new TextDecoder().decode(base64url.decode(parts[0]!))) as Record<string, unknown>;
    payloadText = new TextDecoder().decode(base64url.decode(parts[1]!));
    payload = JSON.parse(payloadText) as Record<string, unknown>;
  } catch (err) {
    return { ok: false, problem: `header or payload is not base64url JSON: ${(err as Error).message}` };
  }
  if (header.alg !== 'EdDSA' || typeof header.kid !== 'string' || header.typ !== CHECKPOINT_TYP || Object.keys(header).length !== 3)
    return { ok: false, problem: `protected header must be exactly {alg: "EdDSA", kid, typ: "${CHECKPOINT_TYP}"}` };
  if (canonicalJson(payload) !== payloadText) return { ok: false, problem: 'payload is not canonical JSON (RFC 8785)' };
  const problem = payloadProblem(payload as Partial<CheckpointPayload>);
  if (problem) return { ok: false, problem };
  return { ok: true, jws, header: header as unknown as CheckpointHeader, payload: payload as unknown as CheckpointPayload };
}

/**
 * Whether the compact JWS carries a valid EdDSA signature by `publicKey`.
 *
 * @example
 * await verifyCheckpointSignature(decoded.jws, await publicKeyOf(ringKey.x)) // true
 */
export async function verifyCheckpointSignature(jws: string, publicKey: CryptoKey): Promise<boolean> {
  try {
    await compactVerify(jws, publicKey, { algorithms: ['EdDSA'] });
    return true;
  } catch {
    return false;
  }
}
