// Frames the upstream's backend messages and pairs each response with the client message that caused it
// (a FIFO of units), so the gateway can replace a stand-in's error with its denial, mask DataRows, and
// know the transaction status — while forwarding every byte it does not change untouched, chunk by chunk.
// Response rules: https://www.postgresql.org/docs/current/protocol-flow.html

/** How one result column is masked; null = passed through. */
export type ColumnMask = ((value: string) => string | null) | null;

/** What the DataRows of one result set need: a mask per column, or a reason the rows cannot be sent. */
export interface RowPlan {
  masks: ColumnMask[];
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
  | { type: 'describe'; target: 'S' | 'P' }
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
    let out: Buffer[] | null = null;
    let copiedUpTo = 0;
    let pos = 0;
    const n = buf.length;
    while (pos + 5 <= n) {
      const type = buf[pos]!;
      const len = buf.readUInt32BE(pos + 1);
      const end = pos + 1 + len;
      if (end > n) break;
      const replacement = this.#onMessage(type, buf, pos, end);
      if (replacement !== undefined) {
        out ??= [];
        if (pos > copiedUpTo) out.push(buf.subarray(copiedUpTo, pos));
        if (replacement) out.push(replacement);
        copiedUpTo = end;
      }
      pos = end;
    }
    if (pos < n) this.#pending = Buffer.from(buf.subarray(pos));
    if (!out) return pos === n ? buf : buf.subarray(0, pos);
    if (pos > copiedUpTo) out.push(buf.subarray(copiedUpTo, pos));
    if (this.idle && this.onIdle) queueMicrotask(() => this.idle && this.onIdle?.());
    return Buffer.concat(out);
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
      case B.RowDescription:
        if (head?.type === 'describe') this.units.shift();
        return undefined;
      case B.DataRow:
        return this.#dataRow(buf, start, end);
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

  #dataRow(buf: Buffer, start: number, end: number): Buffer | undefined {
    const plan = this.#plan();
    if (!plan) return undefined;
    return rewriteDataRow(buf, start, end, plan);
  }
}

/**
 * Rewrites one DataRow: unmasked column bytes are copied verbatim, masked ones replaced.
 * A row whose column count differs from the plan's is sent with every value NULL (fail closed).
 */
export function rewriteDataRow(buf: Buffer, start: number, end: number, plan: RowPlan): Buffer {
  const count = buf.readUInt16BE(start + 5);
  const parts: Buffer[] = [];
  let size = 7;
  let p = start + 7;
  const safe = count === plan.masks.length;
  for (let i = 0; i < count; i++) {
    const len = buf.readInt32BE(p);
    const valueStart = p + 4;
    const valueEnd = len < 0 ? valueStart : valueStart + len;
    const mask = safe ? plan.masks[i]! : nullMask;
    if (!mask || len < 0) {
      parts.push(buf.subarray(p, valueEnd));
      size += valueEnd - p;
    } else {
      const binary = (plan.formats.length === 1 ? plan.formats[0] : plan.formats[i]) === 1;
      const masked = binary ? null : mask(buf.toString('utf8', valueStart, valueEnd));
      const header = Buffer.allocUnsafe(4);
      if (masked === null) {
        header.writeInt32BE(-1);
        parts.push(header);
        size += 4;
      } else {
        const value = Buffer.from(masked, 'utf8');
        header.writeInt32BE(value.length);
        parts.push(header, value);
        size += 4 + value.length;
      }
    }
    p = valueEnd;
  }
  if (p !== end) throw new Error('DataRow length does not match its columns');
  const out = Buffer.allocUnsafe(size); // size counts the type byte; the length field does not
  out[0] = B.DataRow;
  out.writeUInt32BE(size - 1, 1);
  out.writeUInt16BE(count, 5);
  let o = 7;
  for (const part of parts) o += part.copy(out, o);
  return out;
}

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
