// Verifies the OIDC JWT a client sends as its PostgreSQL password and maps it to a Verdict identity.
// Fails closed: anything jose, the network or the claims do not vouch for becomes an IdentityError.

import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as jose,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { IdentityError, IdentityErrorCode } from './errors.ts';

export { IdentityError, IdentityErrorCode, IDENTITY_SQLSTATE } from './errors.ts';

export interface IdentityConfig {
  /** Expected `iss`, exactly as the issuer writes it. */
  issuer: string;
  /** Expected `aud`; a token passes if its audience includes any of these. */
  audience: string | string[];
  /** The issuer's JWKS. https is required unless the host is loopback (the dev issuer). */
  jwksUrl: string;
  /** Default ['RS256', 'ES256', 'EdDSA']. `none` and HS* are refused at configuration time. */
  algorithms?: string[];
  /** Default 30. */
  clockToleranceSeconds?: number;
  /**
   * Claim names (a dotted path such as `realm_access.roles` reaches into nested objects).
   * Defaults: sub, email, groups; username = preferred_username, falling back to email, then sub.
   * An explicitly configured username claim has no fallback.
   */
  claims?: { subject?: string; email?: string; groups?: string; username?: string };
  /** Optional: refuse tokens whose `iat` is older than this (and tokens without `iat`). */
  maxTokenAgeSeconds?: number;
  /** JWKS HTTP timeout. Default 5000. */
  jwksTimeoutMs?: number;
  /** Minimum time between JWKS fetches triggered by unknown `kid`s. Default 30000. */
  jwksCooldownMs?: number;
  /** Keys are re-fetched after this even if every `kid` is known. Default 600000. */
  jwksCacheMaxAgeMs?: number;
}

export interface VerifiedIdentity {
  sub: string;
  email: string | null;
  /** Normalized: trimmed, deduplicated, sorted. */
  groups: string[];
  username: string;
  issuer: string;
  expiresAt: Date;
  /** The whole verified claims set, for policies that need more. */
  claims: Record<string, unknown>;
}

export interface IdentityValidator {
  /**
   * Resolves with the identity, or rejects with an {@link IdentityError}. `startupUser` is the user name the
   * client logged in as (PostgreSQL startup), which must be the token's; null where a bearer token stands alone (MCP).
   */
  verify(token: string, startupUser: string | null): Promise<VerifiedIdentity>;
}

const DEFAULT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];
/** Asymmetric JWS algorithms only: with a symmetric one, anyone holding the public JWKS could sign. */
const ASYMMETRIC_ALGORITHMS = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
]);
/** PostgreSQL passwords may be large, but a token beyond this is not one any IdP issues. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const BASE64URL_SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * Quick structural pre-check: three non-empty base64url segments (a compact JWS).
 * It proves nothing about validity; use it to tell "this password is not a token" apart early.
 *
 * @example
 * looksLikeJwt('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln') // true
 * looksLikeJwt('hunter2')                                   // false
 */
export function looksLikeJwt(s: string): boolean {
  if (typeof s !== 'string' || s.length > MAX_TOKEN_LENGTH) return false;
  const parts = s.split('.');
  return parts.length === 3 && parts.every((p) => BASE64URL_SEGMENT.test(p));
}

/**
 * Builds a validator for one issuer. The JWKS is fetched lazily, cached, and re-fetched when a
 * token names an unknown `kid` — at most once per cooldown, so random `kid`s cannot hammer the issuer.
 *
 * @example
 * const validator = createIdentityValidator({
 *   issuer: 'https://idp.example', audience: 'verdict', jwksUrl: 'https://idp.example/jwks',
 * })
 * const id = await validator.verify(passwordFromStartup, startupParams.user)
 * // id.groups → ['clinicians']
 */
