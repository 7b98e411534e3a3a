// HTTP routes of the local Snowflake: the REST endpoints snowflake-sdk and gosnowflake call, with Snowflake's
// request and response shapes (login, token renewal, heartbeat, logout, query-request, result polling,
// monitoring, abort, telemetry) and the chunk downloads that stand in for Snowflake's cloud-storage URLs.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { chunkAccessDenied, monitoringEntry, parseRequestBody, sessionParameterList, SSE_ALGORITHM, SSE_KEY } from '../../snowflake/protocol.ts';
import { SfCode, SnowflakeError, errorBody, sfError } from './errors.ts';
import type { QueryRecord, QueryRegistry } from './queries.ts';
import { splitIntoChunks, type ChunkingOptions, type EncodedChunk } from './result-encoding.ts';
import type { LoginData, Session, SessionStore } from './sessions.ts';
import type { Bindings, EngineSession } from './sql-engine.ts';
import { StatementType } from './transpile.ts';

/** A route the emulator serves, as the coverage table in the tests lists them. */
export interface RouteSpec {
  method: 'GET' | 'POST';
  path: string;
  /** Which token the route takes: none (login, chunks), the session token, or the master token. */
  auth: 'none' | 'session' | 'master';
  summary: string;
}

/** Every route served. Paths use `:name` for a path parameter. */
export const ROUTES: readonly RouteSpec[] = [
  { method: 'POST', path: '/session/v1/login-request', auth: 'none', summary: 'login: SNOWFLAKE (password), SNOWFLAKE_JWT, OAUTH' },
  { method: 'POST', path: '/session/token-request', auth: 'master', summary: 'renew the session token (requestType RENEW)' },
  { method: 'POST', path: '/session/heartbeat', auth: 'session', summary: 'keep the session alive' },
  { method: 'POST', path: '/session', auth: 'session', summary: 'logout with ?delete=true' },
  { method: 'POST', path: '/queries/v1/query-request', auth: 'session', summary: 'run SQL: binds, describeOnly, asyncExec' },
  { method: 'GET', path: '/queries/:queryId/result', auth: 'session', summary: 'poll or fetch a result (getResultUrl)' },
  { method: 'GET', path: '/monitoring/queries/:queryId', auth: 'session', summary: 'query status' },
  { method: 'POST', path: '/queries/v1/abort-request', auth: 'session', summary: 'cancel by requestId' },
  { method: 'POST', path: '/queries/:queryId/abort-request', auth: 'session', summary: 'cancel by query id (snowflake-sdk)' },
  { method: 'POST', path: '/telemetry/send', auth: 'session', summary: 'client telemetry (accepted, recorded)' },
  { method: 'GET', path: '/__chunks/:queryId/:index', auth: 'none', summary: 'result chunk download (signed URL + SSE-C headers)' },
];

/** What the routes need from the emulator. */
export interface EmulatorCore {
  readonly account: string;
  readonly sessions: SessionStore;
  readonly queries: QueryRegistry;
  readonly chunking: ChunkingOptions;
  /** How long query-request and result GETs hold before answering "still running" (Snowflake: 45 s). */
  readonly resultWaitMs: number;
  readonly sessionTokenTtlSeconds: number;
  readonly masterTokenTtlSeconds: number;
  readonly timezone: string;
  readonly now: () => number;
  /** Secret for chunk URL signatures. */
  readonly chunkSecret: Buffer;
  baseUrl(): string;
  engineSession(session: Session): Promise<EngineSession>;
  closeEngineSession(session: Session): void;
  readonly telemetry: unknown[];
  readonly requests: RequestLogEntry[];
  log(line: string): void;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  /** Which route answered (its `path` in ROUTES), or null for 404s. */
  route: string | null;
}

interface Reply {
  status: number;
  json?: unknown;
  raw?: { body: Buffer; headers: Record<string, string> };
}

interface Ctx {
  core: EmulatorCore;
  url: URL;
  params: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: unknown;
}

type Handler = (ctx: Ctx) => Promise<Reply>;

const ok = (data: unknown = null): Reply => ({ status: 200, json: { data, code: null, message: null, success: true } });
const fail = (err: SnowflakeError, queryId?: string): Reply => ({ status: err.httpStatus, json: errorBody(err, queryId) });

