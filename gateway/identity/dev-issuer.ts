// A local OIDC issuer for the embedded demo and tests: discovery + JWKS over loopback HTTP, token minting.
// Its key ring can be persisted so `verdict token <user>` (another process) mints tokens the demo accepts.

import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { DevIssuerError, DevIssuerErrorCode } from './errors.ts';

export { DevIssuerError, DevIssuerErrorCode } from './errors.ts';

export interface DevUser {
  username: string;
  email: string;
  groups: string[];
  /** A purpose-of-use claim the user's tokens carry (as an IdP may stamp a care context); absent: none. */
  purpose?: string;
}

/** Signing algorithms the dev issuer can hold keys for (both are in the validator's defaults). */
export type DevAlgorithm = 'ES256' | 'EdDSA';

export interface MintOptions {
  /** Lifetime from `issuedAt`. Default 3600. */
  ttlSeconds?: number;
  /** Overrides the issuer's audience (tests of audience checks). */
  audience?: string;
  /** Default: `issuedAt`. */
  notBefore?: Date;
  /** Default: now. Set it in the past to mint an already-expired token. */
  issuedAt?: Date;
  /** Sign with this key of the ring (default: the active key). */
  kid?: string;
  /** Sign with the newest key of this algorithm in the ring. */
  alg?: DevAlgorithm;
  /** Extra or overriding claims (e.g. `groups` as a string). Merged last. */
  claims?: Record<string, unknown>;
}

export interface DevIssuer {
  /** `http://127.0.0.1:<port>`: the `iss` of minted tokens. */
  issuer: string;
  jwksUrl: string;
  audience: string;
  users: DevUser[];
  /** Kid of the key `mint` uses by default. */
  readonly activeKid: string;
  /** Requests served, so tests can prove the validator's JWKS cache and cooldown work. */
  readonly stats: { readonly jwksRequests: number; readonly discoveryRequests: number };
  /** Mints a token for a known user (by name) or an ad-hoc user. */
  mint(user: DevUser | string, opts?: MintOptions): Promise<string>;
  /** Key rotation: publishes a new key (and makes it the default when `activate`). Returns its kid. */
  addKey(opts?: { alg?: DevAlgorithm; activate?: boolean }): Promise<string>;
  /** Stops serving; closes keep-alive connections so callers are not left waiting. */
  close(): Promise<void>;
}

export interface DevIssuerOptions {
  /** 0 (default) = a random free port. */
  port?: number;
  /** Loopback only; anything else is refused. */
  host?: '127.0.0.1';
  /** Default 'verdict'. */
  audience?: string;
  /** Default {@link DEFAULT_DEV_USERS}. */
  users?: DevUser[];
  /** Persist (and reuse) the key ring and issuer metadata here, files mode 0600. */
  keyDir?: string;
  /** Algorithm of a freshly generated key ring. Default 'ES256'. */
  alg?: DevAlgorithm;
}

/** The demo's cast: one clinician, one contractor, one approver of PHI access. */
export const DEFAULT_DEV_USERS: readonly DevUser[] = Object.freeze([
  { username: 'alice', email: 'alice@clinic.example', groups: ['clinicians'], purpose: 'treatment' },
  { username: 'bob', email: 'bob@clinic.example', groups: ['contractors'] },
  { username: 'carol', email: 'carol@clinic.example', groups: ['phi-approvers'] },
]);

/** Names of the files under `keyDir`. */
export const DEV_KEYS_FILE = 'dev-issuer.keys.json';
export const DEV_METADATA_FILE = 'dev-issuer.json';

interface RingKey {
  kid: string;
  alg: DevAlgorithm;
  privateJwk: JWK;
  publicJwk: JWK;
}

/** What `mintWithStoredKey` needs to mint without the server: written on every start. */
interface StoredMetadata {
  issuer: string;
  jwksUrl: string;
  audience: string;
  activeKid: string;
  users: DevUser[];
}

/**
 * Starts the development issuer on loopback. With `keyDir`, an existing key ring is reused (tokens
 * minted before a restart keep verifying) and metadata is rewritten for `mintWithStoredKey`.
 *
 * @example
 * const dev = await startDevIssuer({ keyDir: '.verdict/dev-issuer' })
 * const token = await dev.mint('alice')
 * const validator = createIdentityValidator({ issuer: dev.issuer, audience: dev.audience, jwksUrl: dev.jwksUrl })
 * await validator.verify(token, 'alice')
 * await dev.close()
 */
