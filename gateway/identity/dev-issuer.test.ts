// The development issuer over real loopback HTTP: discovery and JWKS documents, token contents,
// key files (mode 0600, reused across restarts) and minting from another process via the key dir.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_DEV_USERS,
  DEV_KEYS_FILE,
  DEV_METADATA_FILE,
  DevIssuerError,
  mintWithStoredKey,
  startDevIssuer,
  type DevIssuer,
} from './dev-issuer.ts';
import { createIdentityValidator } from './validator.ts';

let dir: string;
const running: DevIssuer[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-dev-issuer-'));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function start(opts: Parameters<typeof startDevIssuer>[0] = {}): Promise<DevIssuer> {
  const dev = await startDevIssuer(opts);
  running.push(dev);
  return dev;
}

function validatorFor(dev: { issuer: string; audience: string; jwksUrl: string }) {
  return createIdentityValidator({ issuer: dev.issuer, audience: dev.audience, jwksUrl: dev.jwksUrl });
}

async function expectDevError(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DevIssuerError);
  expect((err as DevIssuerError).code).toBe(code);
  expect((err as DevIssuerError).message).toMatch(message);
}

describe('startDevIssuer: HTTP', () => {
  it('serves OIDC discovery and a public-only JWKS with Cache-Control', async () => {
    const dev = await start();
    expect(dev.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const disc = await fetch(`${dev.issuer}/.well-known/openid-configuration`);
    expect(disc.status).toBe(200);
    expect(disc.headers.get('cache-control')).toMatch(/max-age=\d+/);
    expect(await disc.json()).toMatchObject({
      issuer: dev.issuer,
      jwks_uri: dev.jwksUrl,
      id_token_signing_alg_values_supported: ['ES256'],
    });

    const res = await fetch(dev.jwksUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const { keys } = (await res.json()) as { keys: JWK[] };
    expect(keys).toHaveLength(1);
    const key = keys[0] as JWK;
    expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: dev.activeKid });
    expect(key.d).toBeUndefined();
    expect(key.kid).toBe(await calculateJwkThumbprint(key));
    expect(dev.stats).toEqual({ jwksRequests: 1, discoveryRequests: 1 });
  });

  it('answers 404 for unknown paths and 405 for other methods', async () => {
    const dev = await start();
    expect((await fetch(`${dev.issuer}/token`)).status).toBe(404);
    const post = await fetch(dev.jwksUrl, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('listens on loopback only', async () => {
    await expectDevError(startDevIssuer({ host: '0.0.0.0' as '127.0.0.1' }), 'DEV_NOT_LOOPBACK', /127\.0\.0\.1 only/);
  });
});

describe('startDevIssuer: tokens', () => {
  it('mints tokens with the documented claims for the default demo users', async () => {
    const dev = await start();
    expect(dev.users).toEqual(DEFAULT_DEV_USERS);
    expect(dev.audience).toBe('verdict');

    const token = await dev.mint('carol');
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: dev.activeKid, typ: 'JWT' });
    const c = decodeJwt(token);
    expect(c).toMatchObject({
      iss: dev.issuer,
      aud: 'verdict',
      sub: 'user:carol',
      preferred_username: 'carol',
      email: 'carol@clinic.example',
      groups: ['phi-approvers'],
    });
    expect(c.exp! - c.iat!).toBe(3600);
    expect(c.nbf).toBe(c.iat);
    expect(Math.abs(c.iat! - Date.now() / 1000)).toBeLessThan(5);
    expect(c.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeJwt(await dev.mint('carol')).jti).not.toBe(c.jti);

    const id = await validatorFor(dev).verify(token, 'carol');
    expect(id.groups).toEqual(['phi-approvers']);
  });

  it('mints for ad-hoc users and custom user lists, and refuses unknown names', async () => {
    const dev = await start({ audience: 'warehouse', users: [{ username: 'dana', email: 'dana@x.example', groups: ['analysts'] }] });
    expect((await validatorFor(dev).verify(await dev.mint('dana'), 'dana')).groups).toEqual(['analysts']);
    const adHoc = await dev.mint({ username: 'eve', email: 'eve@x.example', groups: [] });
    expect(decodeJwt(adHoc)).toMatchObject({ aud: 'warehouse', sub: 'user:eve' });
    await expectDevError(dev.mint('alice'), 'DEV_UNKNOWN_USER', /unknown dev user "alice"; known users: dana/);
  });

  it('signs with an added EdDSA key when asked, and refuses unknown kids', async () => {
    const dev = await start();
    await expectDevError(dev.mint('alice', { alg: 'EdDSA' }), 'DEV_UNKNOWN_KEY', /no EdDSA key/);
    const kid = await dev.addKey({ alg: 'EdDSA' });
    expect(dev.activeKid).not.toBe(kid); // published, not yet used by default
    const token = await dev.mint('alice', { alg: 'EdDSA' });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA', kid });
    await expect(validatorFor(dev).verify(token, 'alice')).resolves.toMatchObject({ username: 'alice' });
    await expectDevError(dev.mint('alice', { kid: 'nope' }), 'DEV_UNKNOWN_KEY', /kid nope/);
  });

  it('closes promptly even with keep-alive connections open', async () => {
    const dev = await startDevIssuer();
    await fetch(dev.jwksUrl).then((r) => r.text());
    const started = Date.now();
    await dev.close();
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(fetch(dev.jwksUrl)).rejects.toThrow();
  });
});

describe('keyDir and mintWithStoredKey', () => {
  it('writes the key ring and metadata with mode 0600 and no private key in the JWKS', async () => {
    const keyDir = join(dir, 'keys');
    const dev = await start({ keyDir });
    for (const f of [DEV_KEYS_FILE, DEV_METADATA_FILE]) {
      expect(statSync(join(keyDir, f)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(keyDir).mode & 0o077).toBe(0);
    const stored = JSON.parse(readFileSync(join(keyDir, DEV_KEYS_FILE), 'utf8')) as { keys: JWK[] };
    expect(stored.keys).toHaveLength(1);
    expect(stored.keys[0]).toMatchObject({ kid: dev.activeKid, alg: 'ES256' });
    expect(typeof stored.keys[0]?.d).toBe('string');
    const meta = JSON.parse(readFileSync(join(keyDir, DEV_METADATA_FILE), 'utf8')) as Record<string, unknown>;
    expect(meta).toMatchObject({ issuer: dev.issuer, jwksUrl: dev.jwksUrl, audience: 'verdict', activeKid: dev.activeKid });
  });

  it('mints, from another "process", tokens the running issuer\'s validator accepts', async () => {
    const keyDir = join(dir, 'keys');
    const dev = await start({ keyDir });
    const token = await mintWithStoredKey(keyDir, 'bob', { ttlSeconds: 600 });
    const c = decodeJwt(token);
    expect(c.exp! - c.iat!).toBe(600);
    const id = await validatorFor(dev).verify(token, 'bob');
    expect(id).toMatchObject({ sub: 'user:bob', groups: ['contractors'], issuer: dev.issuer });
    await expectDevError(mintWithStoredKey(keyDir, 'mallory'), 'DEV_UNKNOWN_USER', /known users: alice, bob, carol/);
  });

  it('follows a rotation: mintWithStoredKey signs with the newly activated key', async () => {
    const keyDir = join(dir, 'keys');
    const dev = await start({ keyDir });
    const kid = await dev.addKey({ activate: true });
    const token = await mintWithStoredKey(keyDir, 'alice');
    expect(decodeProtectedHeader(token).kid).toBe(kid);
    await expect(validatorFor(dev).verify(token, 'alice')).resolves.toMatchObject({ username: 'alice' });
  });

  it('reuses the stored key ring after a restart', async () => {
    const keyDir = join(dir, 'keys');
    const first = await startDevIssuer({ keyDir, users: [{ username: 'dana', email: 'dana@x.example', groups: ['a'] }] });
    const kid = first.activeKid;
    await first.close();
    const second = await start({ keyDir });
    expect(second.activeKid).toBe(kid);
    // Metadata is rewritten for the new port and user list.
    const token = await mintWithStoredKey(keyDir, 'alice');
    expect(decodeJwt(token).iss).toBe(second.issuer);
    await expect(validatorFor(second).verify(token, 'alice')).resolves.toMatchObject({ username: 'alice' });
  });

  it('explains a missing or corrupt key directory', async () => {
    await expectDevError(mintWithStoredKey(join(dir, 'absent'), 'alice'), 'DEV_KEY_DIR_MISSING', /start the demo first/);
    const keyDir = join(dir, 'keys');
    await start({ keyDir });
    writeFileSync(join(keyDir, DEV_KEYS_FILE), '{not json');
    await expectDevError(mintWithStoredKey(keyDir, 'alice'), 'DEV_KEY_DIR_INVALID', /not valid JSON/);
  });
});
