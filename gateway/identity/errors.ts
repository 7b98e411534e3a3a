// Errors of the identity layer: one class per audience, each with a stable `code`.
// The gateway switches on `code` and sends `clientMessage` (never `cause`) to the client.

import { SqlState } from '../../engine/sqlstate.ts';
import { CodedError } from '../../engine/errors.ts';

/** Why a client's token was refused. Every code maps to SQLSTATE 28000 on the wire. */
export const IdentityErrorCode = {
  /** Not a compact JWS at all, or its header/payload is not valid JSON. */
  TokenMalformed: 'TOKEN_MALFORMED',
  /** `exp` is in the past (beyond the clock tolerance), or `iat` is older than `maxTokenAgeSeconds`. */
  TokenExpired: 'TOKEN_EXPIRED',
  /** `nbf` (or `iat`) is in the future beyond the clock tolerance. */
  TokenNotYetValid: 'TOKEN_NOT_YET_VALID',
  /** The signature does not verify with the issuer's key the header names. */
  TokenSignature: 'TOKEN_SIGNATURE',
  /** The header's `kid` (or `alg`) matches no key in the issuer's JWKS, even after a refetch. */
  TokenUnknownKey: 'TOKEN_UNKNOWN_KEY',
  /** `iss` is not the configured issuer. */
  TokenIssuer: 'TOKEN_ISSUER',
  /** `aud` does not include the configured audience. */
  TokenAudience: 'TOKEN_AUDIENCE',
  /** `alg` is `none`, symmetric (HS*), or not in the configured allow-list. */
  TokenAlgorithm: 'TOKEN_ALGORITHM',
  /** A required claim is missing or has the wrong type (exp, sub, groups, username...). */
  TokenClaims: 'TOKEN_CLAIMS',
  /** The PostgreSQL startup `user` is not the token's username: a token cannot be replayed under another name. */
  UserMismatch: 'USER_MISMATCH',
  /** The issuer's JWKS could not be fetched or used; the gateway fails closed. */
  JwksUnavailable: 'JWKS_UNAVAILABLE',
} as const;
export type IdentityErrorCode = (typeof IdentityErrorCode)[keyof typeof IdentityErrorCode];

/** SQLSTATE the front doors send for every {@link IdentityError}: invalid_authorization_specification. */
export const IDENTITY_SQLSTATE = SqlState.InvalidAuthorizationSpecification;

/**
 * A token was refused. `clientMessage` is safe to send to the client: it says what was wrong and
 * what to do, and never contains the token, key material or a stack. `cause` keeps the underlying
 * jose/network error for server-side logs only.
 *
 * @example
 * try { await validator.verify(password, startupUser) }
 * catch (err) {
 *   if (err instanceof IdentityError) sendError({ code: IDENTITY_SQLSTATE, message: err.clientMessage })
 *   else throw err
 * }
 */
export class IdentityError extends CodedError<IdentityErrorCode> {
  override name = 'IdentityError';
  readonly clientMessage: string;
  /** Always 28000: the front door need not know the codes to answer correctly. */
  readonly sqlstate = IDENTITY_SQLSTATE;

  constructor(code: IdentityErrorCode, clientMessage: string, options?: { cause?: unknown }) {
    super(code, clientMessage, options);
    this.clientMessage = clientMessage;
  }
}

/** Stable codes of the development issuer (operator mistakes, not client-facing). */
export const DevIssuerErrorCode = {
  /** `mint` was asked for a user the issuer does not know. */
  UnknownUser: 'DEV_UNKNOWN_USER',
  /** `mint` was asked for a `kid`/`alg` the key ring does not hold. */
  UnknownKey: 'DEV_UNKNOWN_KEY',
  /** The key directory has no stored key or metadata (is the demo running?). */
  KeyDirMissing: 'DEV_KEY_DIR_MISSING',
  /** The key directory's files exist but cannot be parsed. */
  KeyDirInvalid: 'DEV_KEY_DIR_INVALID',
  /** The issuer was asked to listen on a non-loopback address. */
  NotLoopback: 'DEV_NOT_LOOPBACK',
} as const;
export type DevIssuerErrorCode = (typeof DevIssuerErrorCode)[keyof typeof DevIssuerErrorCode];

/**
 * Failure of the local development issuer or of `mintWithStoredKey`.
 *
 * @example
 * try { await mintWithStoredKey(dir, 'dave') }
 * catch (err) { if (err instanceof DevIssuerError && err.code === 'DEV_UNKNOWN_USER') console.error(err.message) }
 */
export class DevIssuerError extends CodedError<DevIssuerErrorCode> {
  override name = 'DevIssuerError';
}