/** Builds the request listener. */
export function createRouter(core: EmulatorCore): (req: IncomingMessage, res: ServerResponse) => void {
  const table = ROUTES.map((spec) => ({ spec, re: patternOf(spec.path), handler: HANDLERS[`${spec.method} ${spec.path}`]! }));
  return (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://emulator');
      let reply: Reply;
      let route: string | null = null;
      try {
        const raw = await readBody(req);
        const found = table.find((r) => r.spec.method === req.method && r.re.test(url.pathname));
        if (!found) {
          reply = { status: 404, json: { data: null, code: '404', message: `No route for ${req.method} ${url.pathname}`, success: false } };
        } else {
          route = found.spec.path;
          const m = found.re.exec(url.pathname)!;
          const body = parseRequestBody(raw, req.headers['content-encoding'], () => sfError.badRequest('The request body is not JSON.'));
          reply = await found.handler({ core, url, params: m.groups ?? {}, headers: req.headers, body });
        }
      } catch (e) {
        reply = e instanceof SnowflakeError ? fail(e) : { status: 500, json: { data: null, code: '000001', message: e instanceof Error ? e.message : String(e), success: false } };
        if (!(e instanceof SnowflakeError)) core.log(`emulator error on ${req.method} ${url.pathname}: ${e instanceof Error ? e.stack : String(e)}`);
      }
      core.requests.push({ method: req.method ?? '', path: url.pathname, status: reply.status, route });
      if (reply.raw) {
        res.writeHead(reply.status, reply.raw.headers);
        res.end(reply.raw.body);
      } else {
        const text = JSON.stringify(reply.json);
        res.writeHead(reply.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      }
    })();
  };
}

function patternOf(path: string): RegExp {
  return new RegExp(`^${path.replace(/:([A-Za-z]+)/g, '(?<$1>[^/]+)')}$`);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/** `Authorization: Snowflake Token="…"` → the token; null when absent. */
function tokenOf(headers: IncomingMessage['headers']): string | null {
  const h = headers.authorization;
  if (!h) return null;
  const m = /^Snowflake\s+Token="([^"]*)"$/i.exec(h.trim());
  return m ? m[1]! : '';
}

function sessionOf(ctx: Ctx): Session {
  return ctx.core.sessions.bySessionToken(tokenOf(ctx.headers));
}

/** The id as the driver wants it: a string for snowflake-sdk (SESSION_ID_AS_STRING), a number for gosnowflake. */
function sessionIdFor(s: Session): number | string {
  return s.sessionIdAsString ? String(s.id) : s.id;
}

/** Session parameters sent at login and with every result; the *_QUERY_RESULT_FORMAT ones ask drivers for JSON. */
function parametersOf(core: EmulatorCore, s: Session): Array<{ name: string; value: unknown }> {
  return sessionParameterList(core.timezone, { QUERY_CONTEXT_CACHE_SIZE: 5, ...Object.fromEntries(s.parameters) });
}

// ---------------------------------------------------------------------------------------------
// Handlers

