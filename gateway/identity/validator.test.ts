// The identity validator against a real dev issuer over loopback HTTP and real jose crypto:
// every refusal path, JWKS caching/cooldown/rotation, fail-closed when the issuer is down.
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_KEYS_FILE, startDevIssuer, type DevIssuer } from './dev-issuer.ts';
import {
  createIdentityValidator,
  IdentityError,
  looksLikeJwt,
  type IdentityConfig,
  type IdentityErrorCode,
} from './validator.ts';

let dev: DevIssuer;
let keyDir: string;
/** The issuer's own private key, read from keyDir, to hand-craft tokens `mint` refuses to make. */
let issuerKey: { kid: string; key: Awaited<ReturnType<typeof importJWK>> };

beforeAll(async () => {
  keyDir = mkdtempSync(join(tmpdir(), 'verdict-identity-'));
  dev = await startDevIssuer({ keyDir });
  const jwk = (JSON.parse(readFileSync(join(keyDir, DEV_KEYS_FILE), 'utf8')) as { keys: JWK[] }).keys[0] as JWK;
  issuerKey = { kid: jwk.kid as string, key: await importJWK(jwk, jwk.alg) };
});
afterAll(async () => {
  await dev.close();
  rmSync(keyDir, { recursive: true, force: true });
});

function validatorFor(issuer: DevIssuer, extra: Partial<IdentityConfig> = {}) {
  return createIdentityValidator({ issuer: issuer.issuer, audience: issuer.audience, jwksUrl: issuer.jwksUrl, ...extra });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** Asserts the refusal code and that the client message leaks neither the token nor internals. */
async function expectRefused(p: Promise<unknown>, code: IdentityErrorCode, token: string, message?: RegExp): Promise<IdentityError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IdentityError);
  const e = err as IdentityError;
  expect(e.code).toBe(code);
  expect(e.sqlstate).toBe('28000');
  if (message) expect(e.clientMessage).toMatch(message);
  for (const part of [token, ...token.split('.')]) {
    if (part.length >= 8) expect(e.clientMessage).not.toContain(part);
  }
  expect(e.clientMessage).not.toMatch(/\n\s+at |"d"\s*:|BEGIN [A-Z ]*KEY/);
  return e;
}

describe('looksLikeJwt', () => {
  it('accepts three base64url segments and nothing else', () => {
    expect(looksLikeJwt('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')).toBe(true);
    expect(looksLikeJwt('hunter2')).toBe(false);
    expect(looksLikeJwt('a.b')).toBe(false);
    expect(looksLikeJwt('a.b.')).toBe(false);
    expect(looksLikeJwt('a.b.c.d.e')).toBe(false);
    expect(looksLikeJwt('a+b.c/d.e=')).toBe(false);
  });
});

describe('createIdentityValidator: configuration', () => {
  const base = { issuer: 'https://idp.example', audience: 'verdict', jwksUrl: 'https://idp.example/jwks' };
  it('refuses none and symmetric algorithms', () => {
    expect(() => createIdentityValidator({ ...base, algorithms: ['none'] })).toThrow(/"none" is not accepted/);
    expect(() => createIdentityValidator({ ...base, algorithms: ['ES256', 'HS256'] })).toThrow(/"HS256" is not accepted/);
    expect(() => createIdentityValidator({ ...base, algorithms: [] })).toThrow(/must not be empty/);
  });
  it('refuses a plain-http JWKS URL unless it is loopback', () => {
    expect(() => createIdentityValidator({ ...base, jwksUrl: 'http://idp.example/jwks' })).toThrow(/https/);
    expect(() => createIdentityValidator({ ...base, jwksUrl: 'http://127.0.0.1:1/jwks' })).not.toThrow();
  });
});

