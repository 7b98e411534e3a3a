// One client connection through the PostgreSQL front door: TLS negotiation, token authentication,
// the upstream session opened with gateway-held credentials, and a decision for every statement.
// Denied statements are swapped for a stand-in that fails upstream, so the real server keeps the
// response order and transaction status, and the stand-in's error is replaced by the denial. What the
// server holds (statements, portals, settings) is followed by the session model (session-model.ts).
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { holdsNoStatement, type Verdict } from '../../engine/engine.ts';
import type { Decision } from '../../engine/decision/decision.ts';
import type { ApprovalInput } from '../../engine/policy/input.ts';
import type { BlastRadius, StatementAnalysis } from '../../engine/sql/types.ts';
import type { EvidenceEvent } from '../../engine/evidence/events.ts';
import { roleFor } from '../identity/roles.ts';
import { IdentityError, type VerifiedIdentity } from '../identity/validator.ts';
import {
  BackendWriter,
  FrontendReader,
  ProtocolError,
  adminShutdown,
  connectionFailure,
  featureNotSupported,
  fromProtocolError,
  evidenceUnavailable,
  insufficientPrivilege,
  internalError,
  invalidCatalogName,
  notice,
  invalidAuthorization,
  paramFormat,
  protocolViolation,
  sessionDesynchronized,
  SqlState,
  type ErrorFields,
  type FrontendMessage,
  type StartupMessage,
} from './protocol/index.ts';
import { ResponseTracker, errorCode, scrubbed, type ExecuteUnit, type InternalUnit, type QueryUnit, type RowPlan, type Unit } from './responses.ts';
import {
  SessionModel,
  SessionModelBreach,
  RESERVED_PREFIX,
  STAND_IN_NAME,
  TEXT_FORMATS,
  executedStatement,
  isReservedName,
  type DecisionRef,
  type PortalEntry,
  type Rows,
  type StatementEntry,
} from './session-model.ts';
import type { PostgresDoorContext, PostgresSessionHandle } from './context.ts';
import { startupSettings } from './startup-parameters.ts';
import { UpstreamError, type UpstreamConnection } from '../upstream/postgres/upstream.ts';
import { maskPlan } from '../pipeline/mask-plan.ts';
import { PipelineSession, countedFrom, type Counted } from '../pipeline/session.ts';
import { purposeFromClaims, purposeFromStartupOptions } from '../pipeline/purpose.ts';
import { FLUSH, SYNC, bindMessage, closeMessage, copyFailMessage, executeMessage, parseMessage, queryMessage } from '../upstream/postgres/frontend-messages.ts';
import { catalogGate, FailedTransaction, sameVerdict, UNCATALOGED_RULE, type CatalogGate, type Refusal, type Resolved } from './catalog-gate.ts';
import { resolveSql } from './catalog-freshness.ts';

/** SQL that fails to parse upstream: stands in for a statement the gateway refused. */
const STAND_IN = STAND_IN_NAME;

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/**
 * How many bytes of a held answer (a read sent before its confirmation) the gateway buffers before it pauses the
 * upstream until the confirmation; a larger answer that must then be dropped ends the session instead.
 */
const HOLD_BYTES = 1 << 20;

/** How long a Terminate waits for the upstream to answer what came before it. */
const TERMINATE_GRACE_MS = 5_000;

let sessionSeq = 0;
let measureSeq = 0;
/** measureThenDecide: the server is skipping to Sync, so nothing was measured and nothing needs to be. */
const SKIPPED = Symbol('skipped');

/**
 * Serves one client socket until it closes.
 *
 * @example
 * net.createServer((s) => handleClient(s, ctx));
 */
