// Frames the upstream's backend messages and pairs each response with the client message that caused it
// (a FIFO of units), so the gateway can replace a stand-in's error with its denial, mask DataRows, keep
// the session model in step with what the server confirmed, and know the transaction status — while
// forwarding every byte it does not change untouched, chunk by chunk. Its parts: the queue (response-units.ts),
// held answers, DataRow rewriting (data-row.ts), RowDescription, COPY (copy-in.ts), confirmations, evidence rows.
// Response rules: https://www.postgresql.org/docs/current/protocol-flow.html
import type { Verdict } from '../../engine/engine.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { confirmed } from './confirmations.ts';
import { copyInFailed, copyStarted } from './copy-in.ts';
import { copyBytes, reserve, rowOut, writeDataRow } from './data-row.ts';
import { DeliveredRowsRecorder, captureOf, type Capture, type DeliveredRows } from './delivered-rows.ts';
import { HeldAnswers, isHeld } from './held-answers.ts';
import { internalAnswer } from './internal-query.ts';
import { BackendCode, errorCode, errorSeverity, SqlState } from './protocol/index.ts';
import { checkTag, returnsRows } from './response-checks.ts';
import { dropConditionalSyncs, dropIgnoredSyncs, skipped, skipToSync, takeAnsweredSync, type ExecuteUnit, type InternalUnit, type QueryUnit, type Unit } from './response-units.ts';
import { describeColumns, unknownOrigin } from './row-description.ts';
import type { RowPlan } from './row-plan.ts';
import { scrubbed } from './scrub.ts';
import { SessionModelBreach } from './errors.ts';
import { BLANK_PLAN, executedStatement, type Rows, type SessionModel } from './session-model.ts';

const NO_ROWS: Rows = { plan: null, scrub: false, ref: null };

/**
 * Pairs the upstream's responses with the units the gateway forwarded, following PostgreSQL's message flow:
 * extended-protocol errors skip to Sync, a simple Query answers until ReadyForQuery, COPY FROM STDIN holds
 * the server in copy-in mode (the session never forwards a Sync then). Confirmations update the session model.
 * A response it cannot attribute throws SessionModelBreach: the session ends and nothing of it is forwarded.
 */
export class ResponseTracker {
  readonly units: Unit[] = [];
  readonly model: SessionModel;
  /** Transaction status from the last ReadyForQuery: I idle, T in a transaction, E failed transaction. */
  status: 'I' | 'T' | 'E' = 'I';
  /** The server is in copy-in mode (CopyInResponse seen, the COPY not yet ended). */
  copyIn = false;
  /** Index of the current statement within the head query unit. */
  #stmt = 0;
  /** Rows of the head query's current statement, resolved when its first response arrives. */
  #rows: Rows | null = null;
  #tags: string[] = [];
  #sqlstate: string | null = null;
  /**
   * Evidence: digest the DataRows as delivered (after masking), per statement. Read with takeDigest() in an
   * Execute's onDone, and queryDigests in a Query's onDone (both run synchronously at its completion).
   */
  digestRows = false;
  readonly #delivered = new DeliveredRowsRecorder();
  /** Per statement of the head Query so far: the digest of its delivered rows (and the rows kept, if asked). */
  readonly queryDigests: (DeliveredRows | null)[] = [];

