// Key rotation endorsements: the outgoing key signs the incoming key's thumbprint at the rotation's seq, so a
// stream's keys form a chain of trust from its first key (docs/evidence-format.md § Keys, "Rotations").
import { base64url, CompactSign, compactVerify, type CryptoKey } from 'jose';
import { canonicalJson } from '../canonical.ts';
import { FORMAT_VERSION } from './events.ts';
import type { SigningKey } from './keys.ts';

export const ROTATION_TYP = 'verdict-key-rotation+jws';

/**
 * The rule a stream's writer declares on its `key_rotation` lines: every later rotation carries an
 * endorsement by the key it replaces. A verifier that has seen it requires endorsements from then on.
 */
export const ROTATION_RULE = 'signed_by_previous_key';

/** What the outgoing key signs: the incoming key (kid and RFC 7638 thumbprint) at one position of one stream. */
export interface RotationPayload {
  v: typeof FORMAT_VERSION;
  type: 'key_rotation';
  stream: string;
  /** The seq of the key_rotation line. */
  seq: number;
  kid: string;
  thumbprint: string;
  previous_kid: string;
  previous_thumbprint: string;
}

/**
 * Signs a rotation with the outgoing key; returns the compact JWS (no newline) the line carries as `endorsement`.
 *
 * @example
 * const endorsement = await endorseRotation({ v: 1, type: 'key_rotation', stream: 'gw-1', seq: 29, kid, thumbprint, previous_kid, previous_thumbprint }, oldKey)
 */
export async function endorseRotation(payload: RotationPayload, previous: Pick<SigningKey, 'kid' | 'privateKey'>): Promise<string> {
  return new CompactSign(new TextEncoder().encode(canonicalJson(payload))).setProtectedHeader({ alg: 'EdDSA', kid: previous.kid, typ: ROTATION_TYP }).sign(previous.privateKey);
}

/**
 * Checks an endorsement against the rotation it must vouch for and the outgoing key's public key.
 * Returns null when it holds, else what is wrong (the header, the payload, or the signature).
 *
 * @example
 * await rotationProblem(line.data.endorsement, expectedPayload, await publicKeyOf(previousKey.x)) // null
 */
export async function rotationProblem(jws: unknown, expected: RotationPayload, previousPublicKey: CryptoKey): Promise<string | null> {
  if (typeof jws !== 'string') return 'endorsement must be a compact JWS string';
  const parts = jws.split('.');
  if (parts.length !== 3) return 'endorsement is not a compact JWS (three base64url parts)';
  let header: Record<string, unknown>;
  let payloadText: string;
  try {
    header = JSON.parse(new TextDecoder().decode(base64url.decode(parts[0]!))) as Record<string, unknown>;
    payloadText = new TextDecoder().decode(base64url.decode(parts[1]!));
  } catch (err) {
    return `endorsement header or payload is not base64url JSON: ${(err as Error).message}`;
  }
  if (header.alg !== 'EdDSA' || header.typ !== ROTATION_TYP || header.kid !== expected.previous_kid || Object.keys(header).length !== 3)
    return `endorsement header must be exactly {alg: "EdDSA", kid: "${expected.previous_kid}", typ: "${ROTATION_TYP}"}`;
  if (payloadText !== canonicalJson(expected)) return `endorsement payload is not this rotation: expected ${canonicalJson(expected)}`;
  try {
    await compactVerify(jws, previousPublicKey, { algorithms: ['EdDSA'] });
  } catch {
    return `the endorsement's signature does not verify with the previous key ${expected.previous_kid}`;
  }
  return null;
}
