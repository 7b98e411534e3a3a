// The state of one client connection through the PostgreSQL front door, shared by the parts that handle it
// (session.ts: startup and authentication; session-query.ts, session-extended.ts, session-copy.ts: statements;
// session-gate.ts: measuring, approvals, the catalog check), and what they all do with it: write to either
// side, record evidence, wait for the server, hold or drop an answer, end the session.
import { randomBytes, randomUUID } from 'node:crypto';
import type net from 'node:net';
import type tls from 'node:tls';
import type { Verdict } from '../../engine/engine.ts';
import type { Decision } from '../../engine/decision/decision.ts';
import type { ApprovalInput } from '../../engine/policy/input.ts';
import type { BlastRadius, StatementAnalysis } from '../../engine/sql/types.ts';
import type { EvidenceEvent } from '../../engine/evidence/events.ts';
import type { VerifiedIdentity } from '../identity/validator.ts';
import {
  BackendWriter,
  FrontendReader,
  adminShutdown,
  connectionFailure,
  evidenceUnavailable,
  insufficientPrivilege,
  SqlState,
  type ErrorFields,
  type FrontendMessage,
  type StartupMessage,
} from './protocol/index.ts';
import { ResponseTracker } from './responses.ts';
import { pendingNames, type InternalUnit, type Unit } from './response-units.ts';
import type { RowPlan } from './row-plan.ts';
import { SessionModel, STAND_IN_NAME, type DecisionRef } from './session-model.ts';
import type { PostgresDoorContext, PostgresSessionHandle } from './context.ts';
import type { UpstreamConnection } from '../upstream/postgres/upstream.ts';
import { maskPlan } from '../pipeline/mask-plan.ts';
import type { PipelineSession } from '../pipeline/session.ts';
import type { DeliveredDigest } from '../pipeline/evidence-record.ts';
import { FLUSH, queryMessage } from '../upstream/postgres/frontend-messages.ts';
import type { CatalogGate, Refusal } from './catalog-gate.ts';

/** SQL that fails to parse upstream: stands in for a statement the gateway refused. */
export const STAND_IN = STAND_IN_NAME;

/**
 * How many bytes of a held answer (a read sent before its confirmation) the gateway buffers before it pauses the
 * upstream until the confirmation; a larger answer that must then be dropped ends the session instead.
 */
export const HOLD_BYTES = 1 << 20;

/** How long a Terminate waits for the upstream to answer what came before it. */
const TERMINATE_GRACE_MS = 5_000;

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/** What the parts call back into without importing it (no import circles): given by handleClient (session.ts). */
export interface SessionHandlers {
  /** Bytes from the client (session.ts). */
  data(s: PostgresSession, chunk: Buffer): void;
  /** A message of the ready phase (session-extended.ts `onReady`); a message kept past a wait goes back through it. */
  ready(s: PostgresSession, msg: FrontendMessage): Promise<void> | void;
}

let sessionSeq = 0;

/** One client connection: its state, as fields the parts share, and what they all do with it. */
export class PostgresSession {
  readonly id = ++sessionSeq;
  readonly log: PostgresDoorContext['log'];
  readonly reader: FrontendReader;
  readonly writer = new BackendWriter();
  readonly model: SessionModel;
  readonly tracker: ResponseTracker;
  readonly handle: PostgresSessionHandle;
  readonly gatewayKey = { processId: randomBytes(4).readUInt32BE(0) >>> 1, secretKey: randomBytes(4) };
  /** Terminate was received: the client reads nothing more; the session closes once the upstream has answered. */
  terminating = false;
  /** The COPY FROM STDIN (by tracker.copyStarts) for which CopyData was last forwarded. */
  copyDataFor = -1;
  /**
   * The portal of the last Bind whose blast radius was measured, while nothing but a Describe of it has come
   * since: a write's portal reads the data when it executes, so its Execute must come straight after.
   */
  measuredBind: string | null = null;
  /** Whether the client connects from this host (tokens may then travel without TLS). */
  readonly loopback: boolean;
  socket: net.Socket | tls.TLSSocket;
  tlsActive = false;
  phase: 'startup' | 'auth' | 'ready' | 'closed' = 'startup';
  startup: StartupMessage | null = null;
  identity: VerifiedIdentity | null = null;
  upstream: UpstreamConnection | null = null;
  upstreamName = '';
  pumping = false;
  authTimer: NodeJS.Timeout | undefined = undefined;
  expiryTimer: NodeJS.Timeout | null = null;
  /** The session in the statement pipeline (decisions and evidence); opened once the identity is known. */
  pipeline: PipelineSession | null = null;
  /** Catalog freshness (catalog-gate.ts): relations read must be ones the catalog knows, as loaded. */
  gate: CatalogGate | null = null;
  /** The check of the Bind being handled, when it is sent before the check passes (its answer held). */
  pendingCheck: Promise<Refusal | null> | null = null;
  /** Set while a held Bind's check is confirmed: resolves once its answer was released or refused. */
  confirming: Promise<void> | null = null;
  /** Whether the client's Sync after that Bind was forwarded before the check ended. */
  syncWhileConfirming = false;
  /** The Query's bytes, or the Bind, that has passed the gate and is being handled again. */
  gatePassed: object | null = null;
  /** The protocol of the message the gate is checking: how the session's own lookups are sent meanwhile. */
  gateProtocol: 'simple' | 'extended' = 'simple';
  /** performance.now() when the client's last bytes arrived: every message being handled had arrived by then. */
  clientDataAt = 0;
  /** Why the session ended, as its evidence records it. */
  endReason = 'client_closed';
  /**
   * A refused simple Query: a stand-in that fails to parse upstream answers in its place with the denial. A
   * function of the session, passed as the refusal without a closure per Query.
   */
  readonly standInQuery = (bytes: Buffer): void => {
    this.tracker.push({ type: 'query', verdict: null, own: [], denial: { bytes } });
    this.sendToUpstream(queryMessage(STAND_IN));
  };
  /** The names the messages in flight will define (asked lazily by the session model): one function per session, not per call. */
  readonly pendingNames = (): { statements: ReadonlySet<string>; portals: ReadonlySet<string> } => pendingNames(this.tracker.units);

