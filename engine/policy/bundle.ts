// Loads an OPA bundle built with `opa build -t wasm` (directory or .tar.gz), checks its manifest
// and, when keys are configured, its `.signatures.json`, before anything is evaluated.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { compactVerify, decodeJwt, decodeProtectedHeader } from 'jose';
import { parseTar } from 'nanotar';
import { EngineError, messageOf } from '../errors.ts';

export interface BundleManifest {
  revision: string;
  roots: string[];
  wasm: { entrypoint: string; module: string }[];
  [key: string]: unknown;
}

export interface PolicyBundle {
  /** The bundle's revision (the policy repository's git SHA when built by `verdict policy build`). */
  revision: string;
  manifest: BundleManifest;
  wasm: Uint8Array;
  data: unknown;
  /** Key id that signed the bundle, or null when it was loaded without signature verification. */
  signedBy: string | null;
  /**
   * The revision claims inside the signature (`verdict` claim of `.signatures.json`), or null for a bundle
   * loaded without signature verification. Present whenever signedBy is.
   */
  signed: SignedRevision | null;
  /** sha256 (hex) over the bundle's files (names and bytes, sorted by name): identifies its content. */
  digest: string;
}

/**
 * The `verdict` claim Verdict puts in an OPA bundle signature (`opa build --claims-file`):
 * `{"verdict": {"revision": "<git sha>", "sequence": <commit time, s>, "rollback": false}}`.
 * OPA has no anti-rollback check; gateways compare `sequence` with the active bundle's and refuse a lower one
 * unless `rollback` is true (an explicit, signed rollback).
 */
export interface SignedRevision {
  /** Equal to the manifest's revision (checked). */
  revision: string;
  /** Monotonic: a later policy revision has a higher sequence (the commit's committer time, Unix seconds). */
  sequence: number;
  /** A signed, deliberate move back to an earlier revision. */
  rollback: boolean;
}

export interface BundleVerification {
  /** Public keys (PEM, SPKI) by key id. When non-empty the bundle must carry a valid signature by one. */
  keys: Record<string, string>;
  /** Allowed JWS algorithms; default RS256, ES256, EdDSA. */
  algorithms?: string[];
}

export interface LoadBundleOptions {
  verification?: BundleVerification;
}

/**
 * Loads a bundle from a directory or a `.tar.gz` file.
 *
 * @example
 * const bundle = await loadBundle('.build/bundle.tar.gz');
 */
export async function loadBundle(path: string, options: LoadBundleOptions = {}): Promise<PolicyBundle> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new EngineError('BUNDLE_MISSING', `no policy bundle at ${path}; build one with \`npm run policy:build\``, {
      cause: err,
    });
  }
  const files = info.isDirectory() ? await readDir(path) : archiveFiles(await readFile(path), path);
  return bundleFromFiles(files, options);
}

/** Reads the files of an in-memory `.tar.gz` bundle. */
export function archiveFiles(bytes: Uint8Array, label = 'bundle archive'): Map<string, Uint8Array> {
  let entries;
  try {
    entries = parseTar(gunzipSync(bytes));
  } catch (err) {
    throw new EngineError('BUNDLE_ARCHIVE', `${label} is not a gzipped tar archive: ${messageOf(err)}`, { cause: err });
  }
  const files = new Map<string, Uint8Array>();
  for (const entry of entries) {
    if (entry.type !== 'file' || !entry.data) continue;
    files.set(normalizeName(entry.name), entry.data);
  }
  return files;
}

async function readDir(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    files.set(normalizeName(relative(dir, full).split(sep).join('/')), await readFile(full));
  }
  return files;
}

function normalizeName(name: string): string {
  return name.replace(/^\.?\/+/, '');
}

