// One client connection through the PostgreSQL front door: TLS negotiation, token authentication,
// the upstream session opened with gateway-held credentials, and a decision for every statement.
// Denied statements are swapped for a stand-in that fails upstream, so the real server keeps the
// response order and transaction status, and the stand-in's error is replaced by the denial. What the
// server holds (statements, portals, settings) is followed by the session model (session-model.ts).
// This file: the client's bytes, startup and authentication, the upstream attached. The session's state is
// in session-state.ts; statements in session-query.ts (simple Query) and session-extended.ts (the ready
// phase, extended protocol), with session-gate.ts (catalog check, measuring, approvals) and session-copy.ts.
import net from 'node:net';
import tls from 'node:tls';
import { roleFor } from '../identity/roles.ts';
import { IdentityError, type VerifiedIdentity } from '../identity/validator.ts';
import {
  ProtocolError,
  adminShutdown,
  connectionFailure,
  featureNotSupported,
  fromProtocolError,
  internalError,
  invalidCatalogName,
  invalidAuthorization,
  protocolViolation,
  sessionDesynchronized,
  SqlState,
  type ErrorFields,
  type FrontendMessage,
  type StartupMessage,
} from './protocol/index.ts';
import { SessionModelBreach } from './errors.ts';
import type { PostgresDoorContext } from './context.ts';
import { startupSettings } from './startup-parameters.ts';
import { UpstreamError, type UpstreamConnection } from '../upstream/postgres/upstream.ts';
import { PipelineSession } from '../pipeline/session.ts';
import { purposeFromClaims, purposeFromStartupOptions } from '../pipeline/purpose.ts';
import { openCatalogGate } from './session-gate.ts';
import { onReady } from './session-extended.ts';
import { HOLD_BYTES, PostgresSession, type SessionHandlers } from './session-state.ts';

const HANDLERS: SessionHandlers = { data: onClientData, ready: onReady };

/**
 * Serves one client socket until it closes.
 *
 * @example
 * net.createServer((s) => handleClient(s, ctx));
 */
export function handleClient(rawSocket: net.Socket, ctx: PostgresDoorContext): void {
  const s = new PostgresSession(rawSocket, ctx, HANDLERS);
  rawSocket.setNoDelay(true);
  rawSocket.setKeepAlive(true, 60_000);
  ctx.metrics.sessions.inc();
  s.authTimer = setTimeout(() => {
    if (s.phase === 'startup' || s.phase === 'auth') s.fatal(invalidAuthorization('authentication timed out; send the token as the password within the time limit'));
  }, ctx.config.limits.auth_timeout_ms);
  ctx.sessions.add(s.handle);
  ctx.postgresSessions.add(s.handle);
  attach(s, rawSocket);
}

/** The client socket's events; a second time for the TLS socket that replaces it after SSLRequest. */
function attach(s: PostgresSession, socket: net.Socket | tls.TLSSocket): void {
  socket.on('data', s.onClientData);
  socket.on('error', (err) => {
    s.log.debug('client socket error', { error: err.message });
    s.close();
  });
  socket.on('close', () => s.close());
  socket.on('drain', () => {
    if (s.tracker.heldBytes <= HOLD_BYTES) s.upstream?.socket.resume();
  });
}

function onClientData(s: PostgresSession, chunk: Buffer): void {
  s.clientDataAt = performance.now();
  try {
    s.reader.push(chunk);
  } catch (err) {
    return protocolFailure(s, err);
  }
  pump(s);
}

function protocolFailure(s: PostgresSession, err: unknown): void {
  if (s.phase === 'startup' && err instanceof ProtocolError && (err.code === 'MESSAGE_TOO_LARGE' || err.message.startsWith('invalid startup packet length'))) {
    // PostgreSQL closes without a word on a startup packet whose length it cannot take (COMMERROR "invalid
    // length of startup packet"): what a client sends when it gives up before startup (node-postgres
    // connect() then end() sends a Terminate first), or a port scanner. Other malformed startup packets get
    // their FATAL, as from PostgreSQL.
    s.log.debug('client closed before startup', { error: err.message });
    return s.close();
  }
  s.ctx.metrics.errors.inc({ kind: 'protocol' });
  s.log.warn('protocol violation', { error: (err as Error).message });
  s.fatal(err instanceof ProtocolError ? fromProtocolError(err) : protocolViolation((err as Error).message));
}