  // While pump() works through one client chunk, what goes upstream is collected and written once at the end
  // (Bind/Execute/Sync = 1 write, not 3). Forwarded messages are adjacent slices of the reader's buffer, so they
  // merge into one slice: a plain write() instead of cork() + 3 write() + uncork() (Writable's corked list,
  // writev and its per-chunk arrays). Saves ~1.5 µs user CPU per transaction in pgbench -M prepared (perf).
  batching = false;
  private outFirst: Buffer | null = null;
  private outLength = 0; // bytes of outFirst's memory pending, possibly more than outFirst.length after merging
  private outRest: Buffer[] | null = null; // pieces that are not adjacent (stand-ins, a reader buffer switch): rare

  constructor(
    readonly rawSocket: net.Socket,
    readonly ctx: PostgresDoorContext,
    private readonly handlers: SessionHandlers,
  ) {
    this.loopback = LOOPBACK.test(rawSocket.remoteAddress ?? '');
    this.log = ctx.log.child({ session: this.id, client: rawSocket.remoteAddress });
    this.reader = new FrontendReader({ maxMessageBytes: ctx.config.limits.max_message_bytes });
    this.model = new SessionModel((analysis, decision, formats) => this.rowPlan(analysis, decision, formats));
    const tracker = (this.tracker = new ResponseTracker(this.model));
    tracker.upstreamSeconds = ctx.metrics.upstreamSeconds;
    // What each client was sent is evidence: a digest of the delivered rows per statement.
    tracker.digestRows = ctx.evidence !== null;
    if (ctx.evidence) tracker.onBindError = (unit, sqlstate) => this.recordExecution(unit.entry, unit.started!, null, sqlstate);
    this.socket = rawSocket;
    const session = this;
    this.handle = {
      id: this.id,
      key: this.gatewayKey,
      cancel: () => {
        if (this.pipeline?.holding) this.pipeline.withdraw();
        else if (this.upstream && this.upstreamName) void ctx.cancelUpstream(this.upstreamName, this.upstream.processId, this.upstream.secretKey);
      },
      shutdown: (message) => this.fatal(adminShutdown(message)),
      get busy() {
        return !tracker.idle || (session.pipeline?.holding ?? false);
      },
    };
  }

  /** The client socket's 'data' listener: one function per session, removed when TLS takes the socket over. */
  readonly onClientData = (chunk: Buffer): void => this.handlers.data(this, chunk);

  /** Handles a message of the ready phase: one received, or one kept past a wait and handled again. */
  onReady(msg: FrontendMessage): Promise<void> | void {
    return this.handlers.ready(this, msg);
  }

  send(bytes: Buffer): void {
    if (this.phase === 'closed' || bytes.length === 0) return;
    if (!this.socket.write(bytes)) this.upstream?.socket.pause(); // backpressure: the client is slow
  }