export function createIdentityValidator(cfg: IdentityConfig): IdentityValidator {
  const algorithms = checkAlgorithms(cfg.algorithms ?? DEFAULT_ALGORITHMS);
  const audiences = Array.isArray(cfg.audience) ? [...cfg.audience] : [cfg.audience];
  if (!cfg.issuer) throw new TypeError('identity: issuer must be a non-empty string');
  if (audiences.length === 0 || audiences.some((a) => typeof a !== 'string' || a === '')) {
    throw new TypeError('identity: audience must be a non-empty string or list of strings');
  }
  const tolerance = cfg.clockToleranceSeconds ?? 30;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new TypeError('identity: clockToleranceSeconds must be a non-negative number');
  }
  if (cfg.maxTokenAgeSeconds !== undefined && !(cfg.maxTokenAgeSeconds > 0)) {
    throw new TypeError('identity: maxTokenAgeSeconds must be a positive number');
  }
  const claimNames = {
    subject: cfg.claims?.subject ?? 'sub',
    email: cfg.claims?.email ?? 'email',
    groups: cfg.claims?.groups ?? 'groups',
    username: cfg.claims?.username,
  };

  const remote = createRemoteJWKSet(checkJwksUrl(cfg.jwksUrl), {
    timeoutDuration: cfg.jwksTimeoutMs ?? 5_000,
    cooldownDuration: cfg.jwksCooldownMs ?? 30_000,
    cacheMaxAge: cfg.jwksCacheMaxAgeMs ?? 600_000,
  });
  // jose reports "no matching key" as a token problem but lets fetch failures through untyped;
  // wrapping the resolver is the one place we can tell "issuer unreachable" from "bad token".
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      if (err instanceof jose.JWKSNoMatchingKey || err instanceof jose.JWKSMultipleMatchingKeys) throw err;
      throw new IdentityError(
        IdentityErrorCode.JwksUnavailable,
        `the identity provider's signing keys could not be fetched from ${cfg.jwksUrl}; try again shortly or contact the gateway operator`,
        { cause: err },
      );
    }
  };
  const describeAudience = audiences.join(' or ');

  return {
    async verify(token, startupUser) {
      const header = preflight(token, algorithms);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          algorithms,
          issuer: cfg.issuer,
          audience: audiences,
          clockTolerance: tolerance,
          requiredClaims: ['exp'],
          ...(cfg.maxTokenAgeSeconds !== undefined ? { maxTokenAge: cfg.maxTokenAgeSeconds } : {}),
        }));
      } catch (err) {
        throw mapJoseError(err, { header, issuer: cfg.issuer, audience: describeAudience, maxAge: cfg.maxTokenAgeSeconds });
      }
      const identity = toIdentity(payload, claimNames);
      if (startupUser !== null && identity.username !== startupUser) {
        throw new IdentityError(
          IdentityErrorCode.UserMismatch,
          `the database user ${safe(startupUser)} does not match the token's user ${safe(identity.username)}; connect as ${safe(identity.username)} or get a token for ${safe(startupUser)}`,
        );
      }
      return identity;
    },
  };
}

function checkAlgorithms(list: string[]): string[] {
  if (list.length === 0) throw new TypeError('identity: algorithms must not be empty');
  for (const alg of list) {
    if (!ASYMMETRIC_ALGORITHMS.has(alg)) {
      throw new TypeError(
        `identity: algorithm ${JSON.stringify(alg)} is not accepted; use asymmetric ones (${[...ASYMMETRIC_ALGORITHMS].join(', ')})`,
      );
    }
  }
  return [...new Set(list)];
}

function checkJwksUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`identity: jwksUrl ${JSON.stringify(raw)} is not a URL`);
  }
  // Plain http lets anyone on the path substitute keys; only loopback (the dev issuer) is exempt.
  const loopback = url.hostname === '127.0.0.1' || url.hostname === '[::1]' || url.hostname === 'localhost';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new TypeError(`identity: jwksUrl must use https (http only on loopback), got ${url.protocol}`);
  }
  return url;
}

/**
 * Cheap checks before any crypto or network: size, shape and `alg`. Checking `alg` here (rather
 * than only inside jose) lets `none`/HS* tokens get a precise message and never cause a JWKS fetch.
 */