  /**
   * An extended-protocol error came back before the Sync that ends its batch was forwarded: the server
   * discards every message until that Sync, so units pushed until then get no answer and are not queued.
   */
  #ignoreTillSync = false;
  #pending: Buffer | null = null;
  /** Called when the queue drains (the upstream owes no more responses). */
  onIdle: (() => void) | null = null;
  /**
   * Whether a RowDescription column's origin (table OID, attribute number) is one the catalog knows. A result
   * set with a column from elsewhere (a relation made or changed behind Verdict's back) is sent with every value
   * NULL, and onUnknownOrigin is told. null: not checked.
   */
  knownOrigin: ((tableOid: number, attnum: number) => boolean) | null = null;
  onUnknownOrigin: ((tableOid: number) => void) | null = null;
  /** Statements (by verdict) whose described rows came from an unknown origin: their executions send NULLs. */
  readonly #unknownOrigin = new WeakSet<object>();
  /** Observes the seconds from a Query or Sync with `sent` to its ReadyForQuery (metrics). */
  upstreamSeconds: { observe(seconds: number): void } | null = null;
  /** A Bind sent with `started` failed (one handler per session, not a closure per Bind). */
  onBindError: ((unit: Extract<Unit, { type: 'bind' }>, sqlstate: string) => void) | null = null;
  /** Called after every chunk while set: a session waiting for the server's mode (COPY) checks it. */
  onProgress: (() => void) | null = null;
  /** Set by the session to the type byte of the message it held back when it sent a CopyFail of its own (COPY_ABORT_MARKER). */
  copyAborted: number | null = null;
  /** The last COPY FROM STDIN ended on the gateway's own CopyFail: the server consumed the held message. */
  copyAbortConsumed = false;
  /** How many COPY FROM STDIN operations have ended (completed or failed): the session waits on it. */
  copyEnds = 0;
  /** How many COPY FROM STDIN operations have started (CopyInResponse). */
  copyStarts = 0;
  /**
   * The server consumed a non-COPY message in copy-in mode: PostgreSQL itself ends such a session ("protocol
   * synchronization was lost"), so the tracker forwards that FATAL, nothing after it, and the session closes.
   */
  lostSync = false;

  /**
   * Bytes for the client that wait for a held unit to be confirmed (a read sent upstream while its decision was
   * being made durable or its catalog check ran): from the first answer to a held unit on, in order.
   */
  readonly #held = new HeldAnswers(this.units);

  constructor(model: SessionModel) {
    this.model = model;
  }

  /** Bytes waiting for a held unit's confirmation (the session pauses the upstream past a bound). */
  get heldBytes(): number {
    return this.#held.bytes;
  }

  /** Whether answers are being held: a held unit is queued, or bytes wait. */
  get holding(): boolean {
    return this.#held.holding;
  }

  /**
   * The held unit's check passed and its decision is durable: returns every byte held so far (to send now, in
   * order); what follows goes to the client as it comes.
   */
  release(): Buffer {
    return this.#held.release();
  }

  /**
   * The held unit may not be answered as it ran (its decision could not be made durable, or what it reads changed
   * under it): every byte held is dropped. Only once it has been answered in full (its ReadyForQuery held too).
   */
  discardHeld(): void {
    this.#held.discard();
  }