describe('verify: accepted tokens', () => {
  it('maps a valid token to an identity', async () => {
    const token = await dev.mint('alice');
    const id = await validatorFor(dev).verify(token, 'alice');
    expect(id).toMatchObject({
      sub: 'user:alice',
      email: 'alice@clinic.example',
      groups: ['clinicians'],
      username: 'alice',
      issuer: dev.issuer,
    });
    expect(id.expiresAt.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    expect(id.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect(id.claims.jti).toEqual(expect.any(String));
  });

  it('accepts a token expired less than the clock tolerance ago', async () => {
    const token = await dev.mint('alice', { issuedAt: new Date(Date.now() - 3610_000), ttlSeconds: 3600 });
    await expect(validatorFor(dev).verify(token, 'alice')).resolves.toMatchObject({ username: 'alice' });
    await expectRefused(validatorFor(dev, { clockToleranceSeconds: 0 }).verify(token, 'alice'), 'TOKEN_EXPIRED', token);
  });

  it('normalizes groups given as a space/comma separated string (dedupe, sort)', async () => {
    const token = await dev.mint('bob', { claims: { groups: 'ops, contractors  analysts,ops' } });
    const id = await validatorFor(dev).verify(token, 'bob');
    expect(id.groups).toEqual(['analysts', 'contractors', 'ops']);
  });

  it('normalizes groups given as an array', async () => {
    const token = await dev.mint('bob', { claims: { groups: [' b', 'a', 'b', ''] } });
    expect((await validatorFor(dev).verify(token, 'bob')).groups).toEqual(['a', 'b']);
  });

  it('falls back to email for the username when preferred_username is absent', async () => {
    const token = await dev.mint('carol', { claims: { preferred_username: '' } });
    const id = await validatorFor(dev).verify(token, 'carol@clinic.example');
    expect(id.username).toBe('carol@clinic.example');
  });

  it('honours configured claim names, including dotted paths', async () => {
    const token = await dev.mint('carol', { claims: { realm_access: { roles: ['approvers'] }, upn: 'CAROL' } });
    const id = await validatorFor(dev, { claims: { groups: 'realm_access.roles', username: 'upn' } }).verify(token, 'CAROL');
    expect(id).toMatchObject({ groups: ['approvers'], username: 'CAROL' });
  });
});

describe('verify: refused tokens', () => {
  it('refuses a password that is not a JWT', async () => {
    await expectRefused(validatorFor(dev).verify('hunter2', 'alice'), 'TOKEN_MALFORMED', 'hunter2', /not a JWT/);
    await expectRefused(validatorFor(dev).verify('', 'alice'), 'TOKEN_MALFORMED', '', /empty/);
    const junk = `${b64url({ alg: 'ES256' })}.%%%.sig`;
    await expectRefused(validatorFor(dev).verify(junk, 'alice'), 'TOKEN_MALFORMED', junk);
  });

  it('refuses an expired token with the time it expired', async () => {
    const token = await dev.mint('alice', { issuedAt: new Date(Date.now() - 7200_000), ttlSeconds: 3600 });
    await expectRefused(
      validatorFor(dev).verify(token, 'alice'),
      'TOKEN_EXPIRED',
      token,
      /^token expired at 20\d\d-\d\d-\d\dT[\d:.]+Z; get a new one$/,
    );
  });

  it('refuses a token whose iat is older than maxTokenAgeSeconds', async () => {
    const token = await dev.mint('alice', { issuedAt: new Date(Date.now() - 7200_000), ttlSeconds: 3 * 3600 });
    await expect(validatorFor(dev).verify(token, 'alice')).resolves.toMatchObject({ username: 'alice' });
    await expectRefused(validatorFor(dev, { maxTokenAgeSeconds: 3600 }).verify(token, 'alice'), 'TOKEN_EXPIRED', token, /issued at .* more than 3600 seconds ago/);
  });

  it('refuses a token whose nbf is in the future', async () => {
    const token = await dev.mint('alice', { notBefore: new Date(Date.now() + 600_000) });
    await expectRefused(validatorFor(dev).verify(token, 'alice'), 'TOKEN_NOT_YET_VALID', token, /not valid before 20/);
  });

  it('refuses a token from another issuer', async () => {
    const token = await dev.mint('alice');
    const v = createIdentityValidator({ issuer: 'https://idp.example', audience: 'verdict', jwksUrl: dev.jwksUrl });
    await expectRefused(v.verify(token, 'alice'), 'TOKEN_ISSUER', token, /issuer http:\/\/127\.0\.0\.1:\d+ is not trusted.*https:\/\/idp\.example/);
  });

  it('refuses a token for another audience', async () => {
    const token = await dev.mint('alice', { audience: 'billing' });
    await expectRefused(validatorFor(dev).verify(token, 'alice'), 'TOKEN_AUDIENCE', token, /token audience does not include verdict/);
    await expect(validatorFor(dev, { audience: ['billing', 'verdict'] }).verify(token, 'alice')).resolves.toMatchObject({ username: 'alice' });
  });

  it('refuses a token without exp', async () => {
    const token = await new SignJWT({ preferred_username: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: issuerKey.kid })
      .setIssuer(dev.issuer)
      .setAudience(dev.audience)
      .setSubject('user:alice')
      .setIssuedAt()
      .sign(issuerKey.key);
    await expectRefused(validatorFor(dev).verify(token, 'alice'), 'TOKEN_CLAIMS', token, /has no "exp" claim/);
  });

  it('refuses malformed groups and a missing sub', async () => {
    const badGroups = await dev.mint('bob', { claims: { groups: [1, 2] } });
    await expectRefused(validatorFor(dev).verify(badGroups, 'bob'), 'TOKEN_CLAIMS', badGroups, /"groups" must be a list of strings/);
    const v = validatorFor(dev, { claims: { subject: 'oid' } });
    const noOid = await dev.mint('bob');
    await expectRefused(v.verify(noOid, 'bob'), 'TOKEN_CLAIMS', noOid, /"oid" must be a non-empty string/);
  });

  it('refuses a token whose user is not the startup user (case-sensitive)', async () => {
    const token = await dev.mint('bob');
    await expectRefused(
      validatorFor(dev).verify(token, 'alice'),
      'USER_MISMATCH',
      token,
      /^the database user alice does not match the token's user bob; connect as bob or get a token for alice$/,
    );
    await expectRefused(validatorFor(dev).verify(token, 'Bob'), 'USER_MISMATCH', token);
  });

  it('refuses a tampered payload', async () => {
    const token = await dev.mint('bob');
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${b64url({ ...claims, groups: ['phi-approvers'] })}.${s}`;
    await expectRefused(validatorFor(dev).verify(forged, 'bob'), 'TOKEN_SIGNATURE', forged, /signature is invalid/);
  });

  it('refuses a token signed by a foreign key that claims the issuer kid', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({ preferred_username: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: dev.activeKid })
      .setIssuer(dev.issuer)
      .setAudience(dev.audience)
      .setSubject('user:alice')
      .setExpirationTime('1h')
      .sign(privateKey);
    await expectRefused(validatorFor(dev).verify(token, 'alice'), 'TOKEN_SIGNATURE', token);
  });

  it('refuses alg none and HS256 tokens crafted by hand, without fetching the JWKS', async () => {
    const claims = { iss: dev.issuer, aud: dev.audience, sub: 'user:alice', preferred_username: 'alice', exp: now() + 600 };
    const v = validatorFor(dev);
    const before = dev.stats.jwksRequests;

    const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
    await expectRefused(v.verify(none, 'alice'), 'TOKEN_ALGORITHM', none, /algorithm none is not accepted; accepted: RS256, ES256, EdDSA/);
    const noneSigned = `${b64url({ alg: 'none' })}.${b64url(claims)}.c2lnbmF0dXJl`;
    await expectRefused(v.verify(noneSigned, 'alice'), 'TOKEN_ALGORITHM', noneSigned);

    // Key confusion: HMAC keyed with the issuer's *public* JWK, which anyone can download.
    const publicJwks = await (await fetch(dev.jwksUrl)).text();
    const signingInput = `${b64url({ alg: 'HS256', typ: 'JWT', kid: dev.activeKid })}.${b64url(claims)}`;
    const hs = `${signingInput}.${createHmac('sha256', publicJwks).update(signingInput).digest('base64url')}`;
    await expectRefused(v.verify(hs, 'alice'), 'TOKEN_ALGORITHM', hs, /algorithm HS256 is not accepted/);

    // One fetch is ours (for the HMAC secret); the validator made none.
    expect(dev.stats.jwksRequests).toBe(before + 1);
  });

  it('refuses an algorithm outside a narrowed allow-list', async () => {
    const token = await dev.mint('alice');
    await expectRefused(validatorFor(dev, { algorithms: ['RS256'] }).verify(token, 'alice'), 'TOKEN_ALGORITHM', token, /ES256 is not accepted; accepted: RS256/);
  });
});

describe('verify: JWKS fetching', () => {
  it('refetches once for an unknown kid and lets a burst of 50 cause at most one more fetch', async () => {
    const issuer = await startDevIssuer();
    try {
      const v = validatorFor(issuer, { jwksCooldownMs: 150 });
      await v.verify(await issuer.mint('alice'), 'alice');
      expect(issuer.stats.jwksRequests).toBe(1);
      // Cached: a second valid token costs nothing.
      await v.verify(await issuer.mint('alice'), 'alice');
      expect(issuer.stats.jwksRequests).toBe(1);

      const rogue = await generateKeyPair('ES256');
      const rogueToken = (kid: string) =>
        new SignJWT({ preferred_username: 'alice' })
          .setProtectedHeader({ alg: 'ES256', kid })
          .setIssuer(issuer.issuer)
          .setAudience(issuer.audience)
          .setSubject('user:alice')
          .setExpirationTime('1h')
          .sign(rogue.privateKey);

      await sleep(200); // past the cooldown: an unknown kid may trigger exactly one refetch
      const first = await rogueToken('rogue-0');
      await expectRefused(v.verify(first, 'alice'), 'TOKEN_UNKNOWN_KEY', first, /signed with key rogue-0 which http:\/\/127\.0\.0\.1:\d+ does not publish/);
      expect(issuer.stats.jwksRequests).toBe(2);

      const burst = await Promise.all(Array.from({ length: 50 }, (_, i) => rogueToken(`rogue-${i + 1}-${Math.random()}`)));
      const results = await Promise.allSettled(burst.map((t) => v.verify(t, 'alice')));
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect(((r as PromiseRejectedResult).reason as IdentityError).code).toBe('TOKEN_UNKNOWN_KEY');
      }
      expect(issuer.stats.jwksRequests).toBeLessThanOrEqual(3);
    } finally {
      await issuer.close();
    }
  });

  it('verifies a token signed with a rotated-in key after one refetch', async () => {
    const issuer = await startDevIssuer();
    try {
      const v = validatorFor(issuer, { jwksCooldownMs: 100 });
      const oldToken = await issuer.mint('alice');
      await v.verify(oldToken, 'alice');
      const oldKid = issuer.activeKid;
      const newKid = await issuer.addKey({ activate: true });
      expect(newKid).not.toBe(oldKid);
      await sleep(150);
      const newToken = await issuer.mint('alice');
      const id = await v.verify(newToken, 'alice');
      expect(id.username).toBe('alice');
      expect(issuer.stats.jwksRequests).toBe(2);
      // The old key is still published, so tokens already handed out keep working.
      await expect(v.verify(oldToken, 'alice')).resolves.toMatchObject({ username: 'alice' });
      expect(issuer.stats.jwksRequests).toBe(2);
    } finally {
      await issuer.close();
    }
  });

  it('fails closed with JWKS_UNAVAILABLE when the issuer is down', async () => {
    const issuer = await startDevIssuer();
    const token = await issuer.mint('alice');
    await issuer.close();
    await expectRefused(
      validatorFor(issuer).verify(token, 'alice'),
      'JWKS_UNAVAILABLE',
      token,
      /signing keys could not be fetched from http:\/\/127\.0\.0\.1:\d+\/jwks; try again shortly/,
    );
  });

  it('fails closed when the JWKS endpoint answers with an error or hangs', async () => {
    const token = await dev.mint('alice');
    let hang = false;
    const server: Server = createServer((_req, res) => {
      if (hang) return; // never answer: the validator's timeout must fire
      res.writeHead(500).end('boom');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    try {
      const v = createIdentityValidator({ issuer: dev.issuer, audience: dev.audience, jwksUrl: url, jwksTimeoutMs: 200 });
      await expectRefused(v.verify(token, 'alice'), 'JWKS_UNAVAILABLE', token);
      hang = true;
      const started = Date.now();
      await expectRefused(v.verify(token, 'alice'), 'JWKS_UNAVAILABLE', token);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
