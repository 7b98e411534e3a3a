// The spool's signing keys on disk: private JWKs (mode 0600) by kid, which one is current, and the
// key set snapshots already announced (kept for continuing the key history after a restart).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { EvidenceError } from '../../engine/evidence/errors.ts';
import { generateSigningKey, signingKeyFromJwk, type KeySet, type SigningKey } from '../../engine/evidence/keys.ts';
import { listFiles, writeFileDurable } from './durable-fs.ts';

const KEYS = 'signing-keys';
const KEYRING = 'keyring';

async function readJson(path: string): Promise<unknown | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new EvidenceError('KEY_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Stores a private key (0600) and makes it the current one.
 *
 * @example
 * await saveSigningKey(spoolDir, await generateSigningKey())
 */
export async function saveSigningKey(dir: string, key: SigningKey): Promise<void> {
  await writeFileDurable(join(dir, KEYS, `${key.kid}.jwk.json`), JSON.stringify(key.privateJwk) + '\n', 0o600);
  await writeFileDurable(join(dir, KEYS, 'current'), key.kid + '\n');
}

/** A stored private key by kid, or null. */
export async function loadSigningKey(dir: string, kid: string): Promise<SigningKey | null> {
  if (!/^[A-Za-z0-9_-]{16}$/.test(kid)) return null;
  const jwk = await readJson(join(dir, KEYS, `${kid}.jwk.json`));
  return jwk ? signingKeyFromJwk(jwk as JWK) : null;
}

/**
 * The current signing key of a spool; generates and stores one on first use.
 *
 * @example
 * const key = await currentSigningKey(spoolDir)
 */
export async function currentSigningKey(dir: string): Promise<SigningKey> {
  let kid: string | null = null;
  try {
    kid = (await readFile(join(dir, KEYS, 'current'), 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (kid) {
    const key = await loadSigningKey(dir, kid);
    if (!key) throw new EvidenceError('KEY_INVALID', `the current evidence signing key ${kid} is missing from ${join(dir, KEYS)}`);
    return key;
  }
  const key = await generateSigningKey();
  await saveSigningKey(dir, key);
  return key;
}

/** Keeps a copy of an announced key set snapshot (from_seq in the name). */
export async function saveKeySet(dir: string, fromSeq: number, bytes: string): Promise<void> {
  await writeFileDurable(join(dir, KEYRING, `${String(fromSeq).padStart(12, '0')}.jwks.json`), bytes);
}

/** The newest key set snapshot whose from_seq ≤ `upToSeq` (the ones the chain has announced), or null. */
export async function latestKeySet(dir: string, upToSeq: number): Promise<KeySet | null> {
  const names = (await listFiles(join(dir, KEYRING)))
    .map((n) => ({ n, seq: Number(n.replace(/\.jwks\.json$/, '')) }))
    .filter((x) => Number.isSafeInteger(x.seq) && x.seq <= upToSeq)
    .sort((a, b) => b.seq - a.seq);
  const top = names[0];
  return top ? ((await readJson(join(dir, KEYRING, top.n))) as KeySet) : null;
}
