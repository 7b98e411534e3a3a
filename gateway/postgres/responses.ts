// Frames the upstream's backend messages and pairs each response with the client message that caused it
// (a FIFO of units), so the gateway can replace a stand-in's error with its denial, mask DataRows, keep
// the session model in step with what the server confirmed, and know the transaction status — while
// forwarding every byte it does not change untouched, chunk by chunk.
// Response rules: https://www.postgresql.org/docs/current/protocol-flow.html
import type { Verdict } from '../../engine/engine.ts';
import { createRowDigest, type RowDigest } from '../../engine/evidence/response.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { copyBytes, reserve, rowOut, writeDataRow } from './data-row.ts';
import { BackendCode, BackendWriter, errorCode, errorField, errorSeverity, ErrorField, protocolViolation, SqlState } from './protocol/index.ts';
import { describeColumns, unknownOrigin } from './row-description.ts';
import type { RowPlan } from './row-plan.ts';
import { scrubbed } from './scrub.ts';
import { BLANK_PLAN, SessionModelBreach, executedStatement, type PortalEntry, type Rows, type SessionModel, type StatementEntry } from './session-model.ts';

export interface ErrorReplacement {
  /** ErrorResponse bytes sent instead of the upstream's error for this unit. */
  bytes: Buffer;
}

/** Rows being kept for a statement's evidence, up to its decision's limits. */
interface Capture {
  columns: string[];
  rows: (string | null)[][];
  bytes: number;
  maxRows: number;
  maxBytes: number;
  truncated: boolean;
}

/** What one statement delivered, for evidence: the digest of its DataRows as sent and the rows kept when its decision asked. */
export interface DeliveredRows {
  sha256: string;
  rows: number;
  bytes: number;
  captured: { columns: string[]; rows: (string | null)[][]; truncated: boolean } | null;
}

/** How an execution ended, for evidence: the CommandComplete tag ('' for PortalSuspended / empty), or the SQLSTATE. */
export type Done = (rows: Rows | null, tag: string | null, sqlstate: string | null) => void;

/** One client message (or Query) forwarded upstream whose responses are still to come, in order. */
export type Unit =
  | { type: 'parse'; name: string; entry: StatementEntry | null; denial?: ErrorReplacement }
  | {
      type: 'bind';
      portal: string;
      entry: PortalEntry | null;
      denial?: ErrorReplacement;
      /** Date.now() when it was sent: a Bind that fails is reported to onBindError (evidence). */
      started?: number;
      /** The statement name it binds, and the statement the session expected the server to hold under it. */
      from?: string;
      statement?: StatementEntry;
      /** Sent before its check passed: its answers, and all after them, wait in the tracker (see hold). */
      held?: boolean;
    }
  | { type: 'describe'; target: 'S' | 'P'; name: string }
  | { type: 'close'; target: 'S' | 'P'; name: string }
  | ExecuteUnit
  /**
   * `conditional`: forwarded while the server was in copy-in mode, where it ignores Sync — unless the COPY
   * had already failed on its data when the server read it. Resolved by what the server answers next.
   */
  | { type: 'sync'; conditional?: boolean; sent?: number }
  | QueryUnit
  | InternalUnit;

/**
 * A query the gateway runs itself (measuring a write's blast radius): its answers never reach the client,
 * except an error, which the session may hand on as the answer to the client's statement.
 * `until`: 'ready' for a simple Query (ends with ReadyForQuery); a number for extended messages ended by a
 * Flush: how many ParseComplete / BindComplete / CommandComplete / CloseComplete end it.
 */
export interface InternalUnit {
  type: 'internal';
  until: 'ready' | number;
  rows: (string | null)[][];
  /** The ErrorResponse, when the query failed (the unit ends there: the server skips the rest). */
  error: Buffer | null;
  onDone: (unit: InternalUnit) => void;
}

export interface ExecuteUnit {
  type: 'execute';
  portal: string;
  denial?: ErrorReplacement;
  /** Resolved when the server starts answering it: the portal as the model knows it at that point. */
  rows?: Rows;
  /** Its portal's statement may send rows (checked at the first DataRow). */
  rowsChecked?: boolean;
  onDone?: Done;
}