// Synchronous unless a message needs a wait (authentication, approval): an async function here cost a
// promise, its microtask and the unhandled-rejection bookkeeping per client chunk (~1 µs, perf).
function pump(s: PostgresSession): void {
  if (s.pumping) return;
  s.pumping = true;
  s.batching = true;
  let pending: Promise<void> | void = undefined;
  try {
    while (s.phase !== 'closed') {
      let msg: FrontendMessage | null;
      try {
        msg = s.reader.next();
      } catch (err) {
        s.flushUpstream(); // what came before the bad message still runs, as PostgreSQL would have run it
        protocolFailure(s, err);
        break;
      }
      if (!msg) break;
      pending = onMessage(s, msg);
      if (pending) break;
    }
  } catch (err) {
    pending = undefined;
    internalFailure(s, err);
  } finally {
    s.batching = false;
    s.flushUpstream(); // and a wait must not hold back what came before it
  }
  if (!pending) {
    s.pumping = false;
    return;
  }
  pending.then(
    () => {
      s.pumping = false;
      pump(s);
    },
    (err: unknown) => {
      s.pumping = false;
      internalFailure(s, err);
    },
  );
}

function internalFailure(s: PostgresSession, err: unknown): void {
  s.ctx.metrics.errors.inc({ kind: 'internal' });
  s.log.error('session failed', { error: (err as Error).message, stack: (err as Error).stack });
  s.fatal(internalError());
}

function onMessage(s: PostgresSession, msg: FrontendMessage): Promise<void> | void {
  switch (s.phase) {
    case 'startup':
      return onStartupPhase(s, msg);
    case 'auth':
      if (msg.type !== 'password') return s.fatal(protocolViolation(`expected the password (token) message, got ${msg.type}`));
      return authenticate(s, msg.text);
    case 'ready':
      return onReady(s, msg);
    default:
      return;
  }
}

function onStartupPhase(s: PostgresSession, msg: FrontendMessage): Promise<void> | void {
  const { ctx, writer } = s;
  switch (msg.type) {
    case 'sslRequest': {
      if (!ctx.tls || s.tlsActive) return void s.socket.write(writer.sslResponse(false).flush());
      // Bytes after SSLRequest but before the handshake would be read as plaintext (CVE-2021-23214).
      if (s.reader.buffered > 0) return s.fatal(protocolViolation('unexpected data after SSLRequest'));
      s.socket.write(writer.sslResponse(true).flush());
      s.rawSocket.removeListener('data', s.onClientData);
      const secure = new tls.TLSSocket(s.rawSocket, { isServer: true, secureContext: ctx.tls });
      secure.setNoDelay?.(true);
      secure.on('secure', () => (s.tlsActive = true));
      s.socket = secure;
      attach(s, secure);
      return;
    }
    case 'gssEncRequest':
      return void s.socket.write(writer.gssEncResponse(false).flush());
    case 'cancelRequest': {
      ctx.cancel(msg.processId, msg.secretKey);
      return s.close();
    }
    case 'startup':
      return onStartup(s, msg);
    default:
      return s.fatal(protocolViolation(`unexpected ${msg.type} message before startup`));
  }
}