export async function startDevIssuer(opts: DevIssuerOptions = {}): Promise<DevIssuer> {
  const host = opts.host ?? '127.0.0.1';
  if (host !== '127.0.0.1') {
    throw new DevIssuerError(DevIssuerErrorCode.NotLoopback, `dev issuer listens on 127.0.0.1 only, not ${String(host)}`);
  }
  const audience = opts.audience ?? 'verdict';
  const users = (opts.users ?? DEFAULT_DEV_USERS).map((u) => ({ ...u, groups: [...u.groups] }));

  let ring: RingKey[] = opts.keyDir ? await loadRing(opts.keyDir) : [];
  if (ring.length === 0) ring = [await newKey(opts.alg ?? 'ES256')];
  // The last key of the ring is the active one, so a persisted rotation survives restarts.
  let active = ring[ring.length - 1] as RingKey;
  const stats = { jwksRequests: 0, discoveryRequests: 0 };

  let issuer = '';
  const server: Server = createServer((req, res) => {
    handle(req, res, { issuer, ring: () => ring, stats });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  issuer = `http://${host}:${port}`;
  const jwksUrl = `${issuer}/jwks`;

  const persist = async (): Promise<void> => {
    if (!opts.keyDir) return;
    const meta: StoredMetadata = { issuer, jwksUrl, audience, activeKid: active.kid, users };
    await mkdir(opts.keyDir, { recursive: true, mode: 0o700 });
    await writePrivateFile(join(opts.keyDir, DEV_KEYS_FILE), { keys: ring.map((k) => k.privateJwk) });
    await writePrivateFile(join(opts.keyDir, DEV_METADATA_FILE), meta);
  };
  try {
    await persist();
  } catch (err) {
    await closeServer(server);
    throw err;
  }

  return {
    issuer,
    jwksUrl,
    audience,
    users,
    get activeKid() {
      return active.kid;
    },
    stats,
    async mint(user, mintOpts = {}) {
      const key = pickKey(ring, active, mintOpts);
      return signToken(key, { issuer, audience, users }, user, mintOpts);
    },
    async addKey(addOpts = {}) {
      const key = await newKey(addOpts.alg ?? active.alg);
      if (addOpts.activate) {
        ring = [...ring, key];
        active = key;
      } else {
        // Keep the active key last so a restart from keyDir activates the same key.
        ring = [...ring.slice(0, -1), key, active];
      }
      await persist();
      return key.kid;
    },
    close: () => closeServer(server),
  };
}

/**
 * Mints a token with the key ring a running dev issuer persisted — for `verdict token <user>`,
 * which runs in another process and needs no server.
 *
 * @example
 * // terminal 1: verdict demo  (startDevIssuer({ keyDir: '.verdict/dev-issuer' }))
 * const token = await mintWithStoredKey('.verdict/dev-issuer', 'alice', { ttlSeconds: 600 })
 * // PGPASSWORD=$token psql -h 127.0.0.1 -U alice
 */
export async function mintWithStoredKey(keyDir: string, user: string, opts: MintOptions = {}): Promise<string> {
  const ring = await loadRing(keyDir);
  const meta = await readJson(join(keyDir, DEV_METADATA_FILE));
  if (!isMetadata(meta)) {
    throw new DevIssuerError(DevIssuerErrorCode.KeyDirInvalid, `${join(keyDir, DEV_METADATA_FILE)} is not dev issuer metadata`);
  }
  const active = ring.find((k) => k.kid === meta.activeKid) ?? ring[ring.length - 1];
  if (!active) {
    throw new DevIssuerError(DevIssuerErrorCode.KeyDirMissing, `no signing key in ${keyDir}; start the demo first`);
  }
  return signToken(pickKey(ring, active, opts), meta, user, opts);
}

async function signToken(
  key: RingKey,
  meta: { issuer: string; audience: string; users: DevUser[] },
  who: DevUser | string,
  opts: MintOptions,
): Promise<string> {
  const user = typeof who === 'string' ? meta.users.find((u) => u.username === who) : who;
  if (!user) {
    throw new DevIssuerError(
      DevIssuerErrorCode.UnknownUser,
      `unknown dev user ${JSON.stringify(who)}; known users: ${meta.users.map((u) => u.username).join(', ')}`,
    );
  }
  const iat = Math.floor((opts.issuedAt ?? new Date()).getTime() / 1000);
  const nbf = opts.notBefore ? Math.floor(opts.notBefore.getTime() / 1000) : iat;
  const exp = iat + (opts.ttlSeconds ?? 3600);
  const privateKey = await importJWK(key.privateJwk, key.alg);
  return new SignJWT({
    preferred_username: user.username,
    email: user.email,
    groups: [...user.groups],
    ...(user.purpose ? { purpose: user.purpose } : {}),
    ...opts.claims,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(meta.issuer)
    .setAudience(opts.audience ?? meta.audience)
    .setSubject(`user:${user.username}`)
    .setIssuedAt(iat)
    .setNotBefore(nbf)
    .setExpirationTime(exp)
    .setJti(randomUUID())
    .sign(privateKey);
}

function pickKey(ring: RingKey[], active: RingKey, opts: MintOptions): RingKey {
  if (opts.kid !== undefined) {
    const key = ring.find((k) => k.kid === opts.kid);
    if (!key) throw new DevIssuerError(DevIssuerErrorCode.UnknownKey, `no key with kid ${opts.kid} in the dev issuer's ring`);
    return key;
  }
  if (opts.alg !== undefined && opts.alg !== active.alg) {
    const key = ring.findLast((k) => k.alg === opts.alg);
    if (!key) throw new DevIssuerError(DevIssuerErrorCode.UnknownKey, `no ${opts.alg} key in the dev issuer's ring; addKey({ alg: '${opts.alg}' }) first`);
    return key;
  }
  return active;
}

async function newKey(alg: DevAlgorithm): Promise<RingKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  // RFC 7638 thumbprint: a kid that is stable for the key and reveals nothing beyond it.
  const kid = await calculateJwkThumbprint(publicJwk);
  const common = { kid, alg, use: 'sig' };
  return {
    kid,
    alg,
    privateJwk: { ...(await exportJWK(privateKey)), ...common },
    publicJwk: { ...publicJwk, ...common },
  };
}

async function loadRing(keyDir: string): Promise<RingKey[]> {
  const file = join(keyDir, DEV_KEYS_FILE);
  const data = await readJson(file);
  if (data === undefined) return [];
  const keys = (data as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new DevIssuerError(DevIssuerErrorCode.KeyDirInvalid, `${file} has no "keys" array`);
  const ring: RingKey[] = [];
  for (const jwk of keys as JWK[]) {
    if (typeof jwk.kid !== 'string' || (jwk.alg !== 'ES256' && jwk.alg !== 'EdDSA') || typeof jwk.d !== 'string') {
      throw new DevIssuerError(DevIssuerErrorCode.KeyDirInvalid, `${file} holds a key that is not a private ES256/EdDSA JWK with a kid`);
    }
    const { d: _d, ...pub } = jwk;
    ring.push({ kid: jwk.kid, alg: jwk.alg as DevAlgorithm, privateJwk: jwk, publicJwk: pub });
  }
  return ring;
}

/** undefined when the file does not exist; DevIssuerError when it is not JSON. */
async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new DevIssuerError(DevIssuerErrorCode.KeyDirInvalid, `${file} is not valid JSON`, { cause });
  }
}

function isMetadata(v: unknown): v is StoredMetadata {
  if (v === undefined) {
    throw new DevIssuerError(DevIssuerErrorCode.KeyDirMissing, `no dev issuer metadata (${DEV_METADATA_FILE}); start the demo first`);
  }
  const m = v as Partial<StoredMetadata>;
  return typeof m.issuer === 'string' && typeof m.audience === 'string' && typeof m.activeKid === 'string' && Array.isArray(m.users);
}

/**
 * Write-then-rename so a concurrent `verdict token` never reads half a key; the temp file is
 * created 0600 and chmod covers a pre-existing target created by an older version with looser bits.
 */
async function writePrivateFile(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

interface HandlerContext {
  issuer: string;
  ring: () => RingKey[];
  stats: { jwksRequests: number; discoveryRequests: number };
}

function handle(req: IncomingMessage, res: ServerResponse, ctx: HandlerContext): void {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    send(res, req, 405, { error: 'method not allowed' }, { Allow: 'GET, HEAD' });
    return;
  }
  if (path === '/.well-known/openid-configuration') {
    ctx.stats.discoveryRequests++;
    const algs = [...new Set(ctx.ring().map((k) => k.alg))];
    send(res, req, 200, {
      issuer: ctx.issuer,
      jwks_uri: `${ctx.issuer}/jwks`,
      id_token_signing_alg_values_supported: algs,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      claims_supported: ['iss', 'aud', 'sub', 'exp', 'iat', 'nbf', 'jti', 'preferred_username', 'email', 'groups'],
    }, { 'Cache-Control': 'public, max-age=300' });
    return;
  }
  if (path === '/jwks') {
    ctx.stats.jwksRequests++;
    // Short max-age: the demo rotates keys in tests and relying parties should notice quickly.
    send(res, req, 200, { keys: ctx.ring().map((k) => k.publicJwk) }, {
      'Cache-Control': 'public, max-age=60',
      'Content-Type': 'application/jwk-set+json',
    });
    return;
  }
  send(res, req, 404, { error: 'not found' });
}

function send(res: ServerResponse, req: IncomingMessage, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    // fetch (undici) keeps connections alive; without this close() waits for them to time out.
    server.closeAllConnections();
  });
}