export interface QueryUnit {
  type: 'query';
  /** The decided statements, or null for a stand-in or an empty query (no rows may come back). */
  verdict: Verdict | null;
  /** Per statement: its own rows (FETCH / EXECUTE are resolved through the model when they run). */
  own: Rows[];
  denial?: ErrorReplacement;
  onDone?: (tags: string[], sqlstate: string | null) => void;
  /** performance.now() when it was forwarded; its ReadyForQuery observes the upstream's time. */
  sent?: number;
  /** Sent before its decision was durable or its check passed: its answers, and all after them, wait (see hold). */
  held?: boolean;
}

/** Commands that may send rows (RowDescription / DataRow) besides SELECT and DML with RETURNING. */
const ROW_COMMANDS = new Set(['FETCH', 'EXECUTE', 'SHOW', 'EXPLAIN', 'CALL']);
const ROW_KINDS = new Set(['select', 'insert', 'update', 'delete', 'merge']);
/** CommandComplete tags that say rows were written, and the statement kind that may report each. */
const WRITE_TAGS: Readonly<Record<string, string>> = { INSERT: 'insert', UPDATE: 'update', DELETE: 'delete', MERGE: 'merge', COPY: 'copy' };

const NO_ROWS: Rows = { plan: null, scrub: false, ref: null };