function onStartup(s: PostgresSession, msg: StartupMessage): void {
  const ctx = s.ctx;
  s.startup = msg;
  const replication = msg.parameters.get('replication');
  if (replication && !['false', 'off', 'no', '0'].includes(replication.toLowerCase())) {
    return s.fatal(featureNotSupported('replication connections are not supported through Verdict'));
  }
  const target = ctx.config.upstreams[msg.database];
  if (!target) {
    return s.fatal(invalidCatalogName(`database "${msg.database}" is not served by this gateway`, `connect to one of: ${Object.keys(ctx.config.upstreams).join(', ')}`));
  }
  if (!s.tlsActive && !s.loopback && ctx.config.tls.require_for_tokens) {
    return s.fatal(invalidAuthorization('Verdict accepts tokens only over TLS; connect with sslmode=require'));
  }
  s.upstreamName = msg.database;
  s.phase = 'auth';
  s.socket.write(s.writer.authenticationCleartextPassword().flush());
}

async function authenticate(s: PostgresSession, token: string): Promise<void> {
  const { ctx, log, writer } = s;
  const start = s.startup!;
  const upstreamName = s.upstreamName;
  let identity: VerifiedIdentity;
  try {
    identity = s.identity = await ctx.validator.verify(token, start.user);
  } catch (err) {
    ctx.metrics.sessionsTotal.inc({ outcome: 'rejected' });
    const message = err instanceof IdentityError ? err.clientMessage : 'the token could not be verified';
    log.info('authentication failed', { user: start.user, reason: err instanceof IdentityError ? err.code : 'error' });
    return s.fatal(invalidAuthorization(message));
  }
  if (s.phase === 'closed') return;
  // The client has authenticated: from here on the wait is the upstream's, with its own connect timeout.
  clearTimeout(s.authTimer);
  const target = ctx.config.upstreams[upstreamName]!;
  const engine = ctx.engine(upstreamName);
  const settings = startupSettings(start.parameters, engine.startupParameters, engine.revision !== null);
  if (!settings.ok) {
    ctx.metrics.sessionsTotal.inc({ outcome: 'rejected' });
    log.info('startup parameter refused', { user: identity.username, reason: settings.error.message });
    return s.fatal(settings.error);
  }
  let upstream: UpstreamConnection;
  try {
    upstream = s.upstream = await ctx.connect(upstreamName, settings.parameters, roleFor(ctx.config.identity.role_by_group, identity.groups));
  } catch (err) {
    ctx.metrics.errors.inc({ kind: 'upstream_connect' });
    log.error('upstream connection failed', { upstream: upstreamName, error: (err as Error).message, code: (err as UpstreamError).code });
    return s.fatal(upstreamConnectError(s, err, settings.parameters));
  }
  if ((s.phase as string) === 'closed') return upstream.close();
  try {
    for (const [k, v] of upstream.parameters) s.model.parameterStatus(k, v);
  } catch (err) {
    log.error('upstream session settings refused', { upstream: upstreamName, error: (err as Error).message });
    upstream.close();
    return s.fatal(connectionFailure(`the upstream database "${upstreamName}" starts sessions with settings Verdict cannot check statements under (${(err as Error).message}); ask the operator to fix the database or role defaults`));
  }
  clearTimeout(s.authTimer);
  ctx.metrics.sessionsTotal.inc({ outcome: 'accepted' });
  const pipeline = (s.pipeline = new PipelineSession(ctx, {
    identity,
    upstream: upstreamName,
    database: target.database,
    frontDoor: 'postgres',
    clientAddr: s.rawSocket.remoteAddress ?? null,
    applicationName: start.parameters.get('application_name') ?? null,
    tls: s.tlsActive,
    refusalCode: SqlState.InsufficientPrivilege,
    holdTimeoutSeconds: ctx.config.approvals.hold_timeout_seconds,
    purpose: sessionPurpose(start.parameters, identity),
  }));
  // Just-in-time access: the session lasts as long as the token.
  const ms = identity.expiresAt.getTime() - Date.now();
  s.expiryTimer = setTimeout(
    () => s.fatal(invalidAuthorization(`your token expired at ${identity.expiresAt.toISOString()}; reconnect with a new token`)),
    Math.max(0, Math.min(ms, 2 ** 31 - 1)),
  );
  writer.authenticationOk();
  for (const [k, v] of upstream.parameters) writer.parameterStatus(k, v);
  writer.backendKeyData(s.gatewayKey.processId, s.gatewayKey.secretKey).readyForQuery('I');
  s.socket.write(writer.flush());
  s.phase = 'ready';
  log.info('session started', { user: identity.username, sub: identity.sub, groups: identity.groups, upstream: upstreamName, tls: s.tlsActive });
  pipeline.start();
  s.gate = openCatalogGate(s);

  const tracker = s.tracker;
  const up = upstream.socket;
  up.on('data', (chunk: Buffer) => {
    let out: Buffer;
    try {
      out = tracker.transform(chunk);
    } catch (err) {
      return upstreamFailure(s, err);
    }
    s.send(out);
    if (tracker.heldBytes > HOLD_BYTES) up.pause(); // resumed by release() or dropHeld()
    if (tracker.lostSync) {
      s.endReason = 'terminated: 08P01 (a non-COPY message in copy-in mode)';
      return s.close();
    }
    if (s.terminating && tracker.idle) s.close();
  });
  up.on('drain', () => s.socket.resume());
  up.on('error', (err) => log.warn('upstream socket error', { error: err.message }));
  up.on('close', () => {
    if (s.terminating) s.close();
    else if (s.phase !== 'closed') s.fatal(adminShutdown('the upstream database closed the connection'));
  });
  if (upstream.leftover.length) {
    try {
      s.send(tracker.transform(upstream.leftover));
    } catch (err) {
      return upstreamFailure(s, err);
    }
  }
  up.resume();
}

