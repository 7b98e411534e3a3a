// The MCP front door: MCP Streamable HTTP (https://modelcontextprotocol.io/specification, basic/transports)
// served with the official SDK, Verdict acting as an OAuth 2.0 resource server as the MCP authorization spec
// requires: RFC 9728 protected-resource metadata, `401` + `WWW-Authenticate: Bearer resource_metadata=…`,
// the token's audience checked against this server's RFC 8707 resource identifier, the same JWKS validation
// as the PostgreSQL door, Host and Origin validated (DNS rebinding). The SDK checks none of these: this does.
// 2026-07-28 clients are served per request; 2025-era clients get a session (Mcp-Session-Id) bound to the
// token's subject, so the clientInfo they declared at initialize reaches the evidence of every call.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { NodeStreamableHTTPServerTransport, toNodeHandler, toWebRequest } from '@modelcontextprotocol/node';
import {
  CLIENT_INFO_META_KEY,
  OAuthError,
  OAuthErrorCode,
  bearerAuthChallengeResponse,
  createMcpHandler,
  getOAuthProtectedResourceMetadataUrl,
  isInitializeRequest,
  isLegacyRequest,
  localhostAllowedHostnames,
  localhostAllowedOrigins,
  validateHostHeader,
  validateOriginHeader,
  verifyBearerToken,
  type AuthInfo,
  type McpServer,
} from '@modelcontextprotocol/server';
import type { GatewayContext, SessionHandle } from '../context.ts';
import { BodyTooLargeError, readBody } from '../http.ts';
import { IdentityError, IdentityErrorCode, createIdentityValidator, type VerifiedIdentity } from '../identity/validator.ts';
import { McpRunner, type Caller } from './runner.ts';
import { buildMcpServer } from './tools.ts';

export interface McpDoor {
  /** Where the listener is bound. */
  address: { host: string; port: number };
  /** The MCP endpoint (also the RFC 8707 resource tokens must name in `aud`). */
  url: string;
  /** The RFC 9728 protected-resource metadata document's URL. */
  metadataUrl: string;
  /** Stops accepting, ends 2025-era sessions, waits (bounded) for tool calls in flight. */
  close(graceMs?: number): Promise<void>;
}

/** What the bearer check leaves on a request for the tools (AuthInfo.extra). */
interface Verified {
  identity: VerifiedIdentity;
  clientAddr: string | null;
  tls: boolean;
}

