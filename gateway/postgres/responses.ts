// Frames the upstream's backend messages and pairs each response with the client message that caused it
// (a FIFO of units), so the gateway can replace a stand-in's error with its denial, mask DataRows, and
// know the transaction status — while forwarding every byte it does not change untouched, chunk by chunk.
// Response rules: https://www.postgresql.org/docs/current/protocol-flow.html
import type { MaskFn } from '../../engine/masking/methods.ts';

/** How one result column is masked; null = passed through. */
export type ColumnMask = MaskFn | null;

/** What the DataRows of one result set need: a mask per column, or a reason the rows cannot be sent. */
export interface RowPlan {
  masks: ColumnMask[];
  /**
   * Ground truth: masks by the column origin RowDescription reports (`tableOid:attnum`), for every column
   * the decision masks. A result column the analysis traced elsewhere but the server says comes from a
   * masked column is masked anyway.
   */
  byOrigin?: ReadonlyMap<string, MaskFn>;
  /** Per column: 0 text, 1 binary (from Bind's result formats); masked binary values become NULL. */
  formats: readonly number[];
}

export interface ErrorReplacement {
  /** ErrorResponse bytes sent instead of the upstream's error for this unit. */
  bytes: Buffer;
}

/** One client message (or Query) whose responses are still to come, in order. */
export type Unit =
  | { type: 'parse'; denial?: ErrorReplacement }
  | { type: 'bind'; denial?: ErrorReplacement }
  | { type: 'describe'; target: 'S' | 'P'; plan?: RowPlan | null }
  | { type: 'close' }
  | {
      type: 'execute';
      plan: RowPlan | null;
      /** Error and notice text is withheld: the statement touches columns masked for this identity. */
      scrub?: boolean;
      onDone?: (tag: string | null, error: boolean) => void;
    }
  | { type: 'sync' }
  | {
      type: 'query';
      /** One per statement, in order; null = no masking for that statement's rows. */
      plans: (RowPlan | null)[];
      /** Per statement: withhold error and notice text (the statement touches masked columns). */
      scrub?: boolean[];
      denial?: ErrorReplacement;
      onDone?: (tags: string[], error: boolean) => void;
    };

const enum B {
  ParseComplete = 0x31, // '1'
  BindComplete = 0x32, // '2'
  CloseComplete = 0x33, // '3'
  CommandComplete = 0x43, // 'C'
  DataRow = 0x44, // 'D'
  ErrorResponse = 0x45, // 'E'
  CopyInResponse = 0x47, // 'G'
  CopyOutResponse = 0x48, // 'H'
  EmptyQueryResponse = 0x49, // 'I'
  NoData = 0x6e, // 'n'
  PortalSuspended = 0x73, // 's'
  ParameterDescription = 0x74, // 't'
  RowDescription = 0x54, // 'T'
  ReadyForQuery = 0x5a, // 'Z'
  CopyData = 0x64, // 'd'
  CopyDone = 0x63, // 'c'
  CopyBothResponse = 0x57, // 'W'
  NoticeResponse = 0x4e, // 'N'
}

export class ResponseTracker {
  readonly units: Unit[] = [];
  /** Transaction status from the last ReadyForQuery: I idle, T in a transaction, E failed transaction. */
  status: 'I' | 'T' | 'E' = 'I';
  /** Index of the current statement within the head query unit. */
  #stmt = 0;
  #tags: string[] = [];
  /** After an error in an extended-protocol batch the server skips everything up to Sync. */
  #skipping = false;
  #copyOut = false;
  #pending: Buffer | null = null;
  /** Called when the queue drains (the upstream owes no more responses). */
  onIdle: (() => void) | null = null;

  get idle(): boolean {
    return this.units.length === 0 && this.#pending === null;
  }

  push(unit: Unit): void {
    this.units.push(unit);
  }