function preflight(token: string, algorithms: string[]): Record<string, unknown> {
  if (typeof token !== 'string' || token.length === 0) {
    throw malformed('the password is empty; send an OIDC token (JWT) as the password');
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    throw malformed(`the password is ${token.length} characters long, too long for a token; send an OIDC token (JWT) as the password`);
  }
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(token) as Record<string, unknown>;
  } catch (cause) {
    throw malformed('the password is not a JWT (expected header.payload.signature in base64url); send an OIDC token as the password', cause);
  }
  const alg = header.alg;
  if (typeof alg !== 'string' || !algorithms.includes(alg)) {
    throw new IdentityError(
      IdentityErrorCode.TokenAlgorithm,
      `token algorithm ${typeof alg === 'string' ? safe(alg) : '(missing)'} is not accepted; accepted: ${algorithms.join(', ')}`,
    );
  }
  if (!looksLikeJwt(token)) {
    throw malformed('the token is not a signed JWT (expected three non-empty base64url segments); get a new token');
  }
  return header;
}

interface MapContext {
  header: Record<string, unknown>;
  issuer: string;
  audience: string;
  maxAge: number | undefined;
}

/** Translates jose's error codes into ours. Every branch is explicit; unknown errors fail closed. */
function mapJoseError(err: unknown, ctx: MapContext): IdentityError {
  if (err instanceof IdentityError) return err;
  if (!(err instanceof jose.JOSEError)) {
    return malformed('the token could not be verified; get a new token', err);
  }
  const e = err as jose.JOSEError & Partial<Pick<jose.JWTClaimValidationFailed, 'claim' | 'reason' | 'payload'>>;
  const kid = typeof ctx.header.kid === 'string' ? ` ${safe(ctx.header.kid)}` : '';
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      if (e.claim === 'iat') {
        return new IdentityError(
          IdentityErrorCode.TokenExpired,
          `token was issued at ${isoOf(e.payload?.iat)}, more than ${ctx.maxAge ?? '?'} seconds ago; get a new one`,
          { cause: err },
        );
      }
      return new IdentityError(
        IdentityErrorCode.TokenExpired,
        `token expired at ${isoOf(e.payload?.exp)}; get a new one`,
        { cause: err },
      );
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return mapClaimFailure(e, ctx);
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return new IdentityError(
        IdentityErrorCode.TokenUnknownKey,
        `token was signed with key${kid || ' (no kid)'} which ${ctx.issuer} does not publish; get a new token`,
        { cause: err },
      );
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new IdentityError(
        IdentityErrorCode.TokenUnknownKey,
        `token does not say which of ${ctx.issuer}'s keys signed it (no unique kid match); get a new token`,
        { cause: err },
      );
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new IdentityError(
        IdentityErrorCode.TokenSignature,
        `token signature is invalid (key${kid}); the token was altered or not issued by ${ctx.issuer}; get a new one`,
        { cause: err },
      );
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new IdentityError(
        IdentityErrorCode.TokenAlgorithm,
        `token algorithm ${typeof ctx.header.alg === 'string' ? safe(ctx.header.alg) : '(missing)'} or one of its critical headers is not supported`,
        { cause: err },
      );
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return malformed('the token is not a valid signed JWT (bad header, payload or signature encoding); get a new token', err);
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
    case 'ERR_JWK_INVALID':
      return new IdentityError(
        IdentityErrorCode.JwksUnavailable,
        `the identity provider's signing keys could not be used; try again shortly or contact the gateway operator`,
        { cause: err },
      );
    default:
      return malformed('the token could not be verified; get a new token', err);
  }
}