/** Whether a statement may answer with rows: a query, DML with RETURNING, or a command that returns them. */
function returnsRows(a: StatementAnalysis): boolean {
  if (a.kind === 'select' || ROW_COMMANDS.has(a.command)) return true;
  return ROW_KINDS.has(a.kind) && a.result_columns.length > 0; // without RETURNING a write sends no rows (a rule could)
}

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
  #digest: RowDigest | null = null;
  /** The delivered rows kept for the current statement, when its decision asks (capture_rows), bounded. */
  #capture: Capture | null = null;
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
  /**
   * Text the gateway puts in a CopyFail it sends itself (a client message other than CopyData arrived in
   * copy-in mode). The COPY's error then carries it, and `copyAborted` says so.
   */
  static readonly ABORT_MARKER = 'verdict: copy-in ended by a non-COPY message';
  /** Set by the session to the type byte of the message it held back when it sent that CopyFail. */
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
  #held: Buffer[] = [];
  #heldBytes = 0;

  constructor(model: SessionModel) {
    this.model = model;
  }

  /** Bytes waiting for a held unit's confirmation (the session pauses the upstream past a bound). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Whether answers are being held: a held unit is queued, or bytes wait. */
  get holding(): boolean {
    if (this.#held.length > 0) return true;
    for (const u of this.units) if ((u.type === 'query' || u.type === 'bind') && u.held) return true;
    return false;
  }

  /**
   * The held unit's check passed and its decision is durable: returns every byte held so far (to send now, in
   * order); what follows goes to the client as it comes.
   */
  release(): Buffer {
    for (const u of this.units) if ((u.type === 'query' || u.type === 'bind') && u.held) u.held = false;
    const out = this.#held.length === 1 ? this.#held[0]! : Buffer.concat(this.#held);
    this.#held = [];
    this.#heldBytes = 0;
    return out;
  }

  /**
   * The held unit may not be answered as it ran (its decision could not be made durable, or what it reads changed
   * under it): every byte held is dropped. Only once it has been answered in full (its ReadyForQuery held too).
   */
  discardHeld(): void {
    for (const u of this.units) if ((u.type === 'query' || u.type === 'bind') && u.held) throw new Error('discardHeld before the held unit was answered');
    this.#held = [];
    this.#heldBytes = 0;
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
        if (unit.type === 'execute') unit.onDone?.(null, null, null);
        else if (unit.type === 'query') unit.onDone?.([], null);
        return;
      }
      this.#ignoreTillSync = false;
    }
    this.units.push(unit);
  }

  /** Names that messages already forwarded will define once the server confirms them. */
  pendingNames(): { statements: Set<string>; portals: Set<string> } {
    const statements = new Set<string>();
    const portals = new Set<string>();
    for (const u of this.units) {
      if (u.type === 'parse' && u.entry) statements.add(u.name);
      else if (u.type === 'bind' && u.entry) portals.add(u.portal);
      else if (u.type === 'query' && u.verdict) {
        for (const a of u.verdict.statements) {
          if (a.name === null) continue;
          if (a.command === 'DECLARE CURSOR') portals.add(a.name);
          else if (a.command === 'PREPARE') statements.add(a.name);
        }
      }
    }
    return { statements, portals };
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
    let heldFrom = this.#held.length > 0 ? 0 : -1;
    while (pos + 5 <= n) {
      if (heldFrom < 0) {
        const head = this.units[0];
        if (head !== undefined && (head.type === 'query' || head.type === 'bind') && head.held === true) heldFrom = out ? o + (pos - copiedUpTo) : pos;
      }
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
          if (this.digestRows) this.#delivered(out, rowStart + 5, o);
        } else if (this.digestRows) this.#delivered(buf, pos + 5, end);
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
      this.#held.push(out ? Buffer.from(result.subarray(heldFrom)) : result.subarray(heldFrom));
      this.#heldBytes += result.length - heldFrom;
    }
    return result.subarray(0, heldFrom);
  }

  /** The digest of the rows delivered since the last take (an empty result's when none), and starts a new one. */
  takeDigest(): DeliveredRows {
    const d = (this.#digest ?? createRowDigest()).finish();
    const c = this.#capture;
    this.#digest = null;
    this.#capture = null;
    return c ? { ...d, captured: { columns: c.columns, rows: c.rows, truncated: c.truncated } } : { ...d, captured: null };
  }

  /** One DataRow body as the client gets it (buf[start, end)): into the statement's digest and, while it fits, its kept rows. */
  #delivered(buf: Buffer, start: number, end: number): void {
    if (!this.#digest) {
      this.#digest = createRowDigest();
      this.#capture = this.#captureFor();
    }
    this.#digest.framedAt(buf, start, end); // offsets, not a subarray per row (~40 ns each)
    const c = this.#capture;
    if (!c || c.truncated) return;
    const size = end - start;
    if (c.rows.length >= c.maxRows || c.bytes + size > c.maxBytes) {
      c.truncated = true;
      return;
    }
    const body = buf.subarray(start, end); // a row kept for evidence is read within its own bounds
    const row: (string | null)[] = [];
    const count = body.readUInt16BE(0);
    let p = 2;
    for (let i = 0; i < count; i++) {
      const len = body.readInt32BE(p);
      row.push(len < 0 ? null : body.toString('utf8', p + 4, p + 4 + len));
      p += 4 + Math.max(len, 0);
    }
    c.rows.push(row);
    c.bytes += size;
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
    const limits = verdict?.decisions[index]?.capture_rows;
    if (!verdict || !limits) return null;
    const a = executedStatement(verdict.statements[index]!);
    return { columns: a.result_columns.map((c) => c.name), rows: [], bytes: 0, maxRows: limits.max_rows, maxBytes: limits.max_bytes, truncated: false };
  }

  /** The plan for a DataRow now arriving (null = verbatim); throws when no unit can own it. */
  #rowPlan(): RowPlan | null {
    this.#dropIgnoredSyncs();
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

  /** A response that is not ReadyForQuery: Syncs forwarded during copy-in still at the head were ignored. */
  #dropIgnoredSyncs(): void {
    let head = this.units[0];
    while (head?.type === 'sync' && head.conditional) {
      this.units.shift();
      head = this.units[0];
    }
  }

  /** The COPY ended where the server had surely read every Sync forwarded during it: they were all ignored. */
  #dropConditionalSyncs(): void {
    for (let i = this.units.length - 1; i >= 0; i--) {
      const u = this.units[i]!;
      if (u.type === 'sync' && u.conditional) this.units.splice(i, 1);
    }
  }

  /** Answers to the gateway's own query: dropped; rows and an error are kept for it. */
  #internal(u: InternalUnit, type: number, buf: Buffer, start: number, end: number): Buffer | null | undefined {
    switch (type) {
      case BackendCode.NoticeResponse:
      case BackendCode.ParameterStatus:
      case BackendCode.NotificationResponse:
        return type === BackendCode.ParameterStatus ? this.#onMessageCore(type, buf, start, end) : null;
      case BackendCode.DataRow: {
        const count = buf.readUInt16BE(start + 5);
        const row: (string | null)[] = [];
        let p = start + 7;
        for (let i = 0; i < count; i++) {
          const len = buf.readInt32BE(p);
          row.push(len < 0 ? null : buf.toString('utf8', p + 4, p + 4 + len));
          p += 4 + Math.max(len, 0);
        }
        u.rows.push(row);
        return null;
      }
      case BackendCode.ErrorResponse:
        u.error = Buffer.from(buf.subarray(start, end));
        if (u.until !== 'ready') {
          // Extended messages: the server now skips to the client's Sync, so the client's next units go too.
          this.units.shift();
          if (this.units.length === 0) this.#ignoreTillSync = true;
          u.onDone(u);
        }
        return null;
      case BackendCode.ReadyForQuery:
        if (u.until !== 'ready') throw new SessionModelBreach('the server was ready for the next query inside the gateway’s own measurement');
        this.status = String.fromCharCode(buf[start + 5]!) as 'I' | 'T' | 'E';
        this.units.shift();
        u.onDone(u);
        return null;
      case BackendCode.ParseComplete:
      case BackendCode.BindComplete:
      case BackendCode.CommandComplete:
      case BackendCode.CloseComplete:
        if (typeof u.until === 'number' && --u.until === 0) {
          this.units.shift();
          u.onDone(u);
        }
        return null;
      case BackendCode.RowDescription:
        return null;
      default:
        throw new SessionModelBreach(`the server sent message type 0x${type.toString(16)} to the gateway’s own measurement`);
    }
  }

  /** undefined = forward as is; null = drop; a Buffer = send this instead. */
  #onMessage(type: number, buf: Buffer, start: number, end: number): Buffer | null | undefined {
    const first = this.units[0];
    if (first?.type === 'internal') return this.#internal(first, type, buf, start, end);
    return this.#onMessageCore(type, buf, start, end);
  }

  #onMessageCore(type: number, buf: Buffer, start: number, end: number): Buffer | null | undefined {
    if (type !== BackendCode.ReadyForQuery && type !== BackendCode.NoticeResponse && type !== BackendCode.ParameterStatus && type !== BackendCode.NotificationResponse) {
      this.#dropIgnoredSyncs();
    }
    const head = this.units[0];
    switch (type) {
      case BackendCode.ReadyForQuery: {
        this.status = String.fromCharCode(buf[start + 5]!) as 'I' | 'T' | 'E';
        // The head Query, or the head Sync, is answered now. Of a run of Syncs at the head, those forwarded
        // during copy-in may have been ignored (they come first): the plain Sync behind them is surely answered,
        // so it goes first; ignored ones left at the head are dropped by the next other response.
        let afterQuery = false;
        const u = this.units[0];
        if (u?.type === 'query') {
          this.units.shift();
          if (u.sent !== undefined) this.upstreamSeconds?.observe((performance.now() - u.sent) / 1000);
          u.onDone?.(this.#tags, this.#sqlstate);
          afterQuery = true;
        } else if (u?.type === 'sync') {
          let i = 0;
          while (i < this.units.length && this.units[i]!.type === 'sync' && (this.units[i] as { conditional?: boolean }).conditional) i++;
          const [answered] = this.units.splice(i < this.units.length && this.units[i]!.type === 'sync' ? i : 0, 1);
          const sent = (answered as { sent?: number }).sent;
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
        this.#digest = null;
        this.#capture = null;
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
          this.copyIn = false;
          this.copyEnds++;
          const message = errorField(buf, start, end, ErrorField.Message) ?? '';
          if (sqlstate === '57014' && message.startsWith('COPY from stdin failed:')) {
            // The server read a CopyFail in copy-in mode, so every Sync before it was ignored.
            this.#dropConditionalSyncs();
            const code = this.copyAborted;
            if (code !== null && message.includes(ResponseTracker.ABORT_MARKER)) {
              this.copyAbortConsumed = true;
              // As PostgreSQL answers a non-COPY message in copy-in mode (copyfromparse.c).
              sqlstate = SqlState.ProtocolViolation;
              rewritten = new BackendWriter(256)
                .errorResponse({ severity: 'ERROR', code: sqlstate, message: `unexpected message type 0x${code.toString(16).padStart(2, '0')} during COPY from stdin` })
                .errorResponse(protocolViolation('terminating connection because protocol synchronization was lost'))
                .flush();
              this.lostSync = true;
            }
          }
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
        while (this.units.length && this.units[0]!.type !== 'sync') {
          const skipped = this.units.shift()!;
          if (skipped.type === 'execute') skipped.onDone?.(null, null, null);
          else if (skipped.type === 'query') skipped.onDone?.([], null);
        }
        if (this.units.length === 0) this.#ignoreTillSync = true;
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
        if (head?.type !== 'parse' || !head.entry) throw new SessionModelBreach('the server confirmed a Parse the gateway did not send or refused');
        this.units.shift();
        this.model.parsed(head.name, head.entry);
        return undefined;
      case BackendCode.BindComplete:
        if (head?.type !== 'bind' || !head.entry) throw new SessionModelBreach('the server confirmed a Bind the gateway did not send or refused');
        if (head.statement && head.from !== undefined) {
          // The plan was made for the statement the session expected under that name: it must be the one bound.
          const held = this.model.statements.get(head.from);
          if (!held || held.verdict !== head.statement.verdict || held.index !== head.statement.index) {
            throw new SessionModelBreach(`the server bound prepared statement "${head.from}", which is not the one the gateway decided on`);
          }
        }
        this.units.shift();
        this.model.bound(head.portal, head.entry);
        return undefined;
      case BackendCode.CloseComplete:
        if (head?.type !== 'close') throw new SessionModelBreach('the server confirmed a Close the gateway did not send');
        this.units.shift();
        this.model.closed(head.target, head.name);
        return undefined;
      case BackendCode.NoData:
        if (head?.type !== 'describe') throw new SessionModelBreach('the server sent NoData for no Describe');
        this.units.shift();
        return undefined;
      case BackendCode.ParameterDescription:
        if (head?.type !== 'describe' || head.target !== 'S') throw new SessionModelBreach('the server sent ParameterDescription for no Describe of a statement');
        return undefined; // Describe 'S' continues with RowDescription or NoData
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
      case BackendCode.CopyOutResponse: {
        const direction = type === BackendCode.CopyInResponse ? 'from' : 'to';
        const copy = this.#currentCopy();
        if (!copy || copy.direction !== direction || (copy.target !== 'stdin' && copy.target !== 'stdout')) {
          throw new SessionModelBreach(`the server started COPY ${direction === 'from' ? 'FROM STDIN' : 'TO STDOUT'} for a statement the gateway did not decide as one`);
        }
        if (direction === 'from') {
          this.copyIn = true;
          this.copyStarts++;
        }
        return undefined;
      }
      case BackendCode.CopyData:
      case BackendCode.CopyDone:
        // COPY TO with a masked column is refused before it runs (session); rows of allowed COPYs pass.
        return undefined;
      case BackendCode.CommandComplete:
      case BackendCode.EmptyQueryResponse:
      case BackendCode.PortalSuspended: {
        if (type === BackendCode.CommandComplete && (this.copyIn || this.#copyEnding())) {
          this.#dropConditionalSyncs(); // CopyDone was read in copy-in mode
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
              this.#checkTag(a, tag);
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
          this.#checkTag(a, tag);
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

  /** A CommandComplete that reports writes the analysis did not expect is a breach of the model. */
  #checkTag(a: StatementAnalysis, tag: string): void {
    const space = tag.indexOf(' ');
    const word = space < 0 ? tag : tag.slice(0, space);
    const kind = WRITE_TAGS[word];
    if (!kind || a.kind === kind) return;
    if (a.command === 'EXECUTE' && a.name !== null) {
      const s = this.model.statements.get(a.name);
      // A SQL PREPARE's own kind is utility; what EXECUTE runs is the statement inside it.
      if (s && executedStatement(s.verdict.statements[s.index]!).kind === kind) return;
    }
    throw new SessionModelBreach(`the server reported "${tag}" for a statement the gateway decided as ${a.command}`);
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
