// Checkpoint signing keys: Ed25519 key pairs with ids, and the key sets (JWKS with validity periods)
// published in the evidence repository, one immutable snapshot per change (docs/evidence-format.md § Keys).
import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { canonicalJson } from '../canonical.ts';
import { EvidenceError, finding, type Finding } from './errors.ts';
import { FORMAT_VERSION, TIMESTAMP } from './events.ts';

/** A public key as published in a key set: an Ed25519 JWK plus its id and validity period. */
export interface PublishedKey {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
  /** First instant checkpoints signed by this key may carry as `sealed_at` (inclusive). */
  valid_from: string;
  /** Last instant they may carry (inclusive; the successor's valid_from), or null while the key is current. */
  valid_until: string | null;
}

/** One key set snapshot file: `keys/<stream>/<from-seq>.jwks.json`. */
export interface KeySet {
  v: typeof FORMAT_VERSION;
  stream: string;
  /** The first sequence number this snapshot applies to (the seq of the key_rotation line that announced its newest key). */
  from_seq: number;
  keys: PublishedKey[];
}

/** A key the writer signs with. `privateJwk` is secret: it stays in the spool, never in the repository. */
export interface SigningKey {
  kid: string;
  thumbprint: string;
  publicJwk: { kty: 'OKP'; crv: 'Ed25519'; x: string };
  privateJwk: JWK;
  privateKey: CryptoKey;
}

const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

/**
 * RFC 7638 thumbprint (base64url sha256 of the required members in order) of an Ed25519 public key.
 *
 * @example
 * ed25519Thumbprint('11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo') // 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k'
 */
export function ed25519Thumbprint(x: string): string {
  return createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
}

/** The key id of a public key: the first 16 characters of its thumbprint (stable, derived, collision-checked by the verifier). */
export function kidOf(x: string): string {
  return ed25519Thumbprint(x).slice(0, 16);
}

/**
 * Imports a private Ed25519 JWK ({kty:'OKP', crv:'Ed25519', x, d}) as a signing key.
 *
 * @example
 * const key = await signingKeyFromJwk(JSON.parse(readFileSync('key.jwk.json', 'utf8')))
 */
export async function signingKeyFromJwk(jwk: JWK): Promise<SigningKey> {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || !B64URL_32.test(jwk.x) || typeof jwk.d !== 'string')
    throw new EvidenceError('KEY_INVALID', 'an evidence signing key must be a private Ed25519 JWK (kty OKP, crv Ed25519, x, d)');
  let privateKey: CryptoKey;
  try {
    privateKey = (await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, 'EdDSA')) as CryptoKey;
  } catch (err) {
    throw new EvidenceError('KEY_INVALID', `the evidence signing key cannot be imported: ${(err as Error).message}`, { cause: err });
  }
  const thumbprint = ed25519Thumbprint(jwk.x);
  return {
    kid: thumbprint.slice(0, 16),
    thumbprint,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x },
    privateJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d },
    privateKey,
  };
}

/**
 * Generates a new Ed25519 signing key.
 *
 * @example
 * const key = await generateSigningKey(); key.kid // 'kPrK_qmxVWaYVA9w'
 */
export async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  return signingKeyFromJwk(await exportJWK(privateKey));
}

/**
 * The published form of a signing key.
 *
 * @example
 * publishedKey(key, '2026-01-05T10:00:00.000Z')
 */
export function publishedKey(key: Pick<SigningKey, 'kid' | 'publicJwk'>, validFrom: string, validUntil: string | null = null): PublishedKey {
  return { kty: 'OKP', crv: 'Ed25519', x: key.publicJwk.x, kid: key.kid, alg: 'EdDSA', use: 'sig', valid_from: validFrom, valid_until: validUntil };
}

/**
 * The bytes of a key set snapshot file (canonical JSON and a newline).
 *
 * @example
 * encodeKeySet({ v: 1, stream: 'gw-1', from_seq: 1, keys: [publishedKey(key, now)] })
 */
export function encodeKeySet(set: KeySet): string {
  return canonicalJson(set) + '\n';
}

/** A key of the merged key ring of one stream, with the snapshot that last described it. */
export interface RingKey extends PublishedKey {
  thumbprint: string;
  path: string;
}