function mapClaimFailure(
  e: jose.JOSEError & Partial<Pick<jose.JWTClaimValidationFailed, 'claim' | 'reason' | 'payload'>>,
  ctx: MapContext,
): IdentityError {
  const opts = { cause: e };
  if (e.reason === 'missing' || e.reason === 'invalid') {
    const what = e.reason === 'missing' ? 'has no' : 'has an invalid';
    return new IdentityError(
      e.claim === 'iss' ? IdentityErrorCode.TokenIssuer : e.claim === 'aud' ? IdentityErrorCode.TokenAudience : IdentityErrorCode.TokenClaims,
      `token ${what} "${safe(e.claim ?? '?')}" claim; get a token from ${ctx.issuer}`,
      opts,
    );
  }
  switch (e.claim) {
    case 'iss':
      return new IdentityError(
        IdentityErrorCode.TokenIssuer,
        `token issuer ${safe(String(e.payload?.iss))} is not trusted here; get a token from ${ctx.issuer}`,
        opts,
      );
    case 'aud':
      return new IdentityError(
        IdentityErrorCode.TokenAudience,
        `token audience does not include ${ctx.audience}; request a token for ${ctx.audience}`,
        opts,
      );
    case 'nbf':
      return new IdentityError(
        IdentityErrorCode.TokenNotYetValid,
        `token is not valid before ${isoOf(e.payload?.nbf)}; wait, or check this machine's clock`,
        opts,
      );
    case 'iat':
      return new IdentityError(
        IdentityErrorCode.TokenNotYetValid,
        `token claims to be issued in the future (${isoOf(e.payload?.iat)}); check the issuer's and this machine's clocks`,
        opts,
      );
    default:
      return new IdentityError(
        IdentityErrorCode.TokenClaims,
        `token claim "${safe(e.claim ?? '?')}" has an unexpected value; get a new token`,
        opts,
      );
  }
}

interface ClaimNames {
  subject: string;
  email: string;
  groups: string;
  username: string | undefined;
}

function toIdentity(payload: JWTPayload, names: ClaimNames): VerifiedIdentity {
  const claims = payload as Record<string, unknown>;
  const sub = claim(claims, names.subject);
  if (typeof sub !== 'string' || sub === '') throw claimError(names.subject, 'a non-empty string');

  const emailRaw = claim(claims, names.email);
  if (emailRaw !== undefined && emailRaw !== null && typeof emailRaw !== 'string') throw claimError(names.email, 'a string');
  const email = typeof emailRaw === 'string' && emailRaw !== '' ? emailRaw : null;

  const groups = normalizeGroups(claim(claims, names.groups), names.groups);

  let username: unknown;
  if (names.username !== undefined) {
    username = claim(claims, names.username);
    if (typeof username !== 'string' || username === '') throw claimError(names.username, 'a non-empty string');
  } else {
    const preferred = claims.preferred_username;
    username = typeof preferred === 'string' && preferred !== '' ? preferred : (email ?? sub);
  }

  // jose guarantees exp (requiredClaims) is a number and iss matched the configured issuer.
  return {
    sub,
    email,
    groups,
    username: username as string,
    issuer: payload.iss as string,
    expiresAt: new Date((payload.exp as number) * 1000),
    claims: { ...claims },
  };
}

/** Groups arrive as an array (most IdPs) or a space/comma separated string (some SAML bridges). */
function normalizeGroups(raw: unknown, name: string): string[] {
  if (raw === undefined || raw === null) return [];
  let items: string[];
  if (typeof raw === 'string') {
    items = raw.split(/[\s,]+/);
  } else if (Array.isArray(raw) && raw.every((g) => typeof g === 'string')) {
    items = raw as string[];
  } else {
    throw claimError(name, 'a list of strings or a space/comma separated string');
  }
  const set = new Set(items.map((g) => g.trim()).filter((g) => g !== ''));
  return [...set].sort();
}

/** Top-level claim first (names may contain dots, e.g. URLs); then a dotted path into objects. */
function claim(claims: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  if (!name.includes('.')) return undefined;
  let cur: unknown = claims;
  for (const part of name.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function claimError(name: string, expected: string): IdentityError {
  return new IdentityError(
    IdentityErrorCode.TokenClaims,
    `token claim "${safe(name)}" must be ${expected}; ask the identity provider's administrator to include it`,
  );
}

function malformed(message: string, cause?: unknown): IdentityError {
  return new IdentityError(IdentityErrorCode.TokenMalformed, message, cause === undefined ? undefined : { cause });
}

function isoOf(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds) && Math.abs(seconds) < 8.64e12
    ? new Date(seconds * 1000).toISOString()
    : '(unknown time)';
}

/**
 * Values echoed to the client come from the token or the startup packet, i.e. from the client:
 * strip control characters (log/terminal injection) and bound the length.
 */
function safe(value: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean;
}