const HANDLERS: Record<string, Handler> = {
  'POST /session/v1/login-request': async (ctx) => {
    const data = (ctx.body as { data?: Record<string, unknown> } | null)?.data;
    if (!data || typeof data !== 'object') throw sfError.badRequest('login-request needs a "data" object.');
    const q = ctx.url.searchParams;
    let s: Session;
    try {
      s = await ctx.core.sessions.login(data as LoginData, {
        databaseName: q.get('databaseName'),
        schemaName: q.get('schemaName'),
        warehouse: q.get('warehouse'),
        roleName: q.get('roleName'),
      });
    } catch (e) {
      if (e instanceof SnowflakeError) {
        return { status: 200, json: { data: { nextAction: 'RETRY_LOGIN', authnMethod: String(data.AUTHENTICATOR ?? 'PASSWORD'), signInOptions: {} }, code: e.code, message: e.message, success: false, headers: null } };
      }
      throw e;
    }
    const core = ctx.core;
    return ok({
      masterToken: s.masterToken,
      token: s.sessionToken,
      validityInSeconds: core.sessionTokenTtlSeconds,
      masterValidityInSeconds: core.masterTokenTtlSeconds,
      displayUserName: s.user,
      serverVersion: '9.0.0',
      firstLogin: false,
      remMeToken: null,
      remMeValidityInSeconds: 0,
      healthCheckInterval: 45,
      newClientForUpgrade: null,
      sessionId: sessionIdFor(s),
      parameters: parametersOf(core, s),
      sessionInfo: { databaseName: s.database, schemaName: s.schema, warehouseName: s.warehouse, roleName: s.role },
      idToken: null,
      idTokenValidityInSeconds: 0,
      responseData: null,
      mfaToken: null,
      mfaTokenValidityInSeconds: 0,
    });
  },

  'POST /session/token-request': async (ctx) => {
    const body = (ctx.body ?? {}) as { oldSessionToken?: string; requestType?: string };
    if (body.requestType !== undefined && body.requestType !== 'RENEW') throw sfError.badRequest(`Unsupported requestType ${body.requestType}.`);
    const s = ctx.core.sessions.renew(tokenOf(ctx.headers), body.oldSessionToken);
    return ok({
      sessionToken: s.sessionToken,
      validityInSecondsST: ctx.core.sessionTokenTtlSeconds,
      masterToken: s.masterToken,
      validityInSecondsMT: ctx.core.masterTokenTtlSeconds,
      sessionId: sessionIdFor(s),
    });
  },

  'POST /session/heartbeat': async (ctx) => {
    const s = sessionOf(ctx);
    s.heartbeats++;
    return ok(null);
  },

  'POST /session': async (ctx) => {
    if (ctx.url.searchParams.get('delete') !== 'true') throw sfError.badRequest('POST /session needs ?delete=true.');
    const s = sessionOf(ctx);
    ctx.core.sessions.close(s);
    ctx.core.queries.abortSession(s.id);
    ctx.core.closeEngineSession(s);
    return ok(null);
  },

  'POST /queries/v1/query-request': async (ctx) => {
    const s = sessionOf(ctx);
    const body = (ctx.body ?? {}) as {
      sqlText?: unknown;
      bindings?: Bindings;
      asyncExec?: boolean;
      describeOnly?: boolean;
      parameters?: Record<string, unknown>;
      bindStage?: string;
    };
    if (typeof body.sqlText !== 'string') throw sfError.badRequest('query-request needs "sqlText".');
    if (body.bindStage) throw sfError.unsupported('bindStage (binds uploaded to a stage)');
    const requestId = ctx.url.searchParams.get('requestId');
    const core = ctx.core;
    // A driver retrying a request sends the same requestId: answer with the statement already started.
    const again = requestId ? core.queries.byRequest(s.id, requestId) : undefined;
    if (again) return answer(core, s, again, again.asyncExec);

    const mscRaw = body.parameters?.MULTI_STATEMENT_COUNT ?? s.parameters.get('MULTI_STATEMENT_COUNT') ?? 1;
    const engine = await core.engineSession(s);
    const sqlText = body.sqlText;
    const record = core.queries.start({ sessionId: s.id, user: s.user, sqlText, requestId, asyncExec: body.asyncExec === true }, (signal) =>
      engine.execute({ sqlText, bindings: body.bindings, describeOnly: body.describeOnly === true, multiStatementCount: Number(mscRaw), signal }),
    );
    if (body.asyncExec === true) {
      return {
        status: 200,
        json: {
          data: { queryId: record.queryId, getResultUrl: `/queries/${record.queryId}/result`, queryAbortsAfterSecs: 300, progressDesc: null },
          code: SfCode.QUERY_IN_PROGRESS_ASYNC,
          message: 'Asynchronous execution in progress. Use provided query id to perform query monitoring and management.',
          success: true,
        },
      };
    }
    return answer(core, s, record, false);
  },

  'GET /queries/:queryId/result': async (ctx) => {
    const s = sessionOf(ctx);
    const record = ctx.core.queries.byId(ctx.params.queryId!);
    if (!record || record.user !== s.user) throw sfError.queryNotFound(ctx.params.queryId!);
    return answer(ctx.core, s, record, record.asyncExec);
  },

  'GET /monitoring/queries/:queryId': async (ctx) => {
    const s = sessionOf(ctx);
    const q = ctx.core.queries.byId(ctx.params.queryId!);
    if (!q || q.user !== s.user) return ok({ queries: [] });
    return ok({ queries: [monitoringEntry(q, q.sessionId, q.result?.rows.length ?? 0, ctx.core.now())] });
  },

  'POST /queries/v1/abort-request': async (ctx) => {
    const s = sessionOf(ctx);
    const requestId = (ctx.body as { requestId?: string } | null)?.requestId;
    if (!requestId) throw sfError.badRequest('abort-request needs "requestId".');
    const q = ctx.core.queries.byRequest(s.id, requestId);
    return q && ctx.core.queries.abort(q) ? ok(null) : fail(sfError.notExecuting());
  },

  'POST /queries/:queryId/abort-request': async (ctx) => {
    const s = sessionOf(ctx);
    const q = ctx.core.queries.byId(ctx.params.queryId!);
    return q && q.sessionId === s.id && ctx.core.queries.abort(q) ? ok(null) : fail(sfError.notExecuting());
  },

  'POST /telemetry/send': async (ctx) => {
    sessionOf(ctx);
    const logs = (ctx.body as { logs?: unknown[] } | null)?.logs;
    if (Array.isArray(logs)) ctx.core.telemetry.push(...logs);
    return ok('Log Received');
  },

  'GET /__chunks/:queryId/:index': async (ctx) => {
    const { queryId, index } = ctx.params as { queryId: string; index: string };
    const record = ctx.core.queries.byId(queryId);
    const payload = record?.payload as Payload | undefined;
    const chunk = payload?.chunks[Number(index)];
    const sig = ctx.url.searchParams.get('sig') ?? '';
    const key = ctx.headers[SSE_KEY];
    if (!record || !payload || !chunk || !sameText(sig, chunkSignature(ctx.core, queryId, index)) || key !== payload.key) {
      // What S3 says to a URL or key it does not accept.
      return { status: 403, raw: chunkAccessDenied() };
    }
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(chunk.body.length) };
    if (chunk.gzip) headers['Content-Encoding'] = 'gzip';
    return { status: 200, raw: { body: chunk.body, headers } };
  },
};