/** Builds a bundle from its files (names relative to the bundle root, '/'-separated). */
export async function bundleFromFiles(
  files: Map<string, Uint8Array>,
  options: LoadBundleOptions = {},
): Promise<PolicyBundle> {
  const manifestBytes = files.get('.manifest');
  if (!manifestBytes) throw new EngineError('BUNDLE_MANIFEST', 'the bundle has no .manifest; was it built with `opa build`?');
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(Buffer.from(manifestBytes).toString('utf8'));
  } catch (err) {
    throw new EngineError('BUNDLE_MANIFEST', `the bundle's .manifest is not valid JSON: ${messageOf(err)}`, { cause: err });
  }
  if (!manifest || typeof manifest !== 'object' || typeof manifest.revision !== 'string' || manifest.revision === '') {
    throw new EngineError('BUNDLE_MANIFEST', 'the bundle\'s .manifest has no revision; build it with `npm run policy:build`');
  }
  if (!Array.isArray(manifest.wasm) || manifest.wasm.length === 0) {
    throw new EngineError('BUNDLE_MANIFEST', 'the bundle\'s .manifest lists no WASM module; build it with `opa build -t wasm`');
  }
  const modules = new Set(manifest.wasm.map((w) => normalizeName(String(w?.module ?? ''))));
  if (modules.size !== 1) {
    throw new EngineError('BUNDLE_MANIFEST', `the bundle must hold exactly one WASM module, its manifest lists ${modules.size}`);
  }
  const moduleName = [...modules][0]!;
  const wasm = files.get(moduleName);
  if (!wasm) throw new EngineError('BUNDLE_WASM', `the manifest names ${moduleName} but the bundle does not contain it`);

  let data: unknown = {};
  const dataBytes = files.get('data.json');
  if (dataBytes) {
    try {
      data = JSON.parse(Buffer.from(dataBytes).toString('utf8'));
    } catch (err) {
      throw new EngineError('BUNDLE_MANIFEST', `the bundle's data.json is not valid JSON: ${messageOf(err)}`, { cause: err });
    }
  }

  const keys = options.verification?.keys ?? {};
  let signedBy: string | null = null;
  let signed: SignedRevision | null = null;
  if (Object.keys(keys).length > 0) {
    const verified = await verifySignatures(files, options.verification!);
    signedBy = verified.kid;
    signed = signedRevision(verified.claims, manifest.revision);
  }
  return { revision: manifest.revision, manifest, wasm, data, signedBy, signed, digest: filesDigest(files) };
}

/** sha256 over the sorted file names and their bytes (length-prefixed, so no two bundles collide). */
export function filesDigest(files: Map<string, Uint8Array>): string {
  const h = createHash('sha256');
  for (const name of [...files.keys()].sort()) {
    const bytes = files.get(name)!;
    h.update(`${Buffer.byteLength(name)}:${name}:${bytes.byteLength}:`).update(bytes);
  }
  return h.digest('hex');
}

function signedRevision(claims: Record<string, unknown>, manifestRevision: string): SignedRevision {
  const v = claims.verdict as Record<string, unknown> | undefined;
  if (!v || typeof v !== 'object') {
    throw new EngineError('BUNDLE_REVISION', 'the bundle\'s signature carries no revision claim ("verdict": {revision, sequence}); build it with `verdict policy build --signing-key`');
  }
  if (typeof v.revision !== 'string' || v.revision !== manifestRevision) {
    throw new EngineError('BUNDLE_REVISION', `the signed revision ${JSON.stringify(v.revision)} is not the manifest's revision ${JSON.stringify(manifestRevision)}`);
  }
  if (typeof v.sequence !== 'number' || !Number.isSafeInteger(v.sequence) || v.sequence < 0) {
    throw new EngineError('BUNDLE_REVISION', `the signed revision sequence must be a non-negative integer (got ${JSON.stringify(v.sequence)})`);
  }
  if (v.rollback !== undefined && typeof v.rollback !== 'boolean') {
    throw new EngineError('BUNDLE_REVISION', 'the signed claim "rollback" must be a boolean');
  }
  return { revision: v.revision, sequence: v.sequence, rollback: v.rollback === true };
}

/**
 * Verifies `.signatures.json` the way OPA does: a JWS over a list of file hashes, where JSON files
 * are hashed in OPA's canonical form and every other file byte for byte; every file must be listed.
 */