interface LegacySession {
  transport: NodeStreamableHTTPServerTransport;
  server: McpServer;
  sub: string;
  lastSeen: number;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * Starts the MCP door of `ctx.config.mcp`.
 *
 * @example
 * const door = await startMcpDoor(ctx, { tls: null, version: '0.1.0' });
 * // an MCP client: new StreamableHTTPClientTransport(new URL(door.url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } })
 */
export async function startMcpDoor(ctx: GatewayContext, options: { tls: { cert: Buffer; key: Buffer } | null; version: string }): Promise<McpDoor> {
  const cfg = ctx.config.mcp!;
  const upstream = cfg.upstream ?? Object.keys(ctx.config.upstreams)[0]!;
  const runner = new McpRunner(ctx, { ...cfg, upstream });
  const log = ctx.log;
  const sessions = new Map<string, LegacySession>();

  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }) : http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  const bound = server.address() as net.AddressInfo;
  if (!cfg.resource && (bound.address === '0.0.0.0' || bound.address === '::')) {
    server.close();
    throw new Error('mcp.resource: set the public URL of the MCP endpoint when listening on all interfaces (tokens must name it as their audience)');
  }
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const resource = new URL(cfg.resource ?? `${options.tls ? 'https' : 'http'}://${host}:${bound.port}${cfg.path}`);
  const metadataUrl = getOAuthProtectedResourceMetadataUrl(resource);
  const metadataPath = new URL(metadataUrl).pathname;
  const allowedHosts = cfg.allowed_hosts ?? [...new Set([...localhostAllowedHostnames(), resource.hostname])];
  const allowedOrigins = cfg.allowed_origins ?? localhostAllowedOrigins();
  const id = ctx.config.identity;
  // Tokens for this door name this door (RFC 8707): a token minted for the PostgreSQL door's audience is refused.
  const validator = createIdentityValidator({
    issuer: id.issuer,
    audience: resource.href,
    jwksUrl: id.jwks_url,
    ...(id.algorithms ? { algorithms: id.algorithms } : {}),
    clockToleranceSeconds: id.clock_tolerance_seconds,
    claims: id.claims,
  });
  const metadata = JSON.stringify({
    resource: resource.href,
    authorization_servers: [id.issuer],
    bearer_methods_supported: ['header'],
    resource_name: 'Verdict',
  });

  const callerOf = (extra: { http?: { authInfo?: AuthInfo }; mcpReq?: { envelope?: unknown } }, mcp: McpServer): Caller => {
    const v = extra.http?.authInfo?.extra?.verdict as Verified | undefined;
    if (!v) throw new Error('a tool was called without a verified identity'); // never: every request passes the bearer check first
    const declared = (extra.mcpReq?.envelope as Record<string, { name?: unknown; version?: unknown }> | undefined)?.[CLIENT_INFO_META_KEY] ?? mcp.server.getClientVersion();
    const client = declared && typeof declared.name === 'string' ? { name: printable(declared.name, 200), version: typeof declared.version === 'string' ? printable(declared.version, 100) : null } : null;
    return { identity: v.identity, client, clientAddr: v.clientAddr, tls: v.tls };
  };
  const factory = (): McpServer => {
    const mcp: McpServer = buildMcpServer(runner, ctx.approvals, (extra) => callerOf(extra as Parameters<typeof callerOf>[0], mcp), options.version);
    return mcp;
  };
  const modern = toNodeHandler(createMcpHandler(factory, { legacy: 'reject', maxRequestBodySize: cfg.max_request_bytes, onerror: (e) => log.warn('mcp request failed', { error: e.message }) }));

  const verifier = {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      try {
        const identity = await validator.verify(token, null);
        return {
          token,
          clientId: identity.sub,
          scopes: [],
          expiresAt: Math.floor(identity.expiresAt.getTime() / 1000),
          resource,
          extra: { verdict: { identity, clientAddr: null, tls: false } satisfies Verified },
        };
      } catch (err) {
        if (err instanceof IdentityError && err.code === IdentityErrorCode.JwksUnavailable) throw new OAuthError(OAuthErrorCode.TemporarilyUnavailable, err.clientMessage);
        throw new OAuthError(OAuthErrorCode.InvalidToken, err instanceof IdentityError ? err.clientMessage : 'the token could not be verified');
      }
    },
  };

  const sweep = setInterval(() => {
    const idle = Date.now() - cfg.session_idle_seconds * 1000;
    for (const s of sessions.values()) if (s.lastSeen < idle) void s.transport.close();
  }, Math.min(30_000, cfg.session_idle_seconds * 500));
  sweep.unref();

  server.on('request', (req: http.IncomingMessage & { auth?: AuthInfo }, res: http.ServerResponse) => {
    handle(req, res).catch((err: Error) => {
      log.error('mcp request failed', { error: err.message });
      if (!res.headersSent) jsonError(res, 500, -32603, 'internal error');
      else res.end();
    });
  });

  async function handle(req: http.IncomingMessage & { auth?: AuthInfo }, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    // DNS rebinding: a page in a browser must not reach this server under another name, or from another origin.
    const hostCheck = validateHostHeader(req.headers.host, allowedHosts);
    if (!hostCheck.ok) return jsonError(res, 403, -32000, `Forbidden: ${hostCheck.message}`);
    const originCheck = validateOriginHeader(req.headers.origin, allowedOrigins);
    if (!originCheck.ok) return jsonError(res, 403, -32000, `Forbidden: ${originCheck.message}`);
    if (path === metadataPath || path === '/.well-known/oauth-protected-resource') {
      if (req.method !== 'GET') return void res.writeHead(405, { allow: 'GET' }).end();
      return void res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' }).end(metadata);
    }
    if (path !== cfg.path) return jsonError(res, 404, -32000, `not found: the MCP endpoint is ${cfg.path}`);
    const secure = options.tls !== null;
    const remote = req.socket.remoteAddress ?? null;
    if (!secure && ctx.config.tls.require_for_tokens && !(remote && LOOPBACK.has(remote))) {
      return jsonError(res, 403, -32000, 'Forbidden: tokens travel only over TLS; configure tls.cert and tls.key and use https');
    }
    try {
      req.auth = await verifyBearerToken(req.headers.authorization, { verifier, resourceMetadataUrl: metadataUrl, expectedResource: resource });
    } catch (err) {
      log.info('mcp authentication failed', { reason: err instanceof OAuthError ? err.code : 'error', client_addr: remote });
      ctx.metrics.sessionsTotal.inc({ outcome: 'rejected' });
      return send(res, bearerAuthChallengeResponse(err, { resourceMetadataUrl: metadataUrl }));
    }
    (req.auth.extra!.verdict as Verified).clientAddr = remote;
    (req.auth.extra!.verdict as Verified).tls = secure;

    const body = req.method === 'POST' ? await readBody(req, cfg.max_request_bytes).catch((e: unknown) => (e instanceof BodyTooLargeError ? null : Promise.reject(e))) : undefined;
    if (body === null) return jsonError(res, 413, -32600, `the request body is larger than mcp.max_request_bytes (${cfg.max_request_bytes})`);
    let parsed: unknown;
    if (body !== undefined) {
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return jsonError(res, 400, -32700, 'Parse error: the body is not JSON');
      }
    }
    if (!(await isLegacyRequest(await toWebRequest(req, parsed), parsed))) return modern(req, res, parsed);
    return legacy(req as http.IncomingMessage & { auth: AuthInfo }, res, parsed);
  }

  /** 2025-era traffic: one SDK session per Mcp-Session-Id, usable only by the token subject that opened it. */
  async function legacy(req: http.IncomingMessage & { auth: AuthInfo }, res: http.ServerResponse, parsed: unknown): Promise<void> {
    const sub = (req.auth.extra!.verdict as Verified).identity.sub;
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string') {
      const s = sessions.get(sid);
      // Another subject's session is as unknown as none (404 makes the client start a new one).
      if (!s || s.sub !== sub) return jsonError(res, 404, -32001, 'Session not found');
      s.lastSeen = Date.now();
      return s.transport.handleRequest(req, res, parsed);
    }
    if (req.method !== 'POST' || !isInitializeRequest(parsed)) return jsonError(res, 400, -32000, 'Bad Request: no Mcp-Session-Id; start with initialize');
    // One subject's sessions are bounded by its own limit: its least recently used one makes room.
    const own = [...sessions.values()].filter((s) => s.sub === sub).sort((a, b) => a.lastSeen - b.lastSeen);
    if (own.length >= cfg.max_sessions_per_identity) await own[0]!.transport.close().catch(() => undefined);
    if (sessions.size >= cfg.max_sessions) return jsonError(res, 503, -32000, `the MCP door serves at most ${cfg.max_sessions} sessions (mcp.max_sessions); try again later`);
    const mcp = factory();
    const transport: NodeStreamableHTTPServerTransport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server: mcp, sub, lastSeen: Date.now() });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await mcp.connect(transport);
    await transport.handleRequest(req, res, parsed);
  }

  // The door as one entry of the gateway's sessions: shutdown waits while tool calls run.
  const doorHandle: SessionHandle = {
    id: -1,
    get busy() {
      return runner.inFlight > 0;
    },
    shutdown: () => undefined,
  };
  ctx.sessions.add(doorHandle);
  log.info('mcp door listening', { url: resource.href, upstream, tls: options.tls !== null });

  return {
    address: { host: bound.address, port: bound.port },
    url: resource.href,
    metadataUrl,
    async close(graceMs = ctx.config.limits.shutdown_grace_ms) {
      clearInterval(sweep);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const deadline = Date.now() + graceMs;
      while (runner.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => undefined)));
      server.closeAllConnections();
      ctx.sessions.delete(doorHandle);
      await closed;
    },
  };
}

/** What an agent declares about itself, as printable text (no control characters) of at most `max` characters. */
function printable(s: string, max: number): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').slice(0, max);
}

function jsonError(res: http.ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

async function send(res: http.ServerResponse, r: Response): Promise<void> {
  res.writeHead(r.status, Object.fromEntries(r.headers));
  res.end(Buffer.from(await r.arrayBuffer()));
}