  /**
   * Consumes one chunk from the upstream; returns the bytes for the client (the same Buffer when
   * nothing in it had to change). Incomplete trailing messages are kept for the next chunk.
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
    while (pos + 5 <= n) {
      const type = buf[pos]!;
      const len = buf.readUInt32BE(pos + 1);
      const end = pos + 1 + len;
      if (end > n) break;
      if (type === B.DataRow) {
        const plan = this.#plan();
        if (plan) {
          const size = dataRowSize(buf, pos, end, plan);
          out = reserve(out, o, pos - copiedUpTo + size, n);
          o += buf.copy(out, o, copiedUpTo, pos);
          o = writeDataRow(buf, pos, end, plan, out, o, size);
          copiedUpTo = end;
        }
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
    }
    if (pos < n) this.#pending = Buffer.from(buf.subarray(pos));
    if (!out) return pos === n ? buf : buf.subarray(0, pos);
    out = reserve(out, o, pos - copiedUpTo, n);
    o += buf.copy(out, o, copiedUpTo, pos);
    if (this.idle && this.onIdle) queueMicrotask(() => this.idle && this.onIdle?.());
    return out.subarray(0, o);
  }

  /** undefined = forward as is; null = drop; a Buffer = send this instead. */
  #onMessage(type: number, buf: Buffer, start: number, end: number): Buffer | null | undefined {
    const head = this.units[0];
    switch (type) {
      case B.ReadyForQuery: {
        this.status = String.fromCharCode(buf[start + 5]!) as 'I' | 'T' | 'E';
        // Everything up to and including the batch's Sync (or the Query) is answered now.
        while (this.units.length) {
          const u = this.units.shift()!;
          if (u.type === 'query') {
            u.onDone?.(this.#tags, this.#skipping);
            break;
          }
          if (u.type === 'sync') break;
        }
        this.#stmt = 0;
        this.#tags = [];
        this.#skipping = false;
        this.#copyOut = false;
        // Only when someone waits (untilIdle sets onIdle only while not idle): a microtask and a closure per
        // ReadyForQuery otherwise (~0.5 µs per transaction, perf on bench:gateway).
        if (this.units.length === 0 && this.onIdle) queueMicrotask(() => this.idle && this.onIdle?.());
        return undefined;
      }
      case B.ErrorResponse: {
        if (!head) return undefined;
        this.#copyOut = false;
        if (head.type === 'query') {
          this.#skipping = true; // the rest of the string is not run
          if (head.denial) return head.denial.bytes;
          return head.scrub?.[this.#stmt] ? scrubbed(buf, start, end) : undefined;
        }
        // Extended protocol: the failing unit and everything queued before Sync produce nothing more.
        const failed = this.units.shift()!;
        if (failed.type === 'execute') failed.onDone?.(null, true);
        while (this.units.length && this.units[0]!.type !== 'sync') this.units.shift();
        this.#skipping = true;
        if ((failed.type === 'parse' || failed.type === 'bind') && failed.denial) return failed.denial.bytes;
        return failed.type === 'execute' && failed.scrub ? scrubbed(buf, start, end) : undefined;
      }
      case B.NoticeResponse: {
        // RAISE NOTICE and friends can echo values the rows had masked.
        const scrub = head?.type === 'query' ? head.scrub?.[this.#stmt] : head?.type === 'execute' ? head.scrub : false;
        return scrub ? scrubbed(buf, start, end) : undefined;
      }
      case B.ParseComplete:
      case B.BindComplete:
      case B.CloseComplete:
      case B.NoData:
        this.units.shift();
        return undefined;
      case B.ParameterDescription:
        return undefined; // Describe 'S' continues with RowDescription or NoData
      case B.RowDescription: {
        // The server's word on where each column comes from overrides the analysis for masked columns.
        const plan = head?.type === 'describe' ? head.plan : this.#plan();
        if (plan?.byOrigin) applyGroundTruth(buf, start, plan);
        if (head?.type === 'describe') this.units.shift();
        return undefined;
      }
      case B.DataRow:
        return undefined; // rewritten in transform() when a plan applies
      case B.CopyOutResponse:
      case B.CopyBothResponse:
        this.#copyOut = true;
        return undefined;
      case B.CopyData:
        // COPY TO with a masked column is refused before it runs (session); rows of allowed COPYs pass.
        return undefined;
      case B.CommandComplete:
      case B.EmptyQueryResponse:
      case B.PortalSuspended: {
        this.#copyOut = false;
        const tag = type === B.CommandComplete ? buf.toString('utf8', start + 5, end - 1) : '';
        if (head?.type === 'execute') {
          this.units.shift();
          head.onDone?.(tag, false);
        } else if (head?.type === 'query') {
          this.#tags.push(tag);
          this.#stmt++;
        }
        return undefined;
      }
      default:
        return undefined; // NoticeResponse, ParameterStatus, NotificationResponse, CopyInResponse...
    }
  }

  /** The plan for the rows now arriving: the head Execute's, or the current statement's of the head Query. */
  #plan(): RowPlan | null {
    const head = this.units[0];
    if (!head) return null;
    if (head.type === 'execute') return head.plan;
    if (head.type === 'query') return head.plans[this.#stmt] ?? null;
    return null;
  }

}

/**
 * Rewrites one DataRow: unmasked column bytes are copied verbatim, masked ones replaced.
 * A row whose column count differs from the plan's is sent with every value NULL (fail closed).
 */
export function rewriteDataRow(buf: Buffer, start: number, end: number, plan: RowPlan): Buffer {
  const size = dataRowSize(buf, start, end, plan);
  const out = Buffer.allocUnsafe(size);
  writeDataRow(buf, start, end, plan, out, 0, size);
  return out;
}

/**
 * Pass 1: the rewritten row's size, deciding per column how it is written (kept in module scratch arrays
 * for pass 2, which always follows immediately). Masked values are sized in place, byte-level where the
 * method allows; unmasked column bytes are copied verbatim in pass 2.
 */
function dataRowSize(buf: Buffer, start: number, end: number, plan: RowPlan): number {
  const count = buf.readUInt16BE(start + 5);
  const safe = count === plan.masks.length;
  if (kinds.length < count) {
    kinds = new Uint8Array(count * 2);
    sizes = new Int32Array(count * 2);
    texts = new Array(count * 2);
  }
  let size = 7;
  let p = start + 7;
  for (let i = 0; i < count; i++) {
    const len = buf.readInt32BE(p);
    const valueEnd = len < 0 ? p + 4 : p + 4 + len;
    const mask = safe ? plan.masks[i]! : nullMask;
    if (!mask || len < 0) {
      kinds[i] = VERBATIM;
      size += valueEnd - p;
    } else if ((plan.formats.length === 1 ? plan.formats[0] : plan.formats[i]) === 1) {
      kinds[i] = NULL; // binary: no masked form of arbitrary binary encodings, so NULL (documented)
      size += 4;
    } else {
      const n = mask.bytes?.size(buf, p + 4, valueEnd);
      if (n !== undefined) {
        kinds[i] = n < 0 ? NULL : BYTES;
        sizes[i] = n;
        size += n < 0 ? 4 : 4 + n;
      } else {
        const value = mask(buf.toString('utf8', p + 4, valueEnd));
        texts[i] = value;
        kinds[i] = value === null ? NULL : TEXT;
        size += value === null ? 4 : 4 + Buffer.byteLength(value, 'utf8');
      }
    }
    p = valueEnd;
  }
  if (p !== end) throw new Error('DataRow length does not match its columns');
  return size;
}

/** Pass 2: writes the row sized by dataRowSize at out[o]; returns the offset after it. */
function writeDataRow(buf: Buffer, start: number, end: number, plan: RowPlan, out: Buffer, o: number, size: number): number {
  const count = buf.readUInt16BE(start + 5);
  out[o] = B.DataRow;
  out.writeUInt32BE(size - 1, o + 1); // size counts the type byte; the length field does not
  out.writeUInt16BE(count, o + 5);
  o += 7;
  let p = start + 7;
  for (let i = 0; i < count; i++) {
    const len = buf.readInt32BE(p);
    const valueEnd = len < 0 ? p + 4 : p + 4 + len;
    switch (kinds[i]) {
      case VERBATIM:
        o += buf.copy(out, o, p, valueEnd);
        break;
      case NULL:
        out.writeInt32BE(-1, o);
        o += 4;
        break;
      case BYTES: {
        const n = sizes[i]!;
        out.writeInt32BE(n, o);
        plan.masks[i]!.bytes!.write(buf, p + 4, valueEnd, out, o + 4);
        o += 4 + n;
        break;
      }
      default: {
        const n = out.write(texts[i]!, o + 4, 'utf8');
        out.writeInt32BE(n, o);
        o += 4 + n;
      }
    }
    p = valueEnd;
  }
  if (p !== end) throw new Error('DataRow length does not match its columns');
  return o;
}

/** Grows the chunk's output buffer so `need` more bytes fit after `o`. */
function reserve(out: Buffer | null, o: number, need: number, hint: number): Buffer {
  if (out && o + need <= out.length) return out;
  const next = Buffer.allocUnsafe(Math.max(hint + 256, (out?.length ?? 0) * 2, o + need));
  if (out) out.copy(next, 0, 0, o);
  return next;
}

const VERBATIM = 0;
const NULL = 1;
const BYTES = 2;
const TEXT = 3;
/** Reused between rows (one row at a time: the tracker is synchronous). */
let kinds = new Uint8Array(64);
let sizes = new Int32Array(64);
let texts: (string | null)[] = new Array(64);

const nullMask: ColumnMask = () => null;

/**
 * An ErrorResponse/NoticeResponse with every field that can carry data withheld: message, detail, hint,
 * context (where), internal query, and the schema/table/column/constraint names stay out; severity and
 * SQLSTATE stay so clients still branch on them. (A cast error quotes the value: `invalid input syntax
 * for type integer: "123-45-6789"`; a unique violation's DETAIL prints the key.)
 */
export function scrubbed(buf: Buffer, start: number, end: number): Buffer {
  let severity = 'ERROR';
  let code = 'XX000';
  let p = start + 5;
  while (p < end - 1) {
    const field = buf[p]!;
    const stop = buf.indexOf(0, p + 1);
    if (stop < 0 || stop >= end) break;
    const value = buf.toString('utf8', p + 1, stop);
    if (field === 0x56) severity = value; // 'V': non-localized severity
    else if (field === 0x43) code = value; // 'C'
    p = stop + 1;
  }
  const message = `${severity === 'NOTICE' || severity === 'WARNING' || severity === 'INFO' || severity === 'LOG' || severity === 'DEBUG' ? 'a notice' : 'an error'} (SQLSTATE ${code}) whose text Verdict withholds: this statement reads columns masked for you, and the text could contain their values`;
  const parts = [`S${severity}`, `V${severity}`, `C${code}`, `M${message}`].map((f) => Buffer.from(`${f}\0`, 'utf8'));
  const body = Buffer.concat([...parts, Buffer.from([0])]);
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = buf[start]!;
  out.writeUInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** Masks columns whose RowDescription origin (table OID, attribute number) is a masked column. */
export function applyGroundTruth(buf: Buffer, start: number, plan: RowPlan): void {
  const count = buf.readUInt16BE(start + 5);
  let p = start + 7;
  for (let i = 0; i < count; i++) {
    p = buf.indexOf(0, p) + 1; // field name
    const tableOid = buf.readUInt32BE(p);
    const attnum = buf.readInt16BE(p + 4);
    p += 18; // table oid 4, attnum 2, type oid 4, type size 2, type modifier 4, format 2
    if (tableOid === 0) continue;
    const fn = plan.byOrigin!.get(`${tableOid}:${attnum}`);
    if (fn && i < plan.masks.length && !plan.masks[i]) plan.masks[i] = fn;
    else if (fn && i >= plan.masks.length) {
      // The analysis saw fewer columns than the server sends: mask every column (fail closed).
      for (let j = 0; j < plan.masks.length; j++) plan.masks[j] ??= () => null;
    }
  }
}