  sendToUpstream(bytes: Buffer): void {
    const upstream = this.upstream;
    if (!upstream) return;
    if (!this.batching) {
      if (!upstream.socket.write(bytes)) this.socket.pause(); // backpressure: the upstream is slow
      return;
    }
    const first = this.outFirst;
    if (first === null) {
      this.outFirst = bytes;
      this.outLength = bytes.length;
    } else if (this.outRest === null && bytes.buffer === first.buffer && bytes.byteOffset === first.byteOffset + this.outLength) {
      this.outLength += bytes.length; // the very next bytes of the same memory: the concatenation is one slice
    } else {
      (this.outRest ??= []).push(bytes);
    }
  }

  flushUpstream(): void {
    const first = this.outFirst;
    if (first === null) return;
    const rest = this.outRest;
    this.outFirst = null;
    this.outRest = null;
    const up = this.upstream?.socket;
    if (!up || up.writableEnded || up.destroyed) return;
    const head = this.outLength === first.length ? first : Buffer.from(first.buffer, first.byteOffset, this.outLength);
    if (rest) up.cork();
    let ok = up.write(head);
    if (rest) {
      for (const b of rest) ok = up.write(b);
      up.uncork();
    }
    if (!ok) this.socket.pause(); // backpressure: the upstream is slow
  }

  fatal(fields: ErrorFields): void {
    if (this.phase === 'closed') return;
    this.endReason = `terminated: ${fields.code}`;
    this.socket.write(this.writer.errorResponse({ ...fields, severity: 'FATAL' }).flush());
    this.close();
  }

