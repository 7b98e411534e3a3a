// The Snowflake front door: the REST API Snowflake's drivers speak (snowflake-sdk, gosnowflake), served so that
// unmodified drivers pointed at Verdict log in with their OIDC token as an OAuth token and run statements that
// Verdict decides, masks and records. Verdict issues its own session and master tokens (the upstream's never
// leave the gateway), and a large result's chunks are served from this listener, masked: a chunk URL that
// pointed at Snowflake's storage would let unmasked rows past Verdict.
// Routes and shapes: login-request, token-request (RENEW), heartbeat, session delete, query-request (binds,
// describeOnly, asyncExec), result polling, monitoring, abort-request, telemetry, /verdict-chunks/….
// Approval (hold mode): the statement answers as a running query (333333, or 333334 with asyncExec) and no
// request stays open past result_wait_ms; while it waits, GET /monitoring/queries/{id} says RUNNING with
// `errorMessage` "Verdict: waiting for approval request <id>; approve it at <link> …" and `verdictApproval`
// {requestId, link, approvers}. Approved: polling returns the result; rejected or expired: 003001/42501; an
// abort-request withdraws the request (000604). Rerun mode (rerun_for): 003001 naming the request at once.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { SqlState } from '../../engine/sqlstate.ts';
import type { SnowflakeDoorConfig, SnowflakeUpstreamConfig } from '../config/schema.ts';
import type { GatewayContext, SessionHandle } from '../context.ts';
import { BodyTooLargeError, readBody } from '../http.ts';
import { roleFor } from '../identity/roles.ts';
import { IdentityError, createIdentityValidator } from '../identity/validator.ts';
import { PipelineSession } from '../pipeline/session.ts';
import { normalizePurpose, purposeFromClaims } from '../pipeline/purpose.ts';
import { SnowflakeSession, type SnowflakeTarget } from '../upstream/snowflake/connection.ts';
import type { CatalogAccess } from './catalog.ts';
import { SfCode, SfDoorError, errorBody, sfError } from './errors.ts';
import { chunkAccessDenied, monitoringEntry, parseRequestBody, SSE_ALGORITHM, SSE_KEY } from './protocol.ts';
import { DoorSession, heldMessage, newToken, runStatement, type QueryRecord, type RunContext } from './session.ts';
import { bindsOf, sessionParameters, splitRows, type Chunk, type WireBind } from './wire.ts';

export interface SnowflakeDoor {
  address: { host: string; port: number };
  /** Base URL for drivers (snowflake-sdk `accessUrl`; gosnowflake protocol/host/port). */
  url: string;
  /** Live client sessions. */
  readonly sessions: number;
  close(graceMs?: number): Promise<void>;
}

export interface SnowflakeDoorOptions {
  /** Name of the Snowflake upstream (its engine is ctx.engine(name)). */
  upstream: string;
  upstreamConfig: SnowflakeUpstreamConfig;
  target: SnowflakeTarget;
  /** The upstream's catalog: statements naming objects it does not know refresh it, then are refused if still unknown. */
  catalog: CatalogAccess;
  tls: { cert: Buffer; key: Buffer } | null;
  version: string;
}

interface Reply {
  status: number;
  json?: unknown;
  raw?: { body: Buffer; headers: Record<string, string> };
}