export function handleClient(rawSocket: net.Socket, ctx: PostgresDoorContext): void {
  const id = ++sessionSeq;
  const log = ctx.log.child({ session: id, client: rawSocket.remoteAddress });
  const reader = new FrontendReader({ maxMessageBytes: ctx.config.limits.max_message_bytes });
  const writer = new BackendWriter();
  const model = new SessionModel((analysis, decision, formats) => rowPlan(analysis, decision, formats));
  const tracker = new ResponseTracker(model);
  tracker.upstreamSeconds = ctx.metrics.upstreamSeconds;
  // What each client was sent is evidence: a digest of the delivered rows per statement.
  tracker.digestRows = ctx.evidence !== null;
  if (ctx.evidence) tracker.onBindError = (unit, sqlstate) => recordExecution(unit.entry, unit.started!, null, sqlstate);
  /** Terminate was received: the client reads nothing more; the session closes once the upstream has answered. */
  let terminating = false;
  /** The COPY FROM STDIN (by tracker.copyStarts) for which CopyData was last forwarded. */
  let copyDataFor = -1;
  /**
   * The portal of the last Bind whose blast radius was measured, while nothing but a Describe of it has come
   * since: a write's portal reads the data when it executes, so its Execute must come straight after.
   */
  let measuredBind: string | null = null;
  const loopback = LOOPBACK.test(rawSocket.remoteAddress ?? '');
  let socket: net.Socket | tls.TLSSocket = rawSocket;
  let tlsActive = false;
  let phase: 'startup' | 'auth' | 'ready' | 'closed' = 'startup';
  let startup: StartupMessage | null = null;
  let identity: VerifiedIdentity | null = null;
  let upstream: UpstreamConnection | null = null;
  let upstreamName = '';
  let pumping = false;
  let expiryTimer: NodeJS.Timeout | null = null;
  /** The session in the statement pipeline (decisions and evidence); opened once the identity is known. */
  let pipeline: PipelineSession | null = null;
  /** Catalog freshness (catalog-gate.ts): relations read must be ones the catalog knows, as loaded. */
  let gate: CatalogGate | null = null;
  /** The check of the Bind being handled, when it is sent before the check passes (its answer held). */
  let pendingCheck: Promise<Refusal | null> | null = null;
  /** Set while a held Bind's check is confirmed: resolves once its answer was released or refused. */
  let confirming: Promise<void> | null = null;
  /** Whether the client's Sync after that Bind was forwarded before the check ended. */
  let syncWhileConfirming = false;
  /** The Query's bytes, or the Bind, that has passed the gate and is being handled again. */
  let gatePassed: object | null = null;
  /** The protocol of the message the gate is checking: how the session's own lookups are sent meanwhile. */
  let gateProtocol: 'simple' | 'extended' = 'simple';
  /** performance.now() when the client's last bytes arrived: every message being handled had arrived by then. */
  let clientDataAt = 0;
  const gatewayKey = { processId: randomBytes(4).readUInt32BE(0) >>> 1, secretKey: randomBytes(4) };
  /** Evidence id of this session: unique across gateway restarts and instances. */
  let endReason = 'client_closed';

  rawSocket.setNoDelay(true);
  rawSocket.setKeepAlive(true, 60_000);
  ctx.metrics.sessions.inc();
  const authTimer = setTimeout(() => {
    if (phase === 'startup' || phase === 'auth') fatal(invalidAuthorization('authentication timed out; send the token as the password within the time limit'));
  }, ctx.config.limits.auth_timeout_ms);

  const handle: PostgresSessionHandle = {
    id,
    key: gatewayKey,
    cancel: () => {
      if (pipeline?.holding) pipeline.withdraw();
      else if (upstream && upstreamName) void ctx.cancelUpstream(upstreamName, upstream.processId, upstream.secretKey);
    },
    shutdown: (message) => fatal(adminShutdown(message)),
    get busy() {
      return !tracker.idle || (pipeline?.holding ?? false);
    },
  };
  ctx.sessions.add(handle);
  ctx.postgresSessions.add(handle);

  attach(rawSocket);

  function attach(s: net.Socket | tls.TLSSocket): void {
    s.on('data', onClientData);
    s.on('error', (err) => {
      log.debug('client socket error', { error: err.message });
      close();
    });
    s.on('close', close);
    s.on('drain', () => {
      if (tracker.heldBytes <= HOLD_BYTES) upstream?.socket.resume();
    });
  }

  function onClientData(chunk: Buffer): void {
    clientDataAt = performance.now();
    try {
      reader.push(chunk);
    } catch (err) {
      return protocolFailure(err);
    }
    pump();
  }

  function send(bytes: Buffer): void {
    if (phase === 'closed' || bytes.length === 0) return;
    if (!socket.write(bytes)) upstream?.socket.pause(); // backpressure: the client is slow
  }

  // While pump() works through one client chunk, what goes upstream is collected and written once at the end
  // (Bind/Execute/Sync = 1 write, not 3). Forwarded messages are adjacent slices of the reader's buffer, so they
  // merge into one slice: a plain write() instead of cork() + 3 write() + uncork() (Writable's corked list,
  // writev and its per-chunk arrays). Saves ~1.5 µs user CPU per transaction in pgbench -M prepared (perf).
  let batching = false;
  let outFirst: Buffer | null = null;
  let outLength = 0; // bytes of outFirst's memory pending, possibly more than outFirst.length after merging
  let outRest: Buffer[] | null = null; // pieces that are not adjacent (stand-ins, a reader buffer switch): rare

  function sendToUpstream(bytes: Buffer): void {
    if (!upstream) return;
    if (!batching) {
      if (!upstream.socket.write(bytes)) socket.pause(); // backpressure: the upstream is slow
      return;
    }
    if (outFirst === null) {
      outFirst = bytes;
      outLength = bytes.length;
    } else if (outRest === null && bytes.buffer === outFirst.buffer && bytes.byteOffset === outFirst.byteOffset + outLength) {
      outLength += bytes.length; // the very next bytes of the same memory: the concatenation is one slice
    } else {
      (outRest ??= []).push(bytes);
    }
  }

  function flushUpstream(): void {
    const first = outFirst;
    if (first === null) return;
    const rest = outRest;
    outFirst = null;
    outRest = null;
    const up = upstream?.socket;
    if (!up || up.writableEnded || up.destroyed) return;
    const head = outLength === first.length ? first : Buffer.from(first.buffer, first.byteOffset, outLength);
    if (rest) up.cork();
    let ok = up.write(head);
    if (rest) {
      for (const b of rest) ok = up.write(b);
      up.uncork();
    }
    if (!ok) socket.pause(); // backpressure: the upstream is slow
  }

  function fatal(fields: ErrorFields): void {
    if (phase === 'closed') return;
    endReason = `terminated: ${fields.code}`;
    socket.write(writer.errorResponse({ ...fields, severity: 'FATAL' }).flush());
    close();
  }

  function protocolFailure(err: unknown): void {
    if (phase === 'startup' && err instanceof ProtocolError && (err.code === 'MESSAGE_TOO_LARGE' || err.message.startsWith('invalid startup packet length'))) {
      // PostgreSQL closes without a word on a startup packet whose length it cannot take (COMMERROR "invalid
      // length of startup packet"): what a client sends when it gives up before startup (node-postgres
      // connect() then end() sends a Terminate first), or a port scanner. Other malformed startup packets get
      // their FATAL, as from PostgreSQL.
      log.debug('client closed before startup', { error: err.message });
      return close();
    }
    ctx.metrics.errors.inc({ kind: 'protocol' });
    log.warn('protocol violation', { error: (err as Error).message });
    fatal(err instanceof ProtocolError ? fromProtocolError(err) : protocolViolation((err as Error).message));
  }

  function close(): void {
    if (phase === 'closed') return;
    const wasReady = phase === 'ready';
    phase = 'closed';
    clearTimeout(authTimer);
    if (expiryTimer) clearTimeout(expiryTimer);
    pipeline?.withdraw();
    flushUpstream(); // messages forwarded before the end (e.g. before Terminate) still reach the upstream
    upstream?.close();
    socket.end();
    socket.destroySoon?.();
    ctx.sessions.delete(handle);
    ctx.postgresSessions.delete(handle);
    ctx.metrics.sessions.dec();
    if (wasReady) {
      log.info('session ended', { user: identity?.username });
      pipeline?.end(endReason);
    }
  }

  /** Appends an event without waiting (the pipeline session records; before it exists there is nothing to record). */
  function record(event: EvidenceEvent): void {
    pipeline?.record(event);
  }

  // Synchronous unless a message needs a wait (authentication, approval): an async function here cost a
  // promise, its microtask and the unhandled-rejection bookkeeping per client chunk (~1 µs, perf).
  function pump(): void {
    if (pumping) return;
    pumping = true;
    batching = true;
    let pending: Promise<void> | void = undefined;
    try {
      while (phase !== 'closed') {
        let msg: FrontendMessage | null;
        try {
          msg = reader.next();
        } catch (err) {
          flushUpstream(); // what came before the bad message still runs, as PostgreSQL would have run it
          protocolFailure(err);
          break;
        }
        if (!msg) break;
        pending = onMessage(msg);
        if (pending) break;
      }
    } catch (err) {
      pending = undefined;
      internalFailure(err);
    } finally {
      batching = false;
      flushUpstream(); // and a wait must not hold back what came before it
    }
    if (!pending) {
      pumping = false;
      return;
    }
    pending.then(
      () => {
        pumping = false;
        pump();
      },
      (err: unknown) => {
        pumping = false;
        internalFailure(err);
      },
    );
  }

  function internalFailure(err: unknown): void {
    ctx.metrics.errors.inc({ kind: 'internal' });
    log.error('session failed', { error: (err as Error).message, stack: (err as Error).stack });
    fatal(internalError());
  }

  function onMessage(msg: FrontendMessage): Promise<void> | void {
    switch (phase) {
      case 'startup':
        return onStartupPhase(msg);
      case 'auth':
        if (msg.type !== 'password') return fatal(protocolViolation(`expected the password (token) message, got ${msg.type}`));
        return authenticate(msg.text);
      case 'ready':
        return onReady(msg);
      default:
        return;
    }
  }

  function onStartupPhase(msg: FrontendMessage): Promise<void> | void {
    switch (msg.type) {
      case 'sslRequest': {
        if (!ctx.tls || tlsActive) return void socket.write(writer.sslResponse(false).flush());
        // Bytes after SSLRequest but before the handshake would be read as plaintext (CVE-2021-23214).
        if (reader.buffered > 0) return fatal(protocolViolation('unexpected data after SSLRequest'));
        socket.write(writer.sslResponse(true).flush());
        rawSocket.removeListener('data', onClientData);
        const secure = new tls.TLSSocket(rawSocket, { isServer: true, secureContext: ctx.tls });
        secure.setNoDelay?.(true);
        secure.on('secure', () => (tlsActive = true));
        socket = secure;
        attach(secure);
        return;
      }
      case 'gssEncRequest':
        return void socket.write(writer.gssEncResponse(false).flush());
      case 'cancelRequest': {
        ctx.cancel(msg.processId, msg.secretKey);
        return close();
      }
      case 'startup':
        return onStartup(msg);
      default:
        return fatal(protocolViolation(`unexpected ${msg.type} message before startup`));
    }
  }

  function onStartup(msg: StartupMessage): void {
    startup = msg;
    const replication = msg.parameters.get('replication');
    if (replication && !['false', 'off', 'no', '0'].includes(replication.toLowerCase())) {
      return fatal(featureNotSupported('replication connections are not supported through Verdict'));
    }
    const target = ctx.config.upstreams[msg.database];
    if (!target) {
      return fatal(invalidCatalogName(`database "${msg.database}" is not served by this gateway`, `connect to one of: ${Object.keys(ctx.config.upstreams).join(', ')}`));
    }
    if (!tlsActive && !loopback && ctx.config.tls.require_for_tokens) {
      return fatal(invalidAuthorization('Verdict accepts tokens only over TLS; connect with sslmode=require'));
    }
    upstreamName = msg.database;
    phase = 'auth';
    socket.write(writer.authenticationCleartextPassword().flush());
  }

  async function authenticate(token: string): Promise<void> {
    const start = startup!;
    try {
      identity = await ctx.validator.verify(token, start.user);
    } catch (err) {
      ctx.metrics.sessionsTotal.inc({ outcome: 'rejected' });
      const message = err instanceof IdentityError ? err.clientMessage : 'the token could not be verified';
      log.info('authentication failed', { user: start.user, reason: err instanceof IdentityError ? err.code : 'error' });
      return fatal(invalidAuthorization(message));
    }
    if (phase === 'closed') return;
    // The client has authenticated: from here on the wait is the upstream's, with its own connect timeout.
    clearTimeout(authTimer);
    const target = ctx.config.upstreams[upstreamName]!;
    const engine = ctx.engine(upstreamName);
    const settings = startupSettings(start.parameters, engine.startupParameters, engine.revision !== null);
    if (!settings.ok) {
      ctx.metrics.sessionsTotal.inc({ outcome: 'rejected' });
      log.info('startup parameter refused', { user: identity.username, reason: settings.error.message });
      return fatal(settings.error);
    }
    try {
      upstream = await ctx.connect(upstreamName, settings.parameters, roleFor(ctx.config.identity.role_by_group, identity.groups));
    } catch (err) {
      ctx.metrics.errors.inc({ kind: 'upstream_connect' });
      log.error('upstream connection failed', { upstream: upstreamName, error: (err as Error).message, code: (err as UpstreamError).code });
      return fatal(upstreamConnectError(err, settings.parameters));
    }
    if ((phase as string) === 'closed') return upstream.close();
    try {
      for (const [k, v] of upstream.parameters) model.parameterStatus(k, v);
    } catch (err) {
      log.error('upstream session settings refused', { upstream: upstreamName, error: (err as Error).message });
      upstream.close();
      return fatal(connectionFailure(`the upstream database "${upstreamName}" starts sessions with settings Verdict cannot check statements under (${(err as Error).message}); ask the operator to fix the database or role defaults`));
    }
    clearTimeout(authTimer);
    ctx.metrics.sessionsTotal.inc({ outcome: 'accepted' });
    pipeline = new PipelineSession(ctx, {
      identity,
      upstream: upstreamName,
      database: target.database,
      frontDoor: 'postgres',
      clientAddr: rawSocket.remoteAddress ?? null,
      applicationName: start.parameters.get('application_name') ?? null,
      tls: tlsActive,
      refusalCode: SqlState.InsufficientPrivilege,
      holdTimeoutSeconds: ctx.config.approvals.hold_timeout_seconds,
      purpose: sessionPurpose(start.parameters, identity),
    });
    // Just-in-time access: the session lasts as long as the token.
    const ms = identity.expiresAt.getTime() - Date.now();
    expiryTimer = setTimeout(
      () => fatal(invalidAuthorization(`your token expired at ${identity!.expiresAt.toISOString()}; reconnect with a new token`)),
      Math.max(0, Math.min(ms, 2 ** 31 - 1)),
    );
    writer.authenticationOk();
    for (const [k, v] of upstream.parameters) writer.parameterStatus(k, v);
    writer.backendKeyData(gatewayKey.processId, gatewayKey.secretKey).readyForQuery('I');
    socket.write(writer.flush());
    phase = 'ready';
    log.info('session started', { user: identity.username, sub: identity.sub, groups: identity.groups, upstream: upstreamName, tls: tlsActive });
    pipeline.start();
    gate = openCatalogGate();

    const up = upstream.socket;
    up.on('data', (chunk: Buffer) => {
      let out: Buffer;
      try {
        out = tracker.transform(chunk);
      } catch (err) {
        return upstreamFailure(err);
      }
      send(out);
      if (tracker.heldBytes > HOLD_BYTES) up.pause(); // resumed by release() or dropHeld()
      if (tracker.lostSync) {
        endReason = 'terminated: 08P01 (a non-COPY message in copy-in mode)';
        return close();
      }
      if (terminating && tracker.idle) close();
    });
    up.on('drain', () => socket.resume());
    up.on('error', (err) => log.warn('upstream socket error', { error: err.message }));
    up.on('close', () => {
      if (terminating) close();
      else if (phase !== 'closed') fatal(adminShutdown('the upstream database closed the connection'));
    });
    if (upstream.leftover.length) {
      try {
        send(tracker.transform(upstream.leftover));
      } catch (err) {
        return upstreamFailure(err);
      }
    }
    up.resume();
  }

  /**
   * What the client is told when the upstream session could not be opened: the server's own error when it
   * refused a setting the client asked for (22023 invalid value, 42501 not permitted), as it would be told
   * directly; else 08006 naming the upstream and why, never the gateway's credentials or its role.
   */
  function upstreamConnectError(err: unknown, asked: Readonly<Record<string, string>>): ErrorFields {
    if (err instanceof UpstreamError && err.code === 'SERVER_ERROR' && err.sqlstate && /^(22|42)/.test(err.sqlstate)) {
      const server = err.cause as { message?: string; hint?: string } | undefined;
      const parameter = /parameter "([^"]+)"/.exec(server?.message ?? '')?.[1]?.toLowerCase();
      if (server?.message && parameter !== undefined && Object.hasOwn(asked, parameter)) {
        return { severity: 'FATAL', code: err.sqlstate, message: server.message, ...(server.hint ? { hint: server.hint } : {}) };
      }
    }
    const why = err instanceof UpstreamError && err.code === 'TIMEOUT' ? `it did not answer within ${ctx.config.upstreams[upstreamName]!.connect_timeout_ms} ms` : 'try again later';
    return connectionFailure(`the gateway could not connect to the upstream database "${upstreamName}": ${why}`);
  }

  /**
   * The upstream's answer could not be attributed (SessionModelBreach) or framed: the session ends, nothing
   * of that chunk reaches the client, and the breach is recorded.
   */
  function upstreamFailure(err: unknown): void {
    if (err instanceof SessionModelBreach) {
      ctx.metrics.errors.inc({ kind: 'session_model' });
      log.error('session model breach: session ended', { reason: err.message, user: identity?.username });
      record({ type: 'session_breach', data: { session_id: pipeline?.id ?? '', reason: err.message } });
      return fatal(sessionDesynchronized(err.message));
    }
    log.error('upstream stream failed', { error: (err as Error).message });
    return fatal(connectionFailure('the upstream sent a malformed message; the session was closed'));
  }

  // ---- ready: every statement decided -----------------------------------------------------------

  function decide(sql: string, approval: ApprovalInput | null = null, blastRadius: readonly (BlastRadius | null)[] | null = null): Verdict {
    return pipeline!.decide(sql, approval, blastRadius);
  }

  /** Records each statement's decision; with require_durable the statement may run only once the promise resolves. */
  function recordDecisions(verdict: Verdict, approval: { request_id: string; approved_by: string[] } | null = null): Promise<void> | null {
    return pipeline!.recordDecisions(verdict, approval);
  }

  function recordResult(verdict: Verdict, start: number, tags: readonly string[], sqlstate: string | null, refused = false): void {
    pipeline?.recordResult(verdict, start, tags, sqlstate, refused);
  }

  /** The purpose of use: `options=-c verdict.purpose=…` at startup, else the token's purpose claim. */
  function sessionPurpose(parameters: ReadonlyMap<string, string>, who: { claims?: Record<string, unknown> }): string | null {
    return purposeFromStartupOptions(parameters.get('options')) ?? purposeFromClaims(who.claims);
  }

  function recordParameters(verdict: Verdict, index: number, bind: { params: readonly (Buffer | null)[]; paramFormats: readonly number[] }): string | undefined {
    return pipeline?.recordParameters(verdict, index, bind.params, bind.paramFormats);
  }

  function recordExecution(ref: DecisionRef | null, start: number, tag: string | null, sqlstate: string | null, refused = false): void {
    pipeline?.recordExecution(ref, start, tag, sqlstate, refused);
  }

  /** A refusal without a policy decision (FunctionCall, unknown portal): recorded; returns its decision id. */
  function recordRefusal(text: string, rule: string, message: string): string {
    return pipeline?.recordRefusal(text, rule, message) ?? randomUUID();
  }

  /** Runs `then` once the decision is durable; a spool that cannot be written refuses the statement. */
  function afterRecorded(pending: Promise<void> | null, refuse: (bytes: Buffer) => void, then: () => void): Promise<void> | void {
    if (!pending) return then();
    return pending.then(then, (err: Error) => {
      ctx.metrics.errors.inc({ kind: 'evidence' });
      log.error('evidence not durable: statement refused', { error: err.message });
      refuse(writer.errorResponse(evidenceUnavailable()).flush());
    });
  }

  function denialBytes(decision: Decision, message?: string, code = '42501'): Buffer {
    const reason = decision.reasons.find((r) => r.rule !== 'verdict.allow') ?? decision.reasons[0];
    const text = message ?? `Verdict denied this statement: ${reason ? `${reason.message} [${reason.rule}]` : 'denied by policy'}`;
    return writer
      .errorResponse({ ...insufficientPrivilege(text, `decision ${decision.decision_id}, policy ${decision.policy_revision}`), code })
      .flush();
  }

  function deniedDecision(verdict: Verdict): Decision {
    return verdict.decisions.find((d) => d.action === 'deny') ?? verdict.decisions[0]!;
  }

  function onReady(msg: FrontendMessage): Promise<void> | void {
    if (terminating) return; // after Terminate the server reads nothing more, and neither does the gateway
    if (confirming !== null) {
      // A Bind's answer is held for its check: its own Execute, Describe and Flush go on; its Sync goes, then
      // the session waits; anything else waits first.
      if (msg.type === 'sync') {
        syncWhileConfirming = true;
        tracker.push({ type: 'sync', sent: performance.now() });
        sendToUpstream(msg.raw);
        return confirming;
      }
      if (msg.type !== 'execute' && msg.type !== 'describe' && msg.type !== 'flush') {
        const c = confirming;
        return c.then(() => onReady(msg));
      }
    }
    // While the server is in copy-in mode it reads only CopyData / CopyDone / CopyFail and ignores Sync and
    // Flush; any other message ends the COPY with an error and is consumed (protocol-flow.html, "COPY Operations").
    if (tracker.copyIn) return onCopyIn(msg);
    if (measuredBind !== null && msg.type !== 'execute' && msg.type !== 'flush' && !(msg.type === 'describe' && msg.target === 'P' && msg.name === measuredBind)) measuredBind = null;
    switch (msg.type) {
      case 'query':
        return onQuery(msg.sql, msg.raw);
      case 'parse': {
        if (isReservedName(msg.statement)) return refuseParse(msg.statement, null, `the name "${msg.statement}" is reserved by the gateway`);
        const verdict = decide(msg.sql);
        if (verdict.action === 'deny' && holdsNoStatement(verdict)) {
          // Parse of '' (JDBC's Connection.isValid()): nothing to judge; the server answers its Execute with EmptyQueryResponse.
          tracker.push({ type: 'parse', name: msg.statement, entry: { verdict, index: 0, sql: '', source: 'protocol', empty: true } });
          return sendToUpstream(msg.raw);
        }
        const problem = verdict.action === 'deny' ? null : copyWithMasks(verdict) ? maskedCopyMessage : model.refusal(verdict, pendingNames, { deferNames: true });
        if (verdict.action === 'deny' || problem) {
          logDecision(verdict, 'parse');
          return refuseParse(msg.statement, verdict, problem);
        }
        if (gatePassed !== msg) {
          gateProtocol = 'extended';
          const wait = gate!.beforePrepare(verdict, msg.sql);
          if (wait) {
            const held = heldCopy(msg);
            return afterGate(wait, msg.sql, (bytes) => {
              tracker.push({ type: 'parse', name: msg.statement, entry: null, denial: { bytes } });
              sendToUpstream(parseMessage(msg.statement, STAND_IN));
            }, () => ((gatePassed = held), onReady(held)));
          }
        } else gate!.passed(verdict);
        gatePassed = null;
        logDecision(verdict, 'parse');
        const entry: StatementEntry = { verdict, index: 0, sql: msg.sql, source: 'protocol', paramTypes: msg.paramTypes };
        const raw = Buffer.from(msg.raw); // kept past a possible wait for evidence
        const standIn = (bytes: Buffer) => {
          tracker.push({ type: 'parse', name: msg.statement, entry: null, denial: { bytes } });
          sendToUpstream(parseMessage(msg.statement, STAND_IN));
        };
        return afterRecorded(recordDecisions(verdict), standIn, () => {
          tracker.push({ type: 'parse', name: msg.statement, entry });
          sendToUpstream(raw);
        });
      }
      case 'bind': {
        const standIn = (bytes: Buffer) => {
          tracker.push({ type: 'bind', portal: msg.portal, entry: null, denial: { bytes } });
          sendToUpstream(bindMessage(msg.portal, STAND_IN));
        };
        if (isReservedName(msg.portal) || isReservedName(msg.statement)) {
          return standIn(writer.errorResponse(insufficientPrivilege(`Verdict denied this Bind: the name "${isReservedName(msg.portal) ? msg.portal : msg.statement}" is reserved by the gateway`)).flush());
        }
        const stmt = statementFor(msg.statement);
        if (!stmt) {
          // Not prepared through the gateway (or its Parse was refused or failed): nothing to judge it by.
          recordRefusal(`Bind of prepared statement "${msg.statement}"`, 'session.unknown_statement', 'prepared statement not known to the gateway');
          return standIn(
            writer.errorResponse(insufficientPrivilege(`Verdict denied this Bind: prepared statement "${msg.statement}" was not prepared through Verdict in this session`)).flush(),
          );
        }
        if (stmt.empty) {
          const entry: PortalEntry = { verdict: stmt.verdict, index: 0, plan: null, scrub: false, cursor: false, holdable: false, uncommitted: false, empty: true };
          tracker.push({ type: 'bind', portal: msg.portal, entry, from: msg.statement, statement: stmt });
          return sendToUpstream(msg.raw);
        }
        if (gatePassed !== msg) {
          gateProtocol = 'extended';
          const wait = gate!.beforeBind(stmt.verdict, stmt.index, stmt.sql, clientDataAt);
          if (wait && stmt.source === 'protocol' && mayRunUnconfirmed(stmt.verdict)) {
            // A read: bound and executed at once, its answer held until the check has passed (runUnconfirmed).
            pendingCheck = wait;
          } else if (wait) {
            const held = heldCopy(msg);
            return afterGate(wait, stmt.sql, standIn, () => ((gatePassed = held), onReady(held)));
          }
        }
        gatePassed = null;
        const executes = executedStatement(stmt.verdict.statements[stmt.index]!);
        if (stmt.source === 'sql' && (executes.kind === 'update' || executes.kind === 'delete' || executes.kind === 'merge' || executes.on_conflict === 'update')) {
          // A PREPARE ran nothing and was measured for nothing; its executions would escape the blast radius.
          recordExecution(stmt, Date.now(), null, null, true);
          return standIn(denialBytes(stmt.verdict.decisions[stmt.index]!, `Verdict denied this Bind: prepared statement "${msg.statement}" (SQL PREPARE) writes rows, and how many must be measured with each execution's values; prepare it with a protocol Parse, or run the statement directly`));
        }
        // A denied statement runs nothing upstream, not even its measuring count.
        if (stmt.verdict.decisions[stmt.index]!.measure.length > 0 && stmt.verdict.decisions[stmt.index]!.action !== 'deny') {
          // How many rows this execution would change depends on its parameters: measured with them, now.
          const held = heldCopy(msg) as typeof msg;
          return measureThenDecide(stmt.sql, stmt.verdict, { bind: held, paramTypes: stmt.paramTypes ?? [] }).then((measured) => {
            if (measured === null) return;
            if (measured === SKIPPED) {
              // The server is skipping to Sync after an earlier error: this Bind gets no answer either way.
              tracker.push({ type: 'bind', portal: held.portal, entry: null });
              return sendToUpstream(held.raw);
            }
            const final = { ...stmt, verdict: measured, index: 0 };
            if (measured.action === 'approve') return onBound(held, final, standIn, stmt, true);
            return afterRecorded(recordDecisions(measured), standIn, () => onBound(held, final, standIn, stmt, true));
          });
        }
        return onBound(msg, stmt, standIn, stmt, false);
      }
      case 'describe':
        tracker.push({ type: 'describe', target: msg.target, name: msg.name });
        return sendToUpstream(msg.raw);
      case 'execute': {
        // The portal this Execute runs: the newest Bind of it still unanswered, else the confirmed one.
        const bound = portalEntryFor(msg.portal);
        if (bound === null && !pendingNames().portals.has(msg.portal)) {
          // A portal the gateway did not see bound (opened by a function, or its Bind was refused or failed).
          const decisionId = recordRefusal(`Execute of portal "${msg.portal}"`, 'session.unknown_portal', 'portal not known to the gateway');
          const bytes = writer
            .errorResponse(insufficientPrivilege(`Verdict denied this Execute: portal "${msg.portal}" was not bound through Verdict in this session, so its rows cannot be checked`, `decision ${decisionId}`))
            .flush();
          tracker.push({ type: 'execute', portal: STAND_IN, denial: { bytes } });
          return sendToUpstream(executeMessage(STAND_IN));
        }
        if (bound?.empty) {
          tracker.push({ type: 'execute', portal: msg.portal }); // EmptyQueryResponse: nothing runs, nothing to record
          return sendToUpstream(msg.raw);
        }
        // FETCH / MOVE / EXECUTE prepared with Parse: the object they name is checked now, as they run.
        const runs = bound && !bound.cursor ? executedStatement(bound.verdict.statements[bound.index]!) : null;
        const problem = runs ? model.executionProblem(runs, pendingNames) : null;
        if (problem) {
          const decision = bound!.verdict.decisions[bound!.index]!;
          recordExecution(bound!, Date.now(), null, null, true);
          tracker.push({ type: 'execute', portal: STAND_IN, denial: { bytes: denialBytes(decision, problem) } });
          return sendToUpstream(executeMessage(STAND_IN));
        }
        if (bound?.measured && measuredBind !== msg.portal) {
          // Measured at its Bind; other messages since could have changed what it would touch.
          recordExecution(bound, Date.now(), null, null, true);
          tracker.push({ type: 'execute', portal: STAND_IN, denial: { bytes: denialBytes(bound.verdict.decisions[bound.index]!, 'Verdict denied this Execute: a write measured at its Bind must be executed right after it (only a Describe of its portal between), and once') } });
          return sendToUpstream(executeMessage(STAND_IN));
        }
        measuredBind = null;
        const unit: ExecuteUnit = { type: 'execute', portal: msg.portal };
        // Every execution is evidence: its result refers to the decision that admitted the portal.
        if (ctx.evidence) {
          const started = Date.now();
          unit.onDone = (rows, tag, sqlstate) => {
            recordExecution(rows?.ref ?? null, started, tag, sqlstate);
            const digest = tracker.takeDigest();
            const ref = rows?.ref;
            // A cursor's FETCH is recorded under the decision that declared it, like its result.
            if (ref) pipeline?.recordResponseDigest(ref.verdict, ref.index, digest, ref.execution);
          };
        }
        tracker.push(unit);
        sendToUpstream(msg.raw);
        if (runs !== null && (runs.copy !== null || runs.command === 'EXECUTE') && copiesIn(runs)) {
          return awaitServer(() => tracker.copyIn || !tracker.units.includes(unit));
        }
        return;
      }
      case 'close':
        tracker.push({ type: 'close', target: msg.target, name: msg.name });
        return sendToUpstream(msg.raw);
      case 'sync':
        tracker.push({ type: 'sync', sent: performance.now() });
        return sendToUpstream(msg.raw);
      case 'flush':
        return sendToUpstream(msg.raw);
      case 'copyData':
      case 'copyDone':
      case 'copyFail':
        return; // outside copy-in mode the server ignores them (postgres.c); so does the gateway
      case 'functionCall': {
        // The fast-path function call bypasses SQL entirely: nothing to analyze, so it is refused.
        const oid = msg.raw.length >= 9 ? msg.raw.readUInt32BE(5) : 0;
        const decisionId = recordRefusal(`FunctionCall (function OID ${oid})`, 'session.function_call', 'the FunctionCall message bypasses SQL analysis');
        const bytes = writer
          .errorResponse(insufficientPrivilege('Verdict denied a FunctionCall message: call functions with SQL so the policy can see them', `decision ${decisionId}`))
          .flush();
        tracker.push({ type: 'query', verdict: null, own: [], denial: { bytes } });
        return sendToUpstream(queryMessage(STAND_IN));
      }
      case 'terminate':
        return onTerminate(msg.raw);
      default:
        return fatal(protocolViolation(`unexpected ${msg.type} message`));
    }
  }

  /** The session's catalog gate: decides again with the engine in force, asks its own connection about temporary tables. */
  function openCatalogGate(): CatalogGate {
    const access = ctx.relationCatalog(upstreamName);
    const g = catalogGate({ access, decide: (sql) => decide(sql), resolve: resolveRelations });
    tracker.knownOrigin = (tableOid, attnum) => g.knownOrigin(tableOid, attnum);
    tracker.onUnknownOrigin = (tableOid) => {
      log.warn('a result column comes from a relation the catalog does not know: its values were sent as NULL, and the catalog is re-read', { user: identity?.username, table_oid: tableOid });
      void access.refresh(Date.now());
    };
    return g;
  }

  /**
   * How `relations` resolve on this session's connection (it sees the session's temporary tables). Waits for the
   * server to answer what came before; rejects in a failed transaction, or while the server skips to Sync.
   */
  async function resolveRelations(relations: readonly string[], functions: readonly string[]): Promise<ReadonlyMap<string, Resolved | null>> {
    sendToUpstream(FLUSH);
    flushUpstream();
    await untilIdle();
    if (tracker.status === 'E') throw new FailedTransaction('the transaction is aborted');
    if (phase === 'closed' || tracker.ignoringTillSync) throw new Error('the session cannot run queries now');
    const sql = resolveSql(relations, functions);
    const name = `${RESERVED_PREFIX}catalog_${++measureSeq}`;
    // In a simple-protocol session a Query of its own; between extended messages, messages ended by Flush (not Sync).
    const unit = gateProtocol === 'simple'
      ? await runInternal(queryMessage(sql), 'ready')
      : await runInternal(Buffer.concat([parseMessage(name, sql), bindMessage(name, name), executeMessage(name), closeMessage('S', name), closeMessage('P', name), FLUSH]), 5);
    if (unit.error) throw new Error(`the lookup failed (SQLSTATE ${errorCode(unit.error, 0, unit.error.length)})`);
    return new Map(unit.rows.map(([relation, oid, temporary]) => [relation!, oid === null ? null : { oid: Number(oid), temporary: temporary === 'true' }]));
  }

  /** Goes on once the gate has passed; else the statement is refused (recorded under UNCATALOGED_RULE). */
  function afterGate(wait: Promise<Refusal | null>, sql: string, refuse: (bytes: Buffer) => void, then: () => Promise<void> | void): Promise<void> {
    return wait.then((refusal) => {
      if (phase === 'closed') return;
      if (refusal === null) return then();
      const decisionId = recordRefusal(sql, UNCATALOGED_RULE, refusal.message);
      log.info('statement refused: a relation it reads is not in the catalog as loaded', { user: identity?.username, decision_id: decisionId, code: refusal.code, reason: refusal.message });
      // What PostgreSQL would say (no such relation, a failed transaction) in its words; else the denial.
      const fields = refusal.code === '42501'
        ? insufficientPrivilege(`Verdict denied this statement: ${refusal.message} [${UNCATALOGED_RULE}]`, `decision ${decisionId}`)
        : ({ severity: 'ERROR', code: refusal.code, message: refusal.message } as const);
      refuse(writer.errorResponse(fields).flush());
    });
  }

  /**
   * Measures what the policy asked for (decision.measure: the blast radius of a write, a count over the same
   * target and predicate run just before it, in this session) and decides again with the measurement in the
   * input. Resolves to the final verdict; null when the statement was answered already (the measuring count
   * failed, and its error is the statement's answer); SKIPPED when the server skips to Sync anyway.
   */
  async function measureThenDecide(sql: string, first: Verdict, extended: { bind: Extract<FrontendMessage, { type: 'bind' }>; paramTypes: readonly number[] } | null): Promise<Verdict | null | typeof SKIPPED> {
    let skipped = false;
    const verdict = await pipeline!.measure(sql, first, async (m): Promise<Counted | null> => {
      sendToUpstream(FLUSH);
      flushUpstream();
      await untilIdle();
      if (phase === 'closed') return null;
      if (tracker.ignoringTillSync) {
        skipped = true;
        return null;
      }
      if (tracker.status === 'E') return { unmeasurable: 'the transaction is aborted; end it with ROLLBACK first' };
      const started = Date.now();
      const unit = extended
        ? await runInternal(measuringMessages(m.sql, m.params, extended.bind, extended.paramTypes), 5)
        : await runInternal(queryMessage(m.sql), 'ready');
      if ((phase as string) === 'closed') return null;
      if (unit.error) {
        // The count failed where the write would have (the same target and predicate): that is its answer.
        const masked = first.decisions.some((d) => d.masks.length > 0);
        send(masked ? scrubbed(unit.error, 0, unit.error.length) : unit.error);
        if (!extended) send(writer.readyForQuery(tracker.status).flush());
        recordDecisions(first)?.catch(() => undefined);
        recordResult(first, started, [], errorCode(unit.error, 0, unit.error.length));
        log.info('blast radius measurement failed: the statement fails with its error', { user: identity?.username, sqlstate: errorCode(unit.error, 0, unit.error.length) });
        return null;
      }
      return countedFrom(unit.rows[0]);
    });
    return skipped ? SKIPPED : verdict;
  }

  /** Runs the gateway's own query on the session's upstream connection; its answers never reach the client. */
  function runInternal(bytes: Buffer, until: 'ready' | number): Promise<InternalUnit> {
    return new Promise((resolve) => {
      tracker.push({ type: 'internal', until, rows: [], error: null, onDone: resolve });
      sendToUpstream(bytes);
      flushUpstream();
    });
  }

  /**
   * The measuring count as extended-protocol messages under a name of the gateway's own, with the client's
   * parameter values, ended by Flush (not Sync: the client's batch, and its implicit transaction, go on).
   */
  function measuringMessages(sql: string, used: readonly number[], bind: Extract<FrontendMessage, { type: 'bind' }>, paramTypes: readonly number[]): Buffer {
    const name = `${RESERVED_PREFIX}measure_${++measureSeq}`;
    // Parameters the count does not use (a SET value) need a type of their own: one that accepts any value in
    // its format (text for text, bytea for binary). The others keep the client's type, or are inferred as the
    // write infers them.
    const types = bind.params.map((_, i) => {
      const given = paramTypes[i] ?? 0;
      if (given !== 0 || used.includes(i + 1)) return given;
      return paramFormat(bind, i) === 1 ? 17 : 25;
    });
    return Buffer.concat([
      parseMessage(name, sql, types),
      bindMessage(name, name, bind.paramFormats, bind.params),
      executeMessage(name),
      closeMessage('S', name),
      closeMessage('P', name),
      FLUSH,
    ]);
  }

  /** A Bind of a known statement under its final decision: approval, or forwarded with its portal's plan. */
  function onBound(
    msg: Extract<FrontendMessage, { type: 'bind' }>,
    stmt: StatementEntry,
    standIn: (bytes: Buffer) => void,
    /** The statement the server will bind (stmt is it, or it re-decided with measured facts). */
    bound: StatementEntry,
    measured: boolean,
  ): Promise<void> | void {
    // resultFormats is a fresh array per decoded Bind, so the plan can keep it without a copy.
    const analysis = stmt.verdict.statements[stmt.index]!;
    const decision = stmt.verdict.decisions[stmt.index]!;
    if (decision.action === 'deny' || decision.measure.length > 0) {
      recordExecution(stmt, Date.now(), null, null, true);
      return standIn(denialBytes(decision.action === 'deny' ? decision : deniedDecision(stmt.verdict), decision.action === 'deny' ? undefined : 'Verdict denied this statement: the policy asked again for a measurement it was given'));
    }
    const plan = rowPlan(analysis, decision, msg.resultFormats);
    const entry: PortalEntry = {
      verdict: stmt.verdict,
      index: stmt.index,
      // Every execution with its parameters (raw, or keyed-hashed where they meet PHI), before it runs.
      ...(decision.action === 'approve' ? {} : { execution: recordParameters(stmt.verdict, stmt.index, msg) }),
      plan,
      scrub: plan !== null || decision.masks.length > 0,
      cursor: false,
      holdable: false,
      uncommitted: false,
      measured,
    };
    if (decision.action === 'approve') {
      const params = msg.params.map((p) => (p === null ? null : p.toString('utf8')));
      const raw = Buffer.from(msg.raw); // kept across the wait for approval
      const bind = { params: msg.params.map((p) => (p === null ? null : Buffer.from(p))), paramFormats: [...msg.paramFormats] };
      return approveThenSend(stmt.sql, params, stmt.verdict, (v, ref) =>
        afterRecorded(recordDecisions(v, ref), standIn, () => {
          tracker.push({ type: 'bind', portal: msg.portal, entry: { ...entry, verdict: v, execution: recordParameters(v, entry.index, bind) }, from: msg.statement, statement: bound });
          sendToUpstream(raw);
          if (measured) measuredBind = msg.portal;
        }),
        standIn,
      );
    }
    const check = pendingCheck;
    pendingCheck = null;
    const unit: Extract<Unit, { type: 'bind' }> = { type: 'bind', portal: msg.portal, entry, from: msg.statement, statement: bound };
    if (ctx.evidence) unit.started = Date.now();
    if (check) unit.held = true;
    tracker.push(unit);
    sendToUpstream(msg.raw);
    if (check) confirmBind(check, stmt.sql, msg.portal);
    if (measured) measuredBind = msg.portal;
  }

  /** Client messages while the server is in copy-in mode. */
  function onCopyIn(msg: FrontendMessage): Promise<void> | void {
    const unit = tracker.units[0];
    const ends = tracker.copyEnds;
    // The COPY has ended (and, in a simple Query, another COPY FROM STDIN started or the Query finished).
    const copyOver = () => tracker.copyEnds > ends && (tracker.copyIn || !unit || !tracker.units.includes(unit));
    switch (msg.type) {
      case 'copyData':
        copyDataFor = tracker.copyStarts;
        return sendToUpstream(msg.raw);
      case 'flush':
        return sendToUpstream(msg.raw);
      case 'sync':
        // Before any data the server surely reads it in copy-in mode and ignores it (libpq sends one right after
        // the Execute of a COPY); after data it is ignored, or answered if the COPY already failed on that data:
        // the tracker resolves which.
        if (copyDataFor !== tracker.copyStarts) return;
        tracker.push({ type: 'sync', conditional: true });
        return sendToUpstream(msg.raw);
      case 'copyDone':
      case 'copyFail':
        sendToUpstream(msg.raw);
        tracker.copyIn = false; // the server leaves copy-in mode on this message
        return awaitServer(copyOver);
      case 'terminate':
        return onTerminate(msg.raw);
      default: {
        // PostgreSQL ends the COPY with an error and consumes this message — unless the COPY already failed
        // on its data, when it runs the message as usual. The gateway sends a CopyFail of its own and holds
        // the message until the server says which happened.
        tracker.copyAborted = msg.type === 'startup' ? 0 : (msg.raw[0] ?? 0);
        tracker.copyAbortConsumed = false;
        sendToUpstream(copyFailMessage(ResponseTracker.ABORT_MARKER));
        tracker.copyIn = false;
        const held = heldCopy(msg);
        const waiting = awaitServer(copyOver);
        const then = (): Promise<void> | void => {
          if (tracker.copyAbortConsumed) return;
          return onReady(held);
        };
        return waiting ? waiting.then(then) : then();
      }
    }
  }

  /** A message kept past a wait: its bytes (and a Bind's values) copied out of the reader's buffer, which moves on. */
  function heldCopy(msg: FrontendMessage): FrontendMessage {
    if (msg.type === 'bind') return { ...msg, raw: Buffer.from(msg.raw), params: msg.params.map((p) => (p === null ? null : Buffer.from(p))) };
    return { ...msg, raw: Buffer.from(msg.raw) } as FrontendMessage;
  }

  /**
   * Holds the client's next messages until the server has answered far enough that the gateway knows its
   * mode (did a COPY FROM STDIN start, did it end). A Flush makes the server send what it buffered.
   */
  function awaitServer(done: () => boolean): Promise<void> | void {
    sendToUpstream(FLUSH);
    flushUpstream();
    if (done()) return;
    return new Promise<void>((resolve) => {
      tracker.onProgress = () => {
        if (phase !== 'closed' && !done()) return;
        tracker.onProgress = null;
        resolve();
      };
    });
  }

  /** Terminate: what came before it still runs upstream; the session closes once the upstream has answered it. */
  function onTerminate(raw: Buffer): void {
    if (tracker.idle) return close();
    terminating = true;
    sendToUpstream(raw);
    flushUpstream();
    setTimeout(close, TERMINATE_GRACE_MS).unref();
  }

  /**
   * The prepared statement a Bind will bind, as the server will hold it when the Bind arrives: the confirmed
   * one, changed in order by the messages already forwarded and not yet answered. A named Parse defines only
   * a name that does not exist (PostgreSQL refuses to redefine one: 42P05); an unnamed Parse replaces the
   * unnamed statement (a refused one still drops it); Close and DEALLOCATE drop; PREPARE defines; a simple
   * Query drops the unnamed statement.
   */
  function statementFor(name: string): StatementEntry | null {
    let current: StatementEntry | null = model.statements.get(name) ?? null;
    for (const u of tracker.units) {
      if (u.type === 'parse' && u.name === name) {
        if (name === '' || current === null) current = u.entry;
      } else if (u.type === 'close' && u.target === 'S' && u.name === name) {
        current = null;
      } else if (u.type === 'query') {
        if (name === '') current = null;
        const st = u.verdict?.statements ?? [];
        for (let j = 0; j < st.length; j++) {
          const a = st[j]!;
          if (a.command === 'PREPARE' && a.name === name && current === null) current = { verdict: u.verdict!, index: j, sql: a.text, source: 'sql' };
          else if ((a.command === 'DEALLOCATE' && a.name === name) || a.command === 'DEALLOCATE ALL' || a.command === 'DISCARD ALL') current = null;
        }
      }
    }
    return current;
  }

  /** The portal an Execute will run: the newest Bind of it still unanswered, else the confirmed one. */
  function portalEntryFor(name: string): PortalEntry | null {
    const units = tracker.units;
    for (let i = units.length - 1; i >= 0; i--) {
      const u = units[i]!;
      if (u.type === 'bind' && u.portal === name) return u.entry;
    }
    return model.portals.get(name) ?? null;
  }

  function copiesIn(a: StatementAnalysis): boolean {
    const copy = model.copyOf(a);
    return copy !== null && copy.direction === 'from' && copy.target === 'stdin';
  }

  function pendingNames(): { statements: ReadonlySet<string>; portals: ReadonlySet<string> } {
    return tracker.pendingNames();
  }

  /** A refused Parse: a stand-in that fails to parse keeps the server's answers in order. */
  function refuseParse(name: string, verdict: Verdict | null, problem: string | null): void {
    let bytes: Buffer;
    if (verdict) {
      bytes = denialBytes(deniedDecision(verdict), problem ?? undefined);
      recordDecisions(verdict)?.catch(() => undefined);
      recordResult(verdict, Date.now(), [], null, true);
    } else {
      const decisionId = recordRefusal(`Parse of prepared statement "${name}"`, 'session.reserved_name', problem ?? 'reserved name');
      bytes = writer.errorResponse(insufficientPrivilege(`Verdict denied this Parse: ${problem ?? 'reserved name'}`, `decision ${decisionId}`)).flush();
    }
    tracker.push({ type: 'parse', name, entry: null, denial: { bytes } });
    sendToUpstream(parseMessage(name, STAND_IN));
  }

  function onQuery(sql: string, raw: Buffer): Promise<void> | void {
    if (/^[\s;]*$/.test(sql)) {
      tracker.push({ type: 'query', verdict: null, own: [] });
      return sendToUpstream(raw); // PostgreSQL answers EmptyQueryResponse
    }
    const first = decide(sql);
    if (first.action === 'deny' && holdsNoStatement(first)) {
      tracker.push({ type: 'query', verdict: null, own: [] });
      return sendToUpstream(raw); // only comments: PostgreSQL answers EmptyQueryResponse
    }
    if (gatePassed !== raw) {
      gateProtocol = 'simple';
      if (mayRunUnconfirmed(first)) return runUnconfirmed(sql, raw, first);
      const wait = gate!.beforeRun(first, sql);
      if (wait) {
        const kept = Buffer.from(raw); // kept past the check
        return afterGate(wait, sql, standInQuery, () => ((gatePassed = kept), onQuery(sql, kept)));
      }
    } else gate!.passed(first);
    gatePassed = null;
    // A denied statement runs nothing upstream, not even its measuring count.
    if (first.action !== 'deny' && first.decisions.some((d) => d.measure.length > 0)) {
      const kept = Buffer.from(raw); // kept past the measurement
      return measureThenDecide(sql, first, null).then((measured) => {
        if (measured === null) return;
        if (measured === SKIPPED) {
          // The server discards this Query (it skips to Sync after an extended-protocol error): no answer comes.
          tracker.push({ type: 'query', verdict: null, own: [] });
          return sendToUpstream(kept);
        }
        return decidedQuery(sql, kept, measured);
      });
    }
    return decidedQuery(sql, raw, first);
  }

  /** A simple Query whose decision is final (measured where the policy asked). */
  function decidedQuery(sql: string, raw: Buffer, verdict: Verdict): Promise<void> | void {
    logDecision(verdict, 'query');
    const started = Date.now();
    const problem = verdict.action === 'deny' ? null : copyWithMasks(verdict) ? maskedCopyMessage : model.refusal(verdict, pendingNames);
    if (verdict.action === 'deny' || problem) {
      const bytes = denialBytes(deniedDecision(verdict), problem ?? undefined);
      const pending = recordDecisions(verdict);
      pending?.catch(() => undefined); // a denial runs nothing: no need to wait for its evidence
      recordResult(verdict, started, [], null, true);
      return standInQuery(bytes);
    }
    if (verdict.action === 'approve') return approveThenSend(sql, [], verdict, (v, ref) => afterRecorded(recordDecisions(v, ref), standInQuery, () => forwardQuery(v, raw, started)));
    return afterRecorded(recordDecisions(verdict), standInQuery, () => forwardQuery(verdict, raw, started));
  }

  /**
   * Whether a statement may go upstream before its decision is durable and its catalog check has passed: an
   * allowed or masked read (side-effects.ts) of relations the catalog knows, with nothing to measure or approve.
   * Its answer is held until both are done (ResponseTracker.hold).
   */
  function mayRunUnconfirmed(v: Verdict): boolean {
    if (v.action !== 'allow' && v.action !== 'mask') return false;
    if (v.decisions.some((d) => d.measure.length > 0)) return false;
    if (tracker.copyIn || copyWithMasks(v) || model.refusal(v, pendingNames) !== null) return false;
    return gate!.mayRunUnconfirmed(v);
  }

  /**
   * A read sent at once while its decision is made durable and its catalog check runs: overlaps both waits with
   * the upstream's work (bench:gateway, simple protocol). The client gets its answer once both are done; if its
   * evidence cannot be made durable, the answer is dropped and the client gets the refusal it would have had;
   * if what it reads changed under it (and is now decided otherwise), the answer is dropped and it runs again.
   */
  function runUnconfirmed(sql: string, raw: Buffer, v: Verdict): Promise<void> {
    logDecision(v, 'query');
    const started = Date.now();
    const decidedOn = gate!.catalog();
    const durable = recordDecisions(v);
    const check = gate!.beforeRun(v, sql);
    const kept = Buffer.from(raw); // kept in case it must run again
    void forwardQuery(v, raw, started, true);
    const unit = tracker.units[tracker.units.length - 1];
    return Promise.all([durable, check]).then(
      ([, refusal]) => {
        if (phase === 'closed') return;
        if (refusal === null && (gate!.catalog() === decidedOn || sameVerdict(v, decide(sql)))) return release();
        return dropHeld(unit).then((dropped) => {
          if (!dropped) return;
          if (refusal !== null) return afterGate(Promise.resolve(refusal), sql, standInQuery, () => undefined);
          // Decided otherwise on the catalog as it is now: it runs again, decided and checked anew.
          gatePassed = kept;
          return onQuery(sql, kept);
        });
      },
      (err: Error) => {
        ctx.metrics.errors.inc({ kind: 'evidence' });
        log.error('evidence not durable: statement refused', { error: err.message });
        return dropHeld(unit).then((dropped) => {
          if (dropped) standInQuery(writer.errorResponse(evidenceUnavailable()).flush());
        });
      },
    );
  }

  /**
   * The check of a Bind sent before it passed (its Execute and Sync follow at once): the answers are released when
   * it passes; else dropped once complete, and the client gets the refusal as a failed Bind (and a Sync's answer,
   * when its Sync had been forwarded). Messages after that Sync wait for this (onReady).
   */
  function confirmBind(check: Promise<Refusal | null>, sql: string, portal: string): void {
    syncWhileConfirming = false;
    confirming = check
      .then(async (refusal) => {
        if (phase === 'closed') return;
        if (refusal === null) return release();
        if (!(await dropHeld(undefined))) return;
        const withSync = syncWhileConfirming;
        await afterGate(Promise.resolve(refusal), sql, (bytes) => {
          tracker.push({ type: 'bind', portal, entry: null, denial: { bytes } });
          sendToUpstream(bindMessage(portal, STAND_IN));
          if (withSync) tracker.push({ type: 'sync', sent: performance.now() });
          sendToUpstream(withSync ? SYNC : FLUSH);
        }, () => undefined);
      })
      .finally(() => {
        confirming = null;
      });
  }

  /** Sends what waited for a held unit's confirmation, and lets the upstream flow again. */
  function release(): void {
    send(tracker.release());
    if (phase !== 'closed') upstream?.socket.resume();
  }

  /**
   * Drops a held answer once it has come in full (so the client sees none of it). Answers larger than the hold
   * bound cannot be waited for (the upstream is paused): the session ends instead. Resolves false then.
   */
  async function dropHeld(unit: Unit | undefined): Promise<boolean> {
    void unit;
    await awaitServer(() => phase === 'closed' || tracker.idle || tracker.heldBytes > HOLD_BYTES);
    if (phase === 'closed') return false;
    if (!tracker.idle) {
      fatal(connectionFailure('Verdict could not confirm a statement whose answer had begun to arrive; the session was closed (nothing of the answer was sent)'));
      return false;
    }
    tracker.discardHeld();
    upstream?.socket.resume();
    return true;
  }

  function standInQuery(bytes: Buffer): void {
    tracker.push({ type: 'query', verdict: null, own: [], denial: { bytes } });
    sendToUpstream(queryMessage(STAND_IN));
  }

  // A top-level function, not a closure per Query: under tsx (esbuild keepNames) every named closure is wrapped
  // in __name(), an Object.defineProperty that gives each one a new hidden class (~1.5 µs/Query, perf).
  function forwardQuery(v: Verdict, raw: Buffer, started: number, held = false): Promise<void> | void {
    const own: Rows[] = [];
    let copyIn = false;
    for (let i = 0; i < v.statements.length; i++) {
      const a = v.statements[i]!;
      const d = v.decisions[i]!;
      const plan = rowPlan(a, d, TEXT_FORMATS);
      own.push(plan === null && d.masks.length === 0 ? { plan: null, scrub: false, ref: null } : { plan, scrub: true, ref: null });
      if (a.copy !== null ? a.copy.direction === 'from' && a.copy.target === 'stdin' : a.command === 'EXECUTE' && copiesIn(a)) copyIn = true;
    }
    if (v.decisions.some((d) => d.reasons.length > 1 && d.reasons.some((r) => r.rule === 'approvals.break_glass'))) pipeline!.breakGlass(v);
    const ddl = v.statements.some((st) => st.kind === 'ddl' || st.nested.some((n) => n.kind === 'ddl'));
    const unit: QueryUnit = { type: 'query', verdict: v, own, sent: performance.now(), held };
    if (ctx.evidence || ddl) {
      unit.onDone = (tags, sqlstate) => {
        if (ctx.evidence) {
          recordResult(v, started, tags, sqlstate);
          tracker.queryDigests.forEach((digest, i) => digest && pipeline?.recordResponseDigest(v, i, digest));
        }
        if (ddl && tags.length > 0) ctx.catalogChanged(upstreamName);
      };
    }
    tracker.push(unit);
    sendToUpstream(raw);
    if (copyIn) return awaitServer(() => tracker.copyIn || !tracker.units.includes(unit));
  }

  const maskedCopyMessage = 'Verdict denied this statement: COPY of columns that must be masked is not supported; SELECT the columns instead';

  function copyWithMasks(v: Verdict): boolean {
    return v.statements.some((s, i) => s.kind === 'copy' && v.decisions[i]!.masks.length > 0);
  }

  /** Hold or rerun: the statement runs only with a valid approval of exactly it; else the client gets why not. */
  /** Hold or rerun (the pipeline decides and records); the PostgreSQL side: the NOTICE, pausing the client, the refusal. */
  async function approveThenSend(
    sql: string,
    params: (string | null)[],
    verdict: Verdict,
    run: (v: Verdict, approval: { request_id: string; approved_by: string[] }) => void | Promise<void>,
    /** How a refusal is answered in the client's protocol: a stand-in Query, or a stand-in Bind that fails the batch. */
    refuse: (bytes: Buffer) => void = standInQuery,
  ): Promise<void> {
    const decision = verdict.decisions.find((d) => d.action === 'approve')!;
    const admission = await pipeline!.admit(sql, params, verdict, {
      waiting: async (info) => {
        // In the extended protocol the server keeps ParseComplete & co. until a Sync or Flush: without this Flush
        // the session would wait for answers that never come, and the NOTICE would reach the client only at timeout.
        sendToUpstream(FLUSH);
        flushUpstream();
        await untilIdle();
        socket.pause();
        send(
          writer
            .noticeResponse(notice(`Verdict: this statement needs approval (${info.reasons}). Waiting up to ${Math.round(info.waitSeconds / 60)} min for ${info.approvers.join(' or ')}.`, `request ${info.requestId}`, `approve it with: ${info.link}`))
            .flush(),
        );
      },
      done: () => {
        if (phase !== 'closed') socket.resume();
      },
    });
    if (phase === 'closed') return;
    if (admission.kind === 'run') {
      logDecision(admission.verdict, 'approved');
      return run(admission.verdict, admission.approval);
    }
    return refuse(denialBytes(decision, admission.message, admission.canceled ? SqlState.QueryCanceled : SqlState.InsufficientPrivilege));
  }

  function untilIdle(): Promise<void> {
    if (tracker.idle) return Promise.resolve();
    return new Promise((resolve) => {
      tracker.onIdle = () => {
        tracker.onIdle = null;
        resolve();
      };
    });
  }

  function rowPlan(analysis: StatementAnalysis | undefined, decision: Decision | undefined, formats: readonly number[]): RowPlan | null {
    const plan = maskPlan(analysis, decision, ctx.maskContext, ctx.originsOf(upstreamName));
    return plan && { ...plan, formats };
  }

  function logDecision(v: Verdict, via: string): void {
    if (!log.enabled('info')) return;
    for (const [i, d] of v.decisions.entries()) {
      log.info('decision', {
        via,
        user: identity?.username,
        action: d.action,
        rules: d.reasons.map((r) => r.rule),
        decision_id: d.decision_id,
        fingerprint: d.fingerprint,
        command: v.statements[i]?.command,
        cached: d.cached,
      });
    }
  }
}