  close(): void {
    if (this.phase === 'closed') return;
    const wasReady = this.phase === 'ready';
    this.phase = 'closed';
    clearTimeout(this.authTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.pipeline?.withdraw();
    this.flushUpstream(); // messages forwarded before the end (e.g. before Terminate) still reach the upstream
    this.upstream?.close();
    this.socket.end();
    this.socket.destroySoon?.();
    this.ctx.sessions.delete(this.handle);
    this.ctx.postgresSessions.delete(this.handle);
    this.ctx.metrics.sessions.dec();
    if (wasReady) {
      this.log.info('session ended', { user: this.identity?.username });
      this.pipeline?.end(this.endReason);
    }
  }

  /** Terminate: what came before it still runs upstream; the session closes once the upstream has answered it. */
  terminate(raw: Buffer): void {
    if (this.tracker.idle) return this.close();
    this.terminating = true;
    this.sendToUpstream(raw);
    this.flushUpstream();
    setTimeout(() => this.close(), TERMINATE_GRACE_MS).unref();
  }

  // ---- the statement pipeline: decisions and their evidence ----------------------------------------

  /** Appends an event without waiting (the pipeline session records; before it exists there is nothing to record). */
  record(event: EvidenceEvent): void {
    this.pipeline?.record(event);
  }

  decide(sql: string, approval: ApprovalInput | null = null, blastRadius: readonly (BlastRadius | null)[] | null = null): Verdict {
    return this.pipeline!.decide(sql, approval, blastRadius);
  }

  /** Records each statement's decision; with require_durable the statement may run only once the promise resolves. */
  recordDecisions(verdict: Verdict, approval: { request_id: string; approved_by: string[] } | null = null): Promise<void> | null {
    return this.pipeline!.recordDecisions(verdict, approval);
  }

  recordResult(verdict: Verdict, start: number, tags: readonly string[], sqlstate: string | null, refused = false, digests?: readonly (DeliveredDigest | null | undefined)[]): void {
    this.pipeline?.recordResult(verdict, start, tags, sqlstate, refused, undefined, digests);
  }

  recordParameters(verdict: Verdict, index: number, bind: { params: readonly (Buffer | null)[]; paramFormats: readonly number[] }): string | undefined {
    return this.pipeline?.recordParameters(verdict, index, bind.params, bind.paramFormats);
  }

  recordExecution(ref: DecisionRef | null, start: number, tag: string | null, sqlstate: string | null, refused = false, digest?: DeliveredDigest | null): void {
    this.pipeline?.recordExecution(ref, start, tag, sqlstate, refused, digest);
  }

  /** A refusal without a policy decision (FunctionCall, unknown portal): recorded; returns its decision id. */
  recordRefusal(text: string, rule: string, message: string): string {
    return this.pipeline?.recordRefusal(text, rule, message) ?? randomUUID();
  }

  /** Runs `then` once the decision is durable; a spool that cannot be written refuses the statement. */
  afterRecorded(pending: Promise<void> | null, refuse: (bytes: Buffer) => void, then: () => void): Promise<void> | void {
    if (!pending) return then();
    return pending.then(then, (err: Error) => {
      this.ctx.metrics.errors.inc({ kind: 'evidence' });
      this.log.error('evidence not durable: statement refused', { error: err.message });
      refuse(this.writer.errorResponse(evidenceUnavailable()).flush());
    });
  }

  denialBytes(decision: Decision, message?: string, code: SqlState = SqlState.InsufficientPrivilege): Buffer {
    const reason = decision.reasons.find((r) => r.rule !== 'verdict.allow') ?? decision.reasons[0];
    const text = message ?? `Verdict denied this statement: ${reason ? `${reason.message} [${reason.rule}]` : 'denied by policy'}`;
    return this.writer
      .errorResponse({ ...insufficientPrivilege(text, `decision ${decision.decision_id}, policy ${decision.policy_revision}`), code })
      .flush();
  }


  rowPlan(analysis: StatementAnalysis | undefined, decision: Decision | undefined, formats: readonly number[]): RowPlan | null {
    const plan = maskPlan(analysis, decision, this.ctx.maskContext, this.ctx.originsOf(this.upstreamName));
    return plan && { ...plan, formats };
  }

  logDecision(v: Verdict, via: string): void {
    if (!this.log.enabled('info')) return;
    for (const [i, d] of v.decisions.entries()) {
      this.log.info('decision', {
        via,
        user: this.identity?.username,
        action: d.action,
        rules: d.reasons.map((r) => r.rule),
        decision_id: d.decision_id,
        fingerprint: d.fingerprint,
        command: v.statements[i]?.command,
        cached: d.cached,
      });
    }
  }

  // ---- waiting for the server ----------------------------------------------------------------------

  untilIdle(): Promise<void> {
    const tracker = this.tracker;
    if (tracker.idle) return Promise.resolve();
    return new Promise((resolve) => {
      tracker.onIdle = () => {
        tracker.onIdle = null;
        resolve();
      };
    });
  }

  /**
   * Holds the client's next messages until the server has answered far enough that the gateway knows its
   * mode (did a COPY FROM STDIN start, did it end). A Flush makes the server send what it buffered.
   */
  awaitServer(done: () => boolean): Promise<void> | void {
    this.sendToUpstream(FLUSH);
    this.flushUpstream();
    if (done()) return;
    const tracker = this.tracker;
    return new Promise<void>((resolve) => {
      tracker.onProgress = () => {
        if (this.phase !== 'closed' && !done()) return;
        tracker.onProgress = null;
        resolve();
      };
    });
  }

  /** Runs the gateway's own query on the session's upstream connection; its answers never reach the client. */
  runInternal(bytes: Buffer, until: 'ready' | number): Promise<InternalUnit> {
    return new Promise((resolve) => {
      this.tracker.push({ type: 'internal', until, rows: [], error: null, onDone: resolve });
      this.sendToUpstream(bytes);
      this.flushUpstream();
    });
  }

  // ---- held answers (a statement sent before its confirmation) -------------------------------------

  /** Sends what waited for a held unit's confirmation, and lets the upstream flow again. */
  release(): void {
    this.send(this.tracker.release());
    if (this.phase !== 'closed') this.upstream?.socket.resume();
  }

  /**
   * Drops a held answer once it has come in full (so the client sees none of it). Answers larger than the hold
   * bound cannot be waited for (the upstream is paused): the session ends instead. Resolves false then.
   */
  async dropHeld(unit: Unit | undefined): Promise<boolean> {
    void unit;
    const tracker = this.tracker;
    await this.awaitServer(() => this.phase === 'closed' || tracker.idle || tracker.heldBytes > HOLD_BYTES);
    if (this.phase === 'closed') return false;
    if (!tracker.idle) {
      this.fatal(connectionFailure('Verdict could not confirm a statement whose answer had begun to arrive; the session was closed (nothing of the answer was sent)'));
      return false;
    }
    tracker.discardHeld();
    this.upstream?.socket.resume();
    return true;
  }
}

/** The decision a refusal of the whole verdict names: its first denial, else its first decision. */
export function deniedDecision(verdict: Verdict): Decision {
  return verdict.decisions.find((d) => d.action === 'deny') ?? verdict.decisions[0]!;
}

/** A message kept past a wait: its bytes (and a Bind's values) copied out of the reader's buffer, which moves on. */
export function heldCopy(msg: FrontendMessage): FrontendMessage {
  if (msg.type === 'bind') return { ...msg, raw: Buffer.from(msg.raw), params: msg.params.map((p) => (p === null ? null : Buffer.from(p))) };
  return { ...msg, raw: Buffer.from(msg.raw) } as FrontendMessage;
}