/**
 * What the client is told when the upstream session could not be opened: the server's own error when it
 * refused a setting the client asked for (22023 invalid value, 42501 not permitted), as it would be told
 * directly; else 08006 naming the upstream and why, never the gateway's credentials or its role.
 */
function upstreamConnectError(s: PostgresSession, err: unknown, asked: Readonly<Record<string, string>>): ErrorFields {
  if (err instanceof UpstreamError && err.code === 'SERVER_ERROR' && err.sqlstate && /^(22|42)/.test(err.sqlstate)) {
    const server = err.cause as { message?: string; hint?: string } | undefined;
    const parameter = /parameter "([^"]+)"/.exec(server?.message ?? '')?.[1]?.toLowerCase();
    if (server?.message && parameter !== undefined && Object.hasOwn(asked, parameter)) {
      return { severity: 'FATAL', code: err.sqlstate, message: server.message, ...(server.hint ? { hint: server.hint } : {}) };
    }
  }
  const why = err instanceof UpstreamError && err.code === 'TIMEOUT' ? `it did not answer within ${s.ctx.config.upstreams[s.upstreamName]!.connect_timeout_ms} ms` : 'try again later';
  return connectionFailure(`the gateway could not connect to the upstream database "${s.upstreamName}": ${why}`);
}

/**
 * The upstream's answer could not be attributed (SessionModelBreach) or framed: the session ends, nothing
 * of that chunk reaches the client, and the breach is recorded.
 */
function upstreamFailure(s: PostgresSession, err: unknown): void {
  if (err instanceof SessionModelBreach) {
    s.ctx.metrics.errors.inc({ kind: 'session_model' });
    s.log.error('session model breach: session ended', { reason: err.message, user: s.identity?.username });
    s.record({ type: 'session_breach', data: { session_id: s.pipeline?.id ?? '', reason: err.message } });
    return s.fatal(sessionDesynchronized(err.message));
  }
  s.log.error('upstream stream failed', { error: (err as Error).message });
  return s.fatal(connectionFailure('the upstream sent a malformed message; the session was closed'));
}

/** The purpose of use: `options=-c verdict.purpose=…` at startup, else the token's purpose claim. */
function sessionPurpose(parameters: ReadonlyMap<string, string>, who: { claims?: Record<string, unknown> }): string | null {
  return purposeFromStartupOptions(parameters.get('options')) ?? purposeFromClaims(who.claims);
}