interface ChunkSet {
  sessionId: number;
  key: string;
  chunks: Chunk[];
  expiresAt: number;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const MAX_BODY = 64 * 1024 * 1024;

const ok = (data: unknown = null): Reply => ({ status: 200, json: { data, code: null, message: null, success: true } });
const fail = (err: SfDoorError, queryId: string | null = null): Reply => ({ status: err.httpStatus, json: errorBody(err, queryId) });

/**
 * Starts the Snowflake door of `ctx.config.snowflake`.
 *
 * @example
 * const door = await startSnowflakeDoor(ctx, { upstream: 'warehouse', upstreamConfig, target, tls: null, version: '0.1.0' });
 * // snowflake.createConnection({ accessUrl: door.url, account: 'verdict', authenticator: 'OAUTH', token: oidcToken, username: 'bob' })
 */
export async function startSnowflakeDoor(ctx: GatewayContext, options: SnowflakeDoorOptions): Promise<SnowflakeDoor> {
  const cfg: SnowflakeDoorConfig = ctx.config.snowflake!;
  const log = ctx.log;
  const id = ctx.config.identity;
  // The audience of this door's tokens: snowflake.audience, else the gateway's (document: README "The Snowflake door").
  const validator = createIdentityValidator({
    issuer: id.issuer,
    audience: cfg.audience ?? id.audience,
    jwksUrl: id.jwks_url,
    ...(id.algorithms ? { algorithms: id.algorithms } : {}),
    clockToleranceSeconds: id.clock_tolerance_seconds,
    claims: id.claims,
  });
  const sessions = new Map<string, DoorSession>();
  const byMaster = new Map<string, DoorSession>();
  const chunkSets = new Map<string, ChunkSet>();
  const rc: RunContext = { ctx, upstream: options.upstream, maxRows: cfg.max_rows, catalog: options.catalog };

  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }) : http.createServer();
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  const bound = server.address() as net.AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const baseUrl = (cfg.public_url ?? `${options.tls ? 'https' : 'http'}://${host}:${bound.port}`).replace(/\/$/, '');

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, c] of chunkSets) if (c.expiresAt <= now) chunkSets.delete(k);
    for (const s of new Set(sessions.values())) if (s.masterExpiresAt <= now) void end(s, 'master token expired');
  }, 5_000);
  sweep.unref();

  async function end(s: DoorSession, reason: string): Promise<void> {
    sessions.delete(s.sessionToken);
    byMaster.delete(s.masterToken);
    for (const [k, c] of chunkSets) if (c.sessionId === s.id) chunkSets.delete(k);
    await s.close(reason);
  }

  /** The session of a request's `Authorization: Snowflake Token="…"`. */
  function sessionOf(req: http.IncomingMessage): DoorSession {
    const s = liveSession(req, sessions, (x) => x.sessionExpiresAt, sfError.sessionExpired);
    s.lastSeen = Date.now();
    return s;
  }

  /** The open session whose token (session or master, as `by` holds them) the request carries, before `expiresAt`. */
  function liveSession(req: http.IncomingMessage, by: Map<string, DoorSession>, expiresAt: (s: DoorSession) => number, expired: () => SfDoorError): DoorSession {
    const token = tokenOf(req);
    if (token === null) throw sfError.authHeaderMissing();
    const s = by.get(token);
    if (!s) throw sfError.tokenInvalid();
    if (s.closed) throw sfError.sessionGone();
    if (Date.now() >= expiresAt(s)) throw expired();
    return s;
  }

  async function login(req: http.IncomingMessage, url: URL, body: unknown): Promise<Reply> {
    const data = (body as { data?: Record<string, unknown> } | null)?.data;
    if (!data || typeof data !== 'object') throw sfError.badRequest('login-request needs a "data" object.');
    const refused = (err: SfDoorError): Reply => {
      ctx.metrics.sessionsTotal.inc({ outcome: 'rejected' });
      log.info('snowflake login refused', { code: err.code, client_addr: req.socket.remoteAddress ?? null });
      return { status: 200, json: { data: { nextAction: 'RETRY_LOGIN', authnMethod: String(data.AUTHENTICATOR ?? 'SNOWFLAKE'), signInOptions: {} }, code: err.code, message: err.message, success: false, headers: null } };
    };
    const authenticator = String(data.AUTHENTICATOR ?? '').toUpperCase();
    if (authenticator !== 'OAUTH') return refused(sfError.wrongAuthenticator(authenticator));
    if (cfg.account && String(data.ACCOUNT_NAME ?? '').toUpperCase() !== cfg.account.toUpperCase()) return refused(sfError.incorrectLogin(`this door serves account ${cfg.account}`));
    const remote = req.socket.remoteAddress ?? null;
    if (!options.tls && ctx.config.tls.require_for_tokens && !(remote && LOOPBACK.has(remote))) {
      return refused(sfError.incorrectLogin('tokens travel only over TLS; configure tls.cert and tls.key and use https'));
    }
    if (sessions.size >= cfg.max_sessions) return refused(sfError.unavailable(`the Snowflake door serves at most ${cfg.max_sessions} sessions (snowflake.max_sessions)`));
    let identity;
    try {
      identity = await validator.verify(String(data.TOKEN ?? ''), null);
    } catch (err) {
      return refused(sfError.oauthInvalid(err instanceof IdentityError ? err.clientMessage : 'the token could not be verified'));
    }
    const loginName = typeof data.LOGIN_NAME === 'string' ? data.LOGIN_NAME : '';
    if (loginName && loginName.toUpperCase() !== identity.username.toUpperCase()) return refused(sfError.incorrectLogin(`the token is ${identity.username}'s, not ${loginName}'s`));

    const u = options.upstreamConfig;
    const role = roleFor(u.role_by_group ?? id.role_by_group, identity.groups) ?? u.role ?? null;
    const appId = printable(String(data.CLIENT_APP_ID ?? ''), 100) || null;
    let upstream: SnowflakeSession;
    try {
      upstream = await SnowflakeSession.open(options.target, { role, application: 'Verdict' });
    } catch (err) {
      ctx.metrics.errors.inc({ kind: 'upstream_connect' });
      log.error('snowflake upstream login failed', { upstream: options.upstream, error: (err as Error).message });
      return refused(sfError.unavailable(`Verdict could not open a session on the Snowflake upstream "${options.upstream}"; try again later`));
    }
    const pipeline = new PipelineSession(ctx, {
      identity,
      upstream: options.upstream,
      database: u.database,
      frontDoor: 'snowflake',
      engine: 'snowflake',
      clientAddr: remote,
      applicationName: appId,
      tls: options.tls !== null,
      refusalCode: SqlState.InsufficientPrivilege,
      holdTimeoutSeconds: ctx.config.approvals.hold_timeout_seconds,
      client: appId ? { name: appId, version: typeof data.CLIENT_APP_VERSION === 'string' ? printable(data.CLIENT_APP_VERSION, 50) : null } : null,
      purpose: loginPurpose(data, identity.claims),
    });
    pipeline.start();
    const capabilities = data.CLIENT_CAPABILITIES as { SESSION_ID_AS_STRING?: unknown } | undefined;
    const s = new DoorSession(
      identity,
      pipeline,
      upstream,
      { upstreamName: options.upstream, database: u.database.toUpperCase(), schema: u.schema.toUpperCase(), warehouse: u.warehouse?.toUpperCase() ?? null, role, idAsString: capabilities?.SESSION_ID_AS_STRING === true },
      { session: cfg.session_token_ttl_seconds, master: cfg.master_token_ttl_seconds },
    );
    sessions.set(s.sessionToken, s);
    byMaster.set(s.masterToken, s);
    ctx.metrics.sessionsTotal.inc({ outcome: 'accepted' });
    log.info('snowflake session started', { user: identity.username, role, session: pipeline.id, client: appId, query: url.search ? 'with parameters' : '' });
    return ok({
      masterToken: s.masterToken,
      token: s.sessionToken,
      validityInSeconds: cfg.session_token_ttl_seconds,
      masterValidityInSeconds: cfg.master_token_ttl_seconds,
      displayUserName: identity.username,
      serverVersion: `verdict-${options.version}`,
      firstLogin: false,
      remMeToken: null,
      remMeValidityInSeconds: 0,
      healthCheckInterval: 45,
      newClientForUpgrade: null,
      sessionId: s.info.idAsString ? String(s.id) : s.id,
      parameters: sessionParameters(),
      sessionInfo: { databaseName: s.info.database, schemaName: s.info.schema, warehouseName: s.info.warehouse, roleName: role?.toUpperCase() ?? null },
      idToken: null,
      idTokenValidityInSeconds: 0,
      responseData: null,
      mfaToken: null,
      mfaTokenValidityInSeconds: 0,
    });
  }

  function renew(req: http.IncomingMessage, body: unknown): Reply {
    const b = (body ?? {}) as { oldSessionToken?: string; requestType?: string };
    if (b.requestType !== undefined && b.requestType !== 'RENEW') throw sfError.badRequest(`Unsupported requestType ${b.requestType}.`);
    const s = liveSession(req, byMaster, (x) => x.masterExpiresAt, sfError.masterExpired);
    if (b.oldSessionToken !== undefined && b.oldSessionToken !== s.sessionToken) throw sfError.tokenInvalid();
    // A token that outlives the identity's token would outlive its authority: renewal stops at the OIDC expiry.
    if (Date.now() >= s.identity.expiresAt.getTime()) throw sfError.masterExpired();
    sessions.delete(s.sessionToken);
    s.sessionToken = newToken();
    s.sessionExpiresAt = Math.min(Date.now() + cfg.session_token_ttl_seconds * 1000, s.identity.expiresAt.getTime());
    sessions.set(s.sessionToken, s);
    return ok({ sessionToken: s.sessionToken, validityInSecondsST: cfg.session_token_ttl_seconds, masterToken: s.masterToken, validityInSecondsMT: Math.max(0, Math.floor((s.masterExpiresAt - Date.now()) / 1000)), sessionId: s.info.idAsString ? String(s.id) : s.id });
  }

  async function queryRequest(req: http.IncomingMessage, url: URL, body: unknown): Promise<Reply> {
    const s = sessionOf(req);
    const b = (body ?? {}) as { sqlText?: unknown; bindings?: Record<string, WireBind>; asyncExec?: boolean; describeOnly?: boolean; bindStage?: string; parameters?: Record<string, unknown> };
    if (typeof b.sqlText !== 'string') throw sfError.badRequest('query-request needs "sqlText".');
    // Binds uploaded to a stage would reach Snowflake without passing Verdict.
    if (b.bindStage) throw sfError.unsupported('bindStage (binds uploaded to a stage)');
    const requestId = url.searchParams.get('requestId');
    const again = requestId ? s.byRequest(requestId) : undefined;
    if (again) return answer(s, again);
    let binds;
    try {
      binds = bindsOf(b.bindings, b.sqlText);
    } catch (err) {
      throw sfError.binds((err as Error).message);
    }
    // Named binds (`:name`) are decided and run as the positional markers they were rewritten to (`:1`).
    const sql = binds.sql;
    const describeOnly = b.describeOnly === true;
    const record = s.start(sql, requestId, b.asyncExec === true, (signal, record) =>
      runStatement(rc, s, sql, binds.binds, binds.text, describeOnly, signal, (held) => (record.held = held)),
    );
    if (b.asyncExec === true) return inProgress(record);
    return answer(s, record);
  }

  /** "Still running"; a statement held for approval also names its request (`verdictApproval`, `progressDesc`). */
  function inProgress(q: QueryRecord): Reply {
    const held = q.held ? { verdictApproval: { requestId: q.held.requestId, link: q.held.link, approvers: q.held.approvers }, progressDesc: heldMessage(q.held) } : { progressDesc: null };
    return {
      status: 200,
      json: {
        data: { queryId: q.queryId, getResultUrl: `/queries/${q.queryId}/result`, queryAbortsAfterSecs: 300, ...held },
        code: q.asyncExec ? SfCode.QUERY_IN_PROGRESS_ASYNC : SfCode.QUERY_IN_PROGRESS,
        message: q.asyncExec ? 'Asynchronous execution in progress. Use provided query id to perform query monitoring and management.' : 'Query execution in progress',
        success: true,
      },
    };
  }

  /** The statement's result or error once over; "in progress" with the URL to poll after result_wait_ms. */
  async function answer(s: DoorSession, q: QueryRecord): Promise<Reply> {
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([q.done.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), cfg.result_wait_ms)))]);
    clearTimeout(timer);
    if (!finished) return inProgress(q);
    if (q.error) return fail(q.error, q.queryId);
    return { status: 200, json: { data: { ...payloadOf(s, q), parameters: sessionParameters(), finalDatabaseName: s.info.database, finalSchemaName: s.info.schema, finalWarehouseName: s.info.warehouse, finalRoleName: s.info.role?.toUpperCase() ?? null, sendResultTime: Date.now() }, code: null, message: null, success: true } };
  }

  function payloadOf(s: DoorSession, q: QueryRecord): Record<string, unknown> {
    if (q.payload) return q.payload;
    const o = q.outcome!;
    // DML counts travel inline (gosnowflake reads rowset[0] of a DML result); only query results are chunked.
    const { inline, chunks } = o.statementTypeId === 0x1000 ? splitRows(o.rows, cfg.chunk_rows) : { inline: o.rows, chunks: [] };
    const data: Record<string, unknown> = {
      rowtype: o.rowtype,
      rowset: inline,
      total: o.rows.length,
      returned: o.rows.length,
      queryId: q.queryId,
      databaseProvider: null,
      numberOfBinds: 0,
      arrayBindSupported: false,
      statementTypeId: o.statementTypeId,
      version: 1,
      queryResultFormat: 'json',
    };
    if (chunks.length > 0) {
      // Unguessable, short-lived, bound to this session and to a key only this session's driver was given.
      const setId = randomBytes(24).toString('base64url');
      const key = randomBytes(32).toString('base64');
      chunkSets.set(setId, { sessionId: s.id, key, chunks, expiresAt: Date.now() + cfg.chunk_ttl_seconds * 1000 });
      data.chunks = chunks.map((c, i) => ({ url: `${baseUrl}/verdict-chunks/${setId}/${i}`, rowCount: c.rowCount, uncompressedSize: c.uncompressedSize, compressedSize: c.body.length }));
      data.chunkHeaders = { [SSE_ALGORITHM]: 'AES256', [SSE_KEY]: key };
      data.qrmk = key;
    }
    q.payload = data;
    return data;
  }

  function chunk(req: http.IncomingMessage, setId: string, index: string): Reply {
    const set = chunkSets.get(setId);
    const c = set?.chunks[Number(index)];
    const key = req.headers[SSE_KEY];
    if (!set || !c || set.expiresAt <= Date.now() || typeof key !== 'string' || !sameText(key, set.key)) {
      return { status: 403, raw: chunkAccessDenied() };
    }
    // snowflake-sdk gunzips only when told: Content-Encoding: gzip.
    return { status: 200, raw: { body: c.body, headers: { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip', 'Content-Length': String(c.body.length) } } };
  }

  function monitoring(s: DoorSession, queryId: string): Reply {
    const q = s.queries.get(queryId);
    if (!q) return ok({ queries: [] });
    const entry = monitoringEntry(q, s.id, q.outcome?.rows.length ?? 0, Date.now());
    // A held statement is RUNNING (drivers keep polling) and says in errorMessage, which drivers show, where to approve it.
    if (q.held) Object.assign(entry, { errorMessage: heldMessage(q.held), verdictApproval: { requestId: q.held.requestId, link: q.held.link, approvers: q.held.approvers } });
    return ok({ queries: [entry] });
  }

  function abort(q: QueryRecord | undefined): Reply {
    if (!q || q.status !== 'RUNNING') return fail(sfError.notExecuting());
    q.abort.abort();
    return ok(null);
  }

  async function route(req: http.IncomingMessage, url: URL, body: unknown): Promise<Reply> {
    const path = url.pathname;
    const m = req.method;
    if (m === 'POST' && path === '/session/v1/login-request') return login(req, url, body);
    if (m === 'POST' && path === '/session/token-request') return renew(req, body);
    if (m === 'POST' && path === '/session/heartbeat') {
      sessionOf(req);
      return ok(null);
    }
    if (m === 'POST' && path === '/session') {
      if (url.searchParams.get('delete') !== 'true') throw sfError.badRequest('POST /session needs ?delete=true.');
      await end(sessionOf(req), 'client_closed');
      return ok(null);
    }
    if (m === 'POST' && path === '/queries/v1/query-request') return queryRequest(req, url, body);
    if (m === 'POST' && path === '/queries/v1/abort-request') {
      const s = sessionOf(req);
      const requestId = (body as { requestId?: string } | null)?.requestId;
      if (!requestId) throw sfError.badRequest('abort-request needs "requestId".');
      return abort(s.byRequest(requestId));
    }
    if (m === 'POST' && path === '/telemetry/send') {
      sessionOf(req);
      return ok('Log Received');
    }
    let g = /^\/queries\/([^/]+)\/result$/.exec(path);
    if (m === 'GET' && g) {
      const s = sessionOf(req);
      const q = s.queries.get(g[1]!);
      if (!q) throw sfError.queryNotFound(g[1]!);
      return answer(s, q);
    }
    g = /^\/queries\/([^/]+)\/abort-request$/.exec(path);
    if (m === 'POST' && g) return abort(sessionOf(req).queries.get(g[1]!));
    g = /^\/monitoring\/queries\/([^/]+)$/.exec(path);
    if (m === 'GET' && g) return monitoring(sessionOf(req), g[1]!);
    g = /^\/verdict-chunks\/([A-Za-z0-9_-]+)\/(\d+)$/.exec(path);
    if (m === 'GET' && g) return chunk(req, g[1]!, g[2]!);
    return { status: 404, json: { data: null, code: '404', message: `No route for ${m} ${path}`, success: false } };
  }

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://verdict');
      let reply: Reply;
      try {
        const raw = await readBody(req, MAX_BODY);
        reply = await route(req, url, parseRequestBody(raw, req.headers['content-encoding'], () => sfError.badRequest('The request body is not JSON.')));
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          res.setHeader('connection', 'close'); // the rest of the body is not worth reading
          reply = fail(sfError.badRequest('the request body is too large'));
        } else if (err instanceof SfDoorError) reply = fail(err);
        else {
          log.error('snowflake request failed', { path: url.pathname, error: (err as Error).message });
          reply = fail(sfError.unavailable('Verdict could not serve the request'));
        }
      }
      if (reply.raw) return void res.writeHead(reply.status, reply.raw.headers).end(reply.raw.body);
      const text = JSON.stringify(reply.json);
      res.writeHead(reply.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
    })();
  });

  const doorHandle: SessionHandle = {
    id: -2,
    get busy() {
      for (const s of sessions.values()) if (s.busy) return true;
      return false;
    },
    shutdown: () => undefined,
  };
  ctx.sessions.add(doorHandle);
  log.info('snowflake door listening', { url: baseUrl, upstream: options.upstream, tls: options.tls !== null });

  return {
    address: { host: bound.address, port: bound.port },
    url: baseUrl,
    get sessions() {
      return sessions.size;
    },
    async close(graceMs = ctx.config.limits.shutdown_grace_ms) {
      clearInterval(sweep);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const deadline = Date.now() + graceMs;
      while (doorHandle.busy && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await Promise.all([...new Set(sessions.values())].map((s) => end(s, 'gateway shutdown')));
      server.closeAllConnections();
      ctx.sessions.delete(doorHandle);
      await closed;
    },
  };
}

/** `Authorization: Snowflake Token="…"` → the token; null when absent. */
function tokenOf(req: http.IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Snowflake\s+Token="([^"]*)"$/i.exec(h.trim());
  return m ? m[1]! : '';
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function printable(s: string, max: number): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').slice(0, max);
}

/** The purpose of use of a Snowflake session: the VERDICT_PURPOSE session parameter at login, else the token's claim. */
function loginPurpose(data: Record<string, unknown>, claims: Record<string, unknown> | undefined): string | null {
  const params = data.SESSION_PARAMETERS as Record<string, unknown> | undefined;
  const declared = params && typeof params === 'object' ? Object.entries(params).find(([k]) => k.toUpperCase() === 'VERDICT_PURPOSE')?.[1] : undefined;
  return normalizePurpose(declared) ?? purposeFromClaims(claims);
}