async function verifySignatures(files: Map<string, Uint8Array>, verification: BundleVerification): Promise<{ kid: string; claims: Record<string, unknown> }> {
  const sigFile = files.get('.signatures.json');
  if (!sigFile) throw new EngineError('BUNDLE_SIGNATURE', 'the bundle is not signed (no .signatures.json) but signing keys are configured');
  let jws: string;
  try {
    const parsed = JSON.parse(Buffer.from(sigFile).toString('utf8'));
    if (!Array.isArray(parsed.signatures) || parsed.signatures.length !== 1 || typeof parsed.signatures[0] !== 'string') {
      throw new Error('expected {"signatures": ["<jws>"]}');
    }
    jws = parsed.signatures[0];
  } catch (err) {
    throw new EngineError('BUNDLE_SIGNATURE', `the bundle's .signatures.json is malformed: ${messageOf(err)}`, { cause: err });
  }

  let kid: string;
  let key: KeyObject;
  let payload: Uint8Array;
  try {
    // OPA names the key in the header's kid or the payload's keyid claim (`opa build --claims-file`); the
    // name only selects a configured key, the signature is then checked with that key.
    const header = decodeProtectedHeader(jws);
    const claimed = decodeJwt(jws).keyid;
    kid = typeof header.kid === 'string' ? header.kid : typeof claimed === 'string' ? claimed : 'default';
    const pem = verification.keys[kid];
    if (!pem) throw new Error(`no configured public key has id "${kid}"`);
    key = createPublicKey(pem);
    ({ payload } = await compactVerify(jws, key, { algorithms: verification.algorithms ?? ['RS256', 'ES256', 'EdDSA'] }));
  } catch (err) {
    throw new EngineError('BUNDLE_SIGNATURE', `the bundle's signature does not verify: ${messageOf(err)}`, { cause: err });
  }

  const claims = JSON.parse(Buffer.from(payload).toString('utf8')) as { files?: { name: string; hash: string; algorithm: string }[] } & Record<string, unknown>;
  if (!Array.isArray(claims.files)) throw new EngineError('BUNDLE_SIGNATURE', 'the bundle\'s signature lists no files');
  const listed = new Map(claims.files.map((f) => [normalizeName(String(f?.name ?? '')), f]));
  for (const [name, bytes] of files) {
    if (name === '.signatures.json') continue;
    const entry = listed.get(name);
    if (!entry) throw new EngineError('BUNDLE_SIGNATURE', `${name} is in the bundle but not covered by its signature`);
    if (entry.algorithm !== 'SHA-256') {
      throw new EngineError('BUNDLE_SIGNATURE', `${name} is signed with ${entry.algorithm}; only SHA-256 is accepted`);
    }
    const digest = fileDigest(name, bytes);
    if (digest !== entry.hash) throw new EngineError('BUNDLE_SIGNATURE', `${name} was modified after the bundle was signed`);
    listed.delete(name);
  }
  if (listed.size > 0) {
    throw new EngineError('BUNDLE_SIGNATURE', `the signature lists files missing from the bundle: ${[...listed.keys()].join(', ')}`);
  }
  return { kid, claims };
}

function fileDigest(name: string, bytes: Uint8Array): string {
  const hash = createHash('sha256');
  if (name.endsWith('.json') || name === '.manifest') {
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      return '';
    }
    hash.update(goCanonicalJson(value));
  } else {
    hash.update(bytes);
  }
  return hash.digest('hex');
}

/** OPA's canonical JSON for hashing: sorted keys, no spaces, Go's string escaping without HTML escapes. */
function goCanonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goCanonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const obj = v as Record<string, unknown>;
    return `{${Object.keys(obj)
      .sort()
      .map((k) => `${goString(k)}:${goCanonicalJson(obj[k])}`)
      .join(',')}}`;
  }
  if (typeof v === 'string') return goString(v);
  return JSON.stringify(v);
}

function goString(s: string): string {
  return JSON.stringify(s).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