function parseKeySet(path: string, stream: string, fromSeq: number, bytes: Uint8Array, out: Finding[]): KeySet | null {
  const bad = (message: string) => {
    out.push(finding('KEY_SET_MALFORMED', path, message, { stream }));
    return null;
  };
  let doc: unknown;
  const text = Buffer.from(bytes).toString('utf8');
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return bad(`not JSON: ${(err as Error).message}`);
  }
  if (canonicalJson(doc) + '\n' !== text) return bad('a key set file is its canonical JSON followed by one newline');
  const set = doc as Partial<KeySet>;
  if (set.v !== FORMAT_VERSION || set.stream !== stream || set.from_seq !== fromSeq || !Array.isArray(set.keys))
    return bad(`expected {v: 1, stream: "${stream}", from_seq: ${fromSeq}, keys: [...]} (the path names stream and from_seq)`);
  for (const k of set.keys as unknown[]) {
    const key = k as Partial<PublishedKey> & { d?: unknown };
    if (key === null || typeof key !== 'object') return bad('a key is not an object');
    if (key.d !== undefined) return bad(`key ${String(key.kid)} publishes its private part (d)`);
    if (key.kty !== 'OKP' || key.crv !== 'Ed25519' || typeof key.x !== 'string' || !B64URL_32.test(key.x)) return bad(`key ${String(key.kid)} is not an Ed25519 public JWK`);
    if (key.alg !== 'EdDSA' || key.use !== 'sig') return bad(`key ${String(key.kid)} must have alg EdDSA and use sig`);
    if (typeof key.kid !== 'string' || key.kid !== kidOf(key.x)) return bad(`key id ${String(key.kid)} is not the first 16 characters of its thumbprint`);
    if (typeof key.valid_from !== 'string' || !TIMESTAMP.test(key.valid_from)) return bad(`key ${key.kid}: valid_from must be a UTC timestamp`);
    if (key.valid_until !== null && (typeof key.valid_until !== 'string' || !TIMESTAMP.test(key.valid_until) || key.valid_until < key.valid_from))
      return bad(`key ${key.kid}: valid_until must be null or a UTC timestamp not before valid_from`);
  }
  return set as KeySet;
}

/**
 * Merges the key set snapshots of one stream into its key ring. Snapshots are append-only history:
 * a later snapshot keeps every earlier key with the same x and valid_from, and may only close an open
 * valid_until. Anything else is KEY_SET_INCONSISTENT (someone swapped or edited the key set).
 *
 * @example
 * const { ring, findings } = mergeKeySets('gw-1', [{ path, fromSeq: 1, bytes }])
 */
export function mergeKeySets(stream: string, snapshots: { path: string; fromSeq: number; bytes: Uint8Array }[]): { ring: Map<string, RingKey>; findings: Finding[] } {
  const findings: Finding[] = [];
  const ring = new Map<string, RingKey>();
  const sorted = [...snapshots].sort((a, b) => a.fromSeq - b.fromSeq);
  for (const snap of sorted) {
    const set = parseKeySet(snap.path, stream, snap.fromSeq, snap.bytes, findings);
    if (!set) continue;
    const seen = new Set<string>();
    for (const key of set.keys) {
      if (seen.has(key.kid)) {
        findings.push(finding('KEY_SET_INCONSISTENT', snap.path, `key ${key.kid} is listed twice`, { stream }));
        continue;
      }
      seen.add(key.kid);
      const before = ring.get(key.kid);
      if (before) {
        if (before.x !== key.x || before.valid_from !== key.valid_from)
          findings.push(
            finding('KEY_SET_INCONSISTENT', snap.path, `key ${key.kid} differs from ${before.path} (x or valid_from changed)`, {
              stream,
              expected: `${before.x} from ${before.valid_from}`,
              computed: `${key.x} from ${key.valid_from}`,
            }),
          );
        else if (before.valid_until !== null && before.valid_until !== key.valid_until)
          findings.push(
            finding('KEY_SET_INCONSISTENT', snap.path, `key ${key.kid}: valid_until was already closed in ${before.path}`, {
              stream,
              expected: before.valid_until,
              computed: key.valid_until,
            }),
          );
      }
      ring.set(key.kid, { ...key, thumbprint: ed25519Thumbprint(key.x), path: snap.path });
    }
    for (const kid of ring.keys())
      if (!seen.has(kid)) findings.push(finding('KEY_SET_INCONSISTENT', snap.path, `key ${kid} from an earlier snapshot is missing`, { stream }));
  }
  return { ring, findings };
}

const imported = new Map<string, Promise<CryptoKey>>();
/** The public key of a published key, imported once per x (verifying thousands of checkpoints reuses it). */
export function publicKeyOf(x: string): Promise<CryptoKey> {
  let p = imported.get(x);
  if (!p) {
    p = importJWK({ kty: 'OKP', crv: 'Ed25519', x }, 'EdDSA') as Promise<CryptoKey>;
    imported.set(x, p);
    if (imported.size > 1000) imported.delete(imported.keys().next().value as string);
  }
  return p;
}
