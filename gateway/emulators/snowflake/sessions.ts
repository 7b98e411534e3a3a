// Sessions and authentication of the local Snowflake: login-request for the SNOWFLAKE_JWT (key pair), OAUTH and
// password authenticators, opaque session + master tokens, renewal with the master token, heartbeat and logout.
import { createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';
import { SnowflakeError, sfError } from './errors.ts';
import { foldIdentifier } from './identifiers.ts';

/** A user the emulator lets in. Names compare case-insensitively, as Snowflake login names do. */
export interface EmulatorUser {
  name: string;
  /** For the password authenticator (`SNOWFLAKE`, or no AUTHENTICATOR as gosnowflake sends it). */
  password?: string;
  /** RSA public keys (PEM or KeyObject) for SNOWFLAKE_JWT — like RSA_PUBLIC_KEY and RSA_PUBLIC_KEY_2. */
  publicKeys?: Array<string | KeyObject>;
  /** Roles the user may log in as. Default: any role. */
  roles?: string[];
  /** Role when the login names none. Default: the first of `roles`, else PUBLIC. */
  defaultRole?: string;
  defaultDatabase?: string;
  defaultSchema?: string;
  defaultWarehouse?: string;
}

/** Decides an OAUTH login: the user (and optionally the role) the token stands for, or null to refuse it. */
export type OAuthCheck = (
  token: string,
  login: { loginName: string | null; role: string | null },
) => { user: string; role?: string } | null | Promise<{ user: string; role?: string } | null>;

/** What the SQL layer answers about names a login asks for. */
export interface CatalogProbe {
  hasDatabase(name: string): Promise<boolean>;
  hasSchema(database: string, schema: string): Promise<boolean>;
}

export interface Session {
  readonly id: number;
  /** Login name, upper case. */
  readonly user: string;
  readonly authenticator: 'SNOWFLAKE' | 'SNOWFLAKE_JWT' | 'OAUTH';
  readonly clientAppId: string;
  readonly clientAppVersion: string;
  /** True when the driver declared CLIENT_CAPABILITIES.SESSION_ID_AS_STRING (snowflake-sdk); gosnowflake wants a number. */
  readonly sessionIdAsString: boolean;
  /** Roles USE ROLE may switch to (the user's grants); null: any. */
  readonly grantedRoles: readonly string[] | null;
  role: string;
  database: string | null;
  schema: string | null;
  warehouse: string | null;
  sessionToken: string;
  masterToken: string;
  sessionExpiresAt: number;
  masterExpiresAt: number;
  /** Session parameters set at login (SESSION_PARAMETERS) or with ALTER SESSION, by upper-case name. */
  readonly parameters: Map<string, string | number | boolean>;
  heartbeats: number;
  renewals: number;
  closed: boolean;
}

export interface SessionStoreOptions {
  account: string;
  users: EmulatorUser[];
  oauth?: OAuthCheck;
  sessionTokenTtlSeconds: number;
  masterTokenTtlSeconds: number;
  now: () => number;
  catalog: CatalogProbe;
}

/** The login request body as both drivers send it (`{"data": {...}}`), fields upper case. */
export interface LoginData {
  ACCOUNT_NAME?: string;
  LOGIN_NAME?: string;
  PASSWORD?: string;
  AUTHENTICATOR?: string;
  TOKEN?: string;
  CLIENT_APP_ID?: string;
  CLIENT_APP_VERSION?: string;
  CLIENT_CAPABILITIES?: { SESSION_ID_AS_STRING?: boolean };
  SESSION_PARAMETERS?: Record<string, unknown>;
}

/** Login URL parameters (`?databaseName=&schemaName=&warehouse=&roleName=`). */
export interface LoginTarget {
  databaseName: string | null;
  schemaName: string | null;
  warehouse: string | null;
  roleName: string | null;
}

/** Longest lifetime Snowflake accepts for a key-pair JWT. */
const JWT_MAX_LIFETIME_S = 3600;
/** Clock skew tolerated on `exp`. */
const JWT_SKEW_S = 60;

/**
 * Issues and checks sessions. Tokens are opaque random strings; a token maps to its session until logout, when
 * it answers "session gone" instead of "invalid".
 */
export class SessionStore {
  readonly #opts: SessionStoreOptions;
  readonly #bySessionToken = new Map<string, Session>();
  readonly #byMasterToken = new Map<string, Session>();
  readonly #sessions = new Map<number, Session>();
  #nextId = 1_000_000_000_001;

  constructor(options: SessionStoreOptions) {
    this.#opts = options;
  }

  /** Every session ever opened (closed ones too), oldest first. */
  all(): Session[] {
    return [...this.#sessions.values()];
  }

  /**
   * Authenticates a login-request. Throws SnowflakeError with Snowflake's code on any refusal.
   *
   * @example
   * const s = await store.login({ AUTHENTICATOR: 'SNOWFLAKE', LOGIN_NAME: 'alice', PASSWORD: 'pw' }, target);
   */
  async login(data: LoginData, target: LoginTarget): Promise<Session> {
    const authenticator = (data.AUTHENTICATOR ?? 'SNOWFLAKE').toUpperCase();
    let user: EmulatorUser;
    let role: string | null = target.roleName ? foldIdentifier(target.roleName) : null;
    switch (authenticator) {
      case 'SNOWFLAKE':
        user = this.#passwordUser(data);
        break;
      case 'SNOWFLAKE_JWT':
        user = await this.#jwtUser(data);
        break;
      case 'OAUTH': {
        const found = await this.#oauthUser(data, role);
        user = found.user;
        if (found.role) role = foldIdentifier(found.role);
        break;
      }
      default:
        // Okta URLs, external browser, MFA, PAT…: not served here.
        throw sfError.incorrectCredentials();
    }
    const granted = user.roles?.map(foldIdentifier);
    role ??= user.defaultRole ? foldIdentifier(user.defaultRole) : (granted?.[0] ?? 'PUBLIC');
    if (granted && !granted.includes(role) && role !== 'PUBLIC') throw sfError.roleNotAuthorized(role);

    const now = this.#opts.now();
    const database = await this.#resolveDatabase(target.databaseName ?? user.defaultDatabase ?? null);
    const schema = database ? await this.#resolveSchema(database, target.schemaName ?? user.defaultSchema ?? null) : null;
    const warehouse = target.warehouse ?? user.defaultWarehouse ?? null;
    const parameters = new Map<string, string | number | boolean>();
    for (const [k, v] of Object.entries(data.SESSION_PARAMETERS ?? {})) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') parameters.set(k.toUpperCase(), v);
    }
    const session: Session = {
      id: this.#nextId++,
      user: user.name.toUpperCase(),
      authenticator: authenticator as Session['authenticator'],
      clientAppId: data.CLIENT_APP_ID ?? '',
      clientAppVersion: data.CLIENT_APP_VERSION ?? '',
      sessionIdAsString: data.CLIENT_CAPABILITIES?.SESSION_ID_AS_STRING === true,
      grantedRoles: granted ?? null,
      role,
      database,
      schema,
      warehouse: warehouse ? foldIdentifier(warehouse) : null,
      sessionToken: newToken(this.#nextId),
      masterToken: newToken(this.#nextId),
      sessionExpiresAt: now + this.#opts.sessionTokenTtlSeconds * 1000,
      masterExpiresAt: now + this.#opts.masterTokenTtlSeconds * 1000,
      parameters,
      heartbeats: 0,
      renewals: 0,
      closed: false,
    };
    this.#sessions.set(session.id, session);
    this.#bySessionToken.set(session.sessionToken, session);
    this.#byMasterToken.set(session.masterToken, session);
    return session;
  }

  /** The session a session token opens, or the Snowflake error for a missing, unknown, gone or expired token. */
  bySessionToken(token: string | null): Session {
    if (token === null) throw sfError.authHeaderMissing();
    const s = this.#bySessionToken.get(token);
    if (!s) throw sfError.tokenInvalid();
    if (s.closed) throw sfError.sessionGone();
    if (this.#opts.now() >= s.sessionExpiresAt) throw sfError.sessionExpired();
    return s;
  }

  /**
   * token-request RENEW: the master token in the Authorization header, the old session token in the body. The old
   * session token stops working; the master token is rotated too, as Snowflake does.
   */
  renew(masterToken: string | null, oldSessionToken: string | undefined): Session {
    if (masterToken === null) throw sfError.authHeaderMissing();
    const s = this.#byMasterToken.get(masterToken);
    if (!s) throw sfError.tokenInvalid();
    if (s.closed) throw sfError.sessionGone();
    if (this.#opts.now() >= s.masterExpiresAt) throw sfError.masterExpired();
    if (oldSessionToken !== undefined && oldSessionToken !== s.sessionToken) throw sfError.tokenInvalid();
    this.#bySessionToken.delete(s.sessionToken);
    this.#byMasterToken.delete(s.masterToken);
    const now = this.#opts.now();
    s.sessionToken = newToken(s.id);
    s.masterToken = newToken(s.id);
    s.sessionExpiresAt = now + this.#opts.sessionTokenTtlSeconds * 1000;
    s.masterExpiresAt = now + this.#opts.masterTokenTtlSeconds * 1000;
    s.renewals++;
    this.#bySessionToken.set(s.sessionToken, s);
    this.#byMasterToken.set(s.masterToken, s);
    return s;
  }

  /** Logout: later requests with its tokens answer 390111 (session gone). */
  close(s: Session): void {
    s.closed = true;
  }

  /** Makes every live session token expired now, so the next request gets 390112 and the driver renews. */
  expireSessionTokens(): void {
    const now = this.#opts.now();
    for (const s of this.#sessions.values()) if (!s.closed) s.sessionExpiresAt = Math.min(s.sessionExpiresAt, now);
  }

  #userNamed(name: string | undefined | null): EmulatorUser | undefined {
    if (!name) return undefined;
    const upper = name.toUpperCase();
    return this.#opts.users.find((u) => u.name.toUpperCase() === upper);
  }

  #passwordUser(data: LoginData): EmulatorUser {
    const user = this.#userNamed(data.LOGIN_NAME);
    if (!user || user.password === undefined || data.PASSWORD === undefined || !sameText(user.password, data.PASSWORD)) {
      throw sfError.incorrectCredentials();
    }
    return user;
  }

  /**
   * Key-pair JWT: RS256, `iss` = ACCOUNT.USER.SHA256:<base64 sha256 of the public key's SPKI DER>, `sub` =
   * ACCOUNT.USER, unexpired, at most an hour long. snowflake-sdk writes iat/exp in milliseconds, gosnowflake in
   * seconds; Snowflake takes both, so do we.
   */
  async #jwtUser(data: LoginData): Promise<EmulatorUser> {
    const jwt = data.TOKEN;
    if (!jwt) throw sfError.jwtInvalid();
    let claims: Record<string, unknown>;
    try {
      const [h, p] = jwt.split('.');
      const header = JSON.parse(Buffer.from(h ?? '', 'base64url').toString('utf8')) as { alg?: string };
      if (header.alg !== 'RS256') throw new Error('alg');
      claims = JSON.parse(Buffer.from(p ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      throw sfError.jwtInvalid();
    }
    const iss = typeof claims.iss === 'string' ? claims.iss : '';
    const m = /^([^.]+)\.(.+)\.(SHA256:[A-Za-z0-9+/=]+)$/.exec(iss);
    if (!m) throw sfError.jwtInvalid();
    const [, account, userName, fingerprint] = m as unknown as [string, string, string, string];
    if (account.toUpperCase() !== accountLocator(this.#opts.account)) throw sfError.jwtInvalid();
    if (claims.sub !== undefined && String(claims.sub).toUpperCase() !== `${account}.${userName}`.toUpperCase()) throw sfError.jwtInvalid();
    const user = this.#userNamed(userName);
    if (!user) throw sfError.jwtInvalid();
    const key = (user.publicKeys ?? []).map(toPublicKey).find((k) => publicKeyFingerprint(k) === fingerprint);
    if (!key) throw sfError.jwtInvalid();
    try {
      await compactVerify(jwt, key, { algorithms: ['RS256'] });
    } catch {
      throw sfError.jwtInvalid();
    }
    const now = this.#opts.now() / 1000;
    const exp = epochSeconds(claims.exp);
    const iat = epochSeconds(claims.iat);
    if (exp === null || exp + JWT_SKEW_S < now) throw sfError.jwtInvalid();
    if (iat !== null && exp - iat > JWT_MAX_LIFETIME_S) throw sfError.jwtInvalid();
    return user;
  }

  async #oauthUser(data: LoginData, role: string | null): Promise<{ user: EmulatorUser; role?: string }> {
    const check = this.#opts.oauth;
    if (!check || !data.TOKEN) throw sfError.oauthInvalid();
    const found = await check(data.TOKEN, { loginName: data.LOGIN_NAME || null, role });
    if (!found) throw sfError.oauthInvalid();
    const user = this.#userNamed(found.user) ?? { name: found.user };
    if (data.LOGIN_NAME && data.LOGIN_NAME.toUpperCase() !== user.name.toUpperCase()) throw sfError.oauthInvalid();
    return found.role ? { user, role: found.role } : { user };
  }

  /** A login may name a database that does not exist: Snowflake then logs in without one. */
  async #resolveDatabase(name: string | null): Promise<string | null> {
    if (!name) return null;
    const db = foldIdentifier(name);
    return (await this.#opts.catalog.hasDatabase(db)) ? db : null;
  }

  async #resolveSchema(database: string, name: string | null): Promise<string | null> {
    const schema = name ? foldIdentifier(name) : 'PUBLIC';
    return (await this.#opts.catalog.hasSchema(database, schema)) ? schema : null;
  }
}

/** `SHA256:<base64>` of the DER SubjectPublicKeyInfo: the fingerprint Snowflake shows as RSA_PUBLIC_KEY_FP. */
export function publicKeyFingerprint(key: KeyObject): string {
  const der = key.export({ type: 'spki', format: 'der' });
  return `SHA256:${createHash('sha256').update(der).digest('base64')}`;
}

/** The account part drivers put in JWT claims: the locator before any `.region`, upper case. */
export function accountLocator(account: string): string {
  const dot = account.indexOf('.');
  return (dot > 0 ? account.slice(0, dot) : account).toUpperCase();
}

function toPublicKey(k: string | KeyObject): KeyObject {
  return typeof k === 'string' ? createPublicKey(k) : k.type === 'private' ? createPublicKey(k) : k;
}

function epochSeconds(v: unknown): number | null {
  if (typeof v !== 'number' || !Number.isFinite(v)) return null;
  return v > 1e11 ? v / 1000 : v;
}

function sameText(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return ha.equals(hb);
}

function newToken(sessionId: number): string {
  return `ver:1-hint:${sessionId}-ETMsDgAAA${randomBytes(24).toString('base64url')}`;
}