// ---------------------------------------------------------------------------------------------
// Results

interface Payload {
  key: string;
  chunks: EncodedChunk[];
  data: Record<string, unknown>;
}

/**
 * The answer for a statement: its result or error once over; otherwise, after `resultWaitMs`, "in progress"
 * (333334 for asyncExec statements, 333333 for synchronous ones) with the URL to poll.
 */
async function answer(core: EmulatorCore, s: Session, q: QueryRecord, asyncExec: boolean): Promise<Reply> {
  if (!(await core.queries.waitFor(q, core.resultWaitMs))) {
    return {
      status: 200,
      json: {
        data: { queryId: q.queryId, getResultUrl: `/queries/${q.queryId}/result`, queryAbortsAfterSecs: 300, progressDesc: null },
        code: asyncExec ? SfCode.QUERY_IN_PROGRESS_ASYNC : SfCode.QUERY_IN_PROGRESS,
        message: asyncExec ? 'Asynchronous execution in progress. Use provided query id to perform query monitoring and management.' : 'Query execution in progress',
        success: true,
      },
    };
  }
  if (q.error) return fail(q.error, q.queryId);
  const payload = payloadOf(core, q);
  return {
    status: 200,
    json: {
      data: {
        ...payload.data,
        parameters: parametersOf(core, s),
        finalDatabaseName: s.database,
        finalSchemaName: s.schema,
        finalWarehouseName: s.warehouse,
        finalRoleName: s.role,
        sendResultTime: core.now(),
      },
      code: null,
      message: null,
      success: true,
    },
  };
}

function payloadOf(core: EmulatorCore, q: QueryRecord): Payload {
  if (q.payload) return q.payload as Payload;
  const r = q.result!;
  // Only query results are chunked: DML counts and status lines always travel inline (gosnowflake reads
  // rowset[0] of a DML result directly).
  const { inline, chunks } = r.statementTypeId === StatementType.SELECT ? splitIntoChunks(r.rows, core.chunking) : { inline: r.rows, chunks: [] };
  const key = randomBytes(32).toString('base64');
  const data: Record<string, unknown> = {
    rowtype: r.rowtype,
    rowset: inline,
    total: r.rows.length,
    returned: r.rows.length,
    queryId: q.queryId,
    databaseProvider: null,
    numberOfBinds: 0,
    arrayBindSupported: false,
    statementTypeId: r.statementTypeId,
    version: 1,
    queryResultFormat: 'json',
  };
  if (chunks.length > 0) {
    const base = core.baseUrl();
    data.chunks = chunks.map((c, i) => ({
      url: `${base}/__chunks/${q.queryId}/${i}?sig=${chunkSignature(core, q.queryId, String(i))}`,
      rowCount: c.rowCount,
      uncompressedSize: c.uncompressedSize,
      compressedSize: c.compressedSize,
    }));
    // The SSE-C headers Snowflake hands out for its S3 result files; drivers send them back on every chunk GET.
    data.chunkHeaders = { [SSE_ALGORITHM]: 'AES256', [SSE_KEY]: key };
    data.qrmk = key;
  }
  const payload: Payload = { key, chunks, data };
  q.payload = payload;
  return payload;
}

function chunkSignature(core: EmulatorCore, queryId: string, index: string): string {
  return createHmac('sha256', core.chunkSecret).update(`${queryId}/${index}`).digest('base64url');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