  /** No answer is owed (Syncs forwarded in copy-in mode that the server may have ignored do not count). */
  get idle(): boolean {
    if (this.#pending !== null) return false;
    for (const u of this.units) if (u.type !== 'sync' || !u.conditional) return false;
    return true;
  }

  /** The server skips every message until the client's next Sync (an extended-protocol error came back). */
  get ignoringTillSync(): boolean {
    return this.#ignoreTillSync;
  }

  /** Queues a forwarded message's unit; while the server ignores messages until Sync, the unit is dropped instead. */
  push(unit: Unit): void {
    if (this.#ignoreTillSync) {
      if (unit.type !== 'sync') {
        skipped(unit);
        return;
      }
      this.#ignoreTillSync = false;
    }
    this.units.push(unit);
  }

  /**
   * Consumes one chunk from the upstream; returns the bytes for the client (the same Buffer when
   * nothing in it had to change). Incomplete trailing messages are kept for the next chunk.
   * Throws SessionModelBreach when a response cannot be attributed.
   */
  transform(chunk: Buffer): Buffer {
    let buf = chunk;
    if (this.#pending) {
      buf = Buffer.concat([this.#pending, chunk]); // rare: a message split across reads
      this.#pending = null;
    }
    // Output is built only once something changes: verbatim runs are copied and rewritten DataRows are
    // written straight into one buffer per chunk (no per-row allocation, no concat; bench:masking).
    let out: Buffer | null = null;
    let o = 0;
    let copiedUpTo = 0;
    let pos = 0;
    const n = buf.length;
    // Where in this chunk's output the held part begins (all of it while bytes already wait); -1: none.
    let heldFrom = this.#held.waiting ? 0 : -1;
    while (pos + 5 <= n) {
      if (heldFrom < 0 && isHeld(this.units[0])) heldFrom = out ? o + (pos - copiedUpTo) : pos;
      const type = buf[pos]!;
      const len = buf.readUInt32BE(pos + 1);
      const end = pos + 1 + len;
      if (end > n) break;
      if (type === BackendCode.DataRow && this.units[0]?.type !== 'internal') {
        const plan = this.#rowPlan();
        if (plan) {
          out = reserve(out, o, end - copiedUpTo, n); // a row grows only where a masked value needs it (writeDataRow)
          o = copyBytes(buf, copiedUpTo, pos, out, o);
          const rowStart = o;
          o = writeDataRow(buf, pos, end, plan, out, o);
          out = rowOut;
          copiedUpTo = end;
          if (this.digestRows) this.#deliver(out, rowStart + 5, o);
        } else if (this.digestRows) this.#deliver(buf, pos + 5, end);
        pos = end;
        continue;
      }
      const replacement = this.#onMessage(type, buf, pos, end);
      if (replacement !== undefined) {
        const add = replacement ? replacement.length : 0;
        out = reserve(out, o, pos - copiedUpTo + add, n);
        o += buf.copy(out, o, copiedUpTo, pos);
        if (replacement) o += replacement.copy(out, o);
        copiedUpTo = end;
      }
      pos = end;
      if (this.lostSync) {
        // Nothing after the FATAL: what the server still sends belongs to a session the client no longer has.
        out = reserve(out, o, pos - copiedUpTo, n);
        o += buf.copy(out, o, copiedUpTo, pos);
        return out.subarray(0, o);
      }
    }
    if (pos < n) this.#pending = Buffer.from(buf.subarray(pos));
    if (this.onProgress) queueMicrotask(() => this.onProgress?.());
    // Someone waits for the queue to drain (a held approval): it can drain without a ReadyForQuery (a Flush).
    if (this.onIdle && this.idle) queueMicrotask(() => this.idle && this.onIdle?.());
    let result: Buffer;
    if (!out) result = pos === n ? buf : buf.subarray(0, pos);
    else {
      out = reserve(out, o, pos - copiedUpTo, n);
      o += buf.copy(out, o, copiedUpTo, pos);
      result = out.subarray(0, o);
    }
    if (heldFrom < 0) return result;
    if (heldFrom < result.length) {
      // A chunk's own bytes are kept as they are; rewritten output is copied, so it never shares memory that a
      // later chunk's rewriting may use.
      this.#held.hold(out ? Buffer.from(result.subarray(heldFrom)) : result.subarray(heldFrom));
    }
    return result.subarray(0, heldFrom);
  }

  /** The digest of the rows delivered since the last take (an empty result's when none), and starts a new one. */
  takeDigest(): DeliveredRows {
    return this.#delivered.take();
  }

  /** One DataRow body as the client gets it (buf[start, end)): into the statement's evidence. */
  #deliver(buf: Buffer, start: number, end: number): void {
    if (!this.#delivered.started) this.#delivered.start(this.#captureFor());
    this.#delivered.add(buf, start, end);
  }

  /** Whether the decision of the statement now sending rows asks to keep them (decision.capture_rows). */
  #captureFor(): Capture | null {
    const head = this.units[0];
    let verdict: Verdict | null = null;
    let index = 0;
    if (head?.type === 'execute') {
      const ref = this.#executeRows(head).ref;
      if (ref) [verdict, index] = [ref.verdict, ref.index];
    } else if (head?.type === 'query' && head.verdict) [verdict, index] = [head.verdict, this.#stmt];
    return captureOf(verdict, index);
  }

  /** The plan for a DataRow now arriving (null = verbatim); throws when no unit can own it. */
  #rowPlan(): RowPlan | null {
    dropIgnoredSyncs(this.units);
    const head = this.units[0];
    if (head?.type === 'execute') {
      if (head.denial) throw new SessionModelBreach('the server sent rows for a statement the gateway refused');
      if (head.rowsChecked !== true) {
        // Once per Execute, not per row.
        const p = this.model.portals.get(head.portal);
        const a = p && !p.cursor ? executedStatement(p.verdict.statements[p.index]!) : undefined;
        if (a && !returnsRows(a)) throw new SessionModelBreach(`the server sent rows for ${a.command}, which returns none`);
        head.rowsChecked = true;
      }
      return this.#executeRows(head).plan;
    }
    if (head?.type === 'query') return this.#queryRows(head, 'rows').plan;
    throw new SessionModelBreach(`the server sent a row while the gateway expected ${head ? `the answer to ${head.type}` : 'nothing'}`);
  }

  #executeRows(u: ExecuteUnit): Rows {
    if (u.rows) return u.rows;
    const p = this.model.portals.get(u.portal);
    if (!p) return (u.rows = { plan: BLANK_PLAN, scrub: true, ref: null });
    if (this.#unknownOrigin.has(p.verdict)) return (u.rows = { plan: BLANK_PLAN, scrub: true, ref: p });
    if (p.cursor) return (u.rows = { plan: p.plan, scrub: p.scrub, ref: p });
    return (u.rows = this.model.rowsOf(p.verdict.statements[p.index]!, { plan: p.plan, scrub: p.scrub, ref: p }));
  }

  /** Rows of the head query's current statement; `what` says what arrived (rows must be allowed for it). */
  #queryRows(u: QueryUnit, what: 'rows' | 'other'): Rows {
    if (this.#rows) return this.#rows;
    const v = u.verdict;
    if (!v || u.denial) {
      if (what === 'rows') throw new SessionModelBreach('the server sent rows for a statement the gateway refused or found empty');
      return NO_ROWS;
    }
    const a = v.statements[this.#stmt];
    if (!a) throw new SessionModelBreach(`the server ran more statements than the ${v.statements.length} the gateway decided on`);
    if (what === 'rows' && !returnsRows(a)) throw new SessionModelBreach(`the server sent rows for ${a.command}, which returns none`);
    return (this.#rows = this.model.rowsOf(a, u.own[this.#stmt] ?? NO_ROWS));
  }

  /** Answers to the gateway's own query: dropped; rows and an error are kept for it. */
  #internal(u: InternalUnit, type: number, buf: Buffer, start: number, end: number): Buffer | null | undefined {
    if (type === BackendCode.ParameterStatus) return this.#onMessageCore(type, buf, start, end);
    const answer = internalAnswer(u, type, buf, start, end);
    if (answer === 'more') return null;
    if (answer === 'ready') this.status = String.fromCharCode(buf[start + 5]!) as 'I' | 'T' | 'E';
    this.units.shift();
    if (answer === 'failed' && this.units.length === 0) this.#ignoreTillSync = true;
    u.onDone(u);
    return null;
  }

  /** undefined = forward as is; null = drop; a Buffer = send this instead. */
  #onMessage(type: number, buf: Buffer, start: number, end: number): Buffer | null | undefined {
    const first = this.units[0];
    if (first?.type === 'internal') return this.#internal(first, type, buf, start, end);
    return this.#onMessageCore(type, buf, start, end);
  }

  #onMessageCore(type: number, buf: Buffer, start: number, end: number): Buffer | null | undefined {
    if (type !== BackendCode.ReadyForQuery && type !== BackendCode.NoticeResponse && type !== BackendCode.ParameterStatus && type !== BackendCode.NotificationResponse) {
      dropIgnoredSyncs(this.units);
    }
    const head = this.units[0];
    switch (type) {
      case BackendCode.ReadyForQuery: {
        this.status = String.fromCharCode(buf[start + 5]!) as 'I' | 'T' | 'E';
        // The head Query, or the head Sync, is answered now (of Syncs forwarded during copy-in: takeAnsweredSync).
        let afterQuery = false;
        const u = this.units[0];
        if (u?.type === 'query') {
          this.units.shift();
          if (u.sent !== undefined) this.upstreamSeconds?.observe((performance.now() - u.sent) / 1000);
          u.onDone?.(this.#tags, this.#sqlstate);
          afterQuery = true;
        } else if (u?.type === 'sync') {
          const sent = takeAnsweredSync(this.units).sent;
          if (sent !== undefined) this.upstreamSeconds?.observe((performance.now() - sent) / 1000);
        } else if (u) {
          // Only skipped units may go unanswered; a unit skipped after an error was already dropped.
          throw new SessionModelBreach(`the server was ready for the next query while ${u.type} was unanswered`);
        } else {
          throw new SessionModelBreach('the server sent ReadyForQuery that no Sync or Query asked for');
        }
        this.model.ready(this.status, afterQuery);
        this.#stmt = 0;
        this.#rows = null;
        this.#tags = [];
        this.queryDigests.length = 0;
        this.#delivered.reset();
        this.#sqlstate = null;
        this.copyIn = false;
        // Only when someone waits (untilIdle sets onIdle only while not idle): a microtask and a closure per
        // ReadyForQuery otherwise (~0.5 µs per transaction, perf on bench:gateway).
        if (this.units.length === 0 && this.onIdle) queueMicrotask(() => this.idle && this.onIdle?.());
        return undefined;
      }
      case BackendCode.ErrorResponse: {
        let sqlstate = errorCode(buf, start, end);
        let rewritten: Buffer | undefined;
        if (this.copyIn || this.#copyEnding()) {
          rewritten = copyInFailed(this, buf, start, end, sqlstate);
          if (rewritten) sqlstate = SqlState.ProtocolViolation; // the FATAL that ends the session
        }
        this.copyAborted = null;
        if (!head) {
          if (errorSeverity(buf, start, end) === 'FATAL' || errorSeverity(buf, start, end) === 'PANIC') return undefined; // the server is ending the session
          throw new SessionModelBreach(`the server sent an error (${sqlstate}) no message asked for`);
        }
        this.model.failed();
        if (head.type === 'query') {
          const rows = this.#queryRows(head, 'other');
          // the rest of the string is not run
          this.#sqlstate ??= sqlstate;
          if (head.denial) return head.denial.bytes;
          return rows.scrub ? scrubbed(buf, start, end) : rewritten;
        }
        if (head.type === 'sync') throw new SessionModelBreach(`the server sent an error (${sqlstate}) for a Sync`);
        // Extended protocol: the failing unit and everything queued before Sync produce nothing more.
        const failed = this.units.shift()!;
        let scrub = false;
        if (failed.type === 'execute') {
          const rows = failed.denial ? null : this.#executeRows(failed);
          scrub = rows?.scrub ?? false;
          failed.onDone?.(rows, null, sqlstate);
        } else if (failed.type === 'parse') this.model.parseFailed(failed.name);
        else if (failed.type === 'bind') {
          this.model.bindFailed(failed.portal);
          if (failed.started !== undefined) this.onBindError?.(failed, sqlstate); // planning happens at Bind: 1/0 between constants fails here
        }
        else if (failed.type === 'describe' && failed.target === 'P') scrub = this.#portalScrub(failed.name);
        if (skipToSync(this.units)) this.#ignoreTillSync = true;
        if ((failed.type === 'parse' || failed.type === 'bind' || failed.type === 'execute') && failed.denial) return failed.denial.bytes;
        return scrub ? scrubbed(buf, start, end) : rewritten;
      }
      case BackendCode.NoticeResponse: {
        // RAISE NOTICE and friends can echo values the rows had masked.
        let scrub = false;
        if (head?.type === 'query') scrub = this.#queryRows(head, 'other').scrub;
        else if (head?.type === 'execute') scrub = head.denial ? true : this.#executeRows(head).scrub;
        return scrub ? scrubbed(buf, start, end) : undefined;
      }
      case BackendCode.ParseComplete:
      case BackendCode.BindComplete:
      case BackendCode.CloseComplete:
      case BackendCode.NoData:
      case BackendCode.ParameterDescription:
        confirmed(type, this.units, this.model);
        return undefined;
      case BackendCode.RowDescription: {
        // The server's word on where each column comes from overrides the analysis for masked columns.
        const unknown = this.knownOrigin ? unknownOrigin(buf, start, this.knownOrigin) : 0;
        if (head?.type === 'describe') {
          if (unknown) {
            const described = head.target === 'P' ? this.model.portals.get(head.name) : this.model.statements.get(head.name);
            if (described) this.#unknownOrigin.add(described.verdict);
            this.onUnknownOrigin?.(unknown);
          }
          if (head.target === 'P') {
            const plan = this.#portalPlan(head.name);
            if (plan) describeColumns(buf, start, plan);
          }
          this.units.shift();
          return undefined;
        }
        if (head?.type === 'query') {
          const rows = this.#queryRows(head, 'rows');
          if (unknown) {
            this.#rows = { plan: BLANK_PLAN, scrub: true, ref: rows.ref };
            this.onUnknownOrigin?.(unknown);
            return undefined;
          }
          if (rows.plan) describeColumns(buf, start, rows.plan);
          return undefined;
        }
        throw new SessionModelBreach(`the server described rows while the gateway expected ${head ? `the answer to ${head.type}` : 'nothing'}`);
      }
      case BackendCode.CopyInResponse:
      case BackendCode.CopyOutResponse:
        copyStarted(this, type, this.#currentCopy());
        return undefined;
      case BackendCode.CopyData:
      case BackendCode.CopyDone:
        // COPY TO with a masked column is refused before it runs (session); rows of allowed COPYs pass.
        return undefined;
      case BackendCode.CommandComplete:
      case BackendCode.EmptyQueryResponse:
      case BackendCode.PortalSuspended: {
        if (type === BackendCode.CommandComplete && (this.copyIn || this.#copyEnding())) {
          dropConditionalSyncs(this.units); // CopyDone was read in copy-in mode
          this.copyEnds++;
        }
        this.copyIn = false;
        const tag = type === BackendCode.CommandComplete ? buf.toString('utf8', start + 5, end - 1) : '';
        if (head?.type === 'execute') {
          if (head.denial) throw new SessionModelBreach('the server completed a statement the gateway refused');
          this.units.shift();
          const rows = this.#executeRows(head);
          const p = this.model.portals.get(head.portal);
          if (type === BackendCode.CommandComplete && p) {
            const a = p.cursor ? null : executedStatement(p.verdict.statements[p.index]!);
            if (a) {
              checkTag(this.model, a, tag);
              this.model.completed(p, tag, a);
            }
          }
          head.onDone?.(rows, tag, null);
          return undefined;
        }
        if (head?.type === 'query') {
          const v = head.verdict;
          if (type === BackendCode.EmptyQueryResponse && (v === null || v.statements.length === 0) && !head.denial) return undefined;
          if (!v || head.denial) throw new SessionModelBreach('the server completed a statement the gateway refused');
          const a = v.statements[this.#stmt];
          if (!a) throw new SessionModelBreach(`the server ran more statements than the ${v.statements.length} the gateway decided on`);
          if (type === BackendCode.PortalSuspended) throw new SessionModelBreach('the server suspended a portal in a simple Query');
          checkTag(this.model, a, tag);
          this.model.completed({ verdict: v, index: this.#stmt }, tag);
          this.#tags.push(tag);
          if (this.digestRows) this.queryDigests.push(this.takeDigest());
          this.#stmt++;
          this.#rows = null;
          return undefined;
        }
        throw new SessionModelBreach(`the server completed a command while the gateway expected ${head ? `the answer to ${head.type}` : 'nothing'}`);
      }
      case BackendCode.ParameterStatus: {
        const nameEnd = buf.indexOf(0, start + 5);
        if (nameEnd < 0 || nameEnd >= end) throw new SessionModelBreach('malformed ParameterStatus');
        this.model.parameterStatus(buf.toString('utf8', start + 5, nameEnd), buf.toString('utf8', nameEnd + 1, end - 1));
        return undefined;
      }
      case BackendCode.NotificationResponse:
        return undefined;
      default:
        // CopyBothResponse (replication), FunctionCallResponse (FunctionCall is refused), authentication
        // mid-session, anything newer: nothing the gateway asked for.
        throw new SessionModelBreach(`the server sent message type 0x${type.toString(16)}, which the gateway cannot account for`);
    }
  }

  /** The head unit is a COPY FROM STDIN whose CopyDone the session forwarded (copyIn already cleared). */
  #copyEnding(): boolean {
    const copy = this.#currentCopy();
    return copy !== null && copy.direction === 'from' && copy.target === 'stdin';
  }

  /** The COPY of the statement now running, from its analysis (a prepared statement's, for EXECUTE). */
  #currentCopy(): StatementAnalysis['copy'] {
    const head = this.units[0];
    if (head?.type === 'query' && head.verdict && !head.denial) {
      const a = head.verdict.statements[this.#stmt];
      return a ? this.model.copyOf(a) : null;
    }
    if (head?.type === 'execute' && !head.denial) {
      const p = this.model.portals.get(head.portal);
      return p && !p.cursor ? this.model.copyOf(executedStatement(p.verdict.statements[p.index]!)) : null;
    }
    return null;
  }

  #portalPlan(name: string): RowPlan | null {
    const p = this.model.portals.get(name);
    if (!p) return null;
    return p.cursor ? p.plan : this.model.rowsOf(p.verdict.statements[p.index]!, { plan: p.plan, scrub: p.scrub, ref: p }).plan;
  }

  #portalScrub(name: string): boolean {
    return this.model.portals.get(name)?.scrub ?? true;
  }
}
