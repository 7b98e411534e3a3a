// A raw PostgreSQL v3 wire client for tests: a session directly on PostgreSQL (SCRAM) or through the gateway
// (token as password) that writes any frontend bytes and records every backend message after startup.
import net from 'node:net';
import { serialize } from 'pg-protocol/dist/serializer.js';
import { connectUpstream } from '../upstream/postgres/upstream.ts';
import { bindMessage } from '../upstream/postgres/frontend-messages.ts';

/** Backend message type bytes this client decodes or tests compare. */
export const Backend = {
  ParseComplete: 0x31, // '1'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  DataRow: 0x44, // 'D'
  ErrorResponse: 0x45, // 'E'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  EmptyQueryResponse: 0x49, // 'I'
  BackendKeyData: 0x4b, // 'K'
  NoticeResponse: 0x4e, // 'N'
  Authentication: 0x52, // 'R'
  ParameterStatus: 0x53, // 'S'
  RowDescription: 0x54, // 'T'
  ReadyForQuery: 0x5a, // 'Z'
  CopyDone: 0x63, // 'c'
  CopyData: 0x64, // 'd'
  NoData: 0x6e, // 'n'
  PortalSuspended: 0x73, // 's'
  ParameterDescription: 0x74, // 't'
} as const;

/** One backend message: its type, the whole frame (type byte and length included) and decoded fields. */
export interface BackendFrame {
  type: number;
  /** The type byte as a character, e.g. 'D'. */
  code: string;
  raw: Buffer;
  /** ErrorResponse / NoticeResponse. */
  severity?: string;
  sqlstate?: string;
  message?: string;
  /** CommandComplete. */
  tag?: string;
  /** ReadyForQuery: I, T or E. */
  status?: string;
  /** DataRow: one slice per column, null for SQL NULL. */
  columns?: (Buffer | null)[];
  /** RowDescription: column names and format codes. */
  fields?: { name: string; format: number }[];
}

/**
 * Decodes the fields tests compare from one framed message; `raw` must be exactly one frame.
 *
 * @example
 * decodeFrame(Buffer.from('Z\0\0\0\x05I', 'latin1')).status; // 'I'
 */
export function decodeFrame(raw: Buffer): BackendFrame {
  const type = raw[0]!;
  const frame: BackendFrame = { type, code: String.fromCharCode(type), raw };
  const end = raw.length;
  switch (type) {
    case Backend.ErrorResponse:
    case Backend.NoticeResponse: {
      let p = 5;
      while (p < end && raw[p] !== 0) {
        const field = raw[p]!;
        const stop = raw.indexOf(0, p + 1);
        const value = raw.toString('utf8', p + 1, stop < 0 ? end : stop);
        if (field === 0x56 /* 'V' */ || (field === 0x53 /* 'S' */ && frame.severity === undefined)) frame.severity = value;
        else if (field === 0x43 /* 'C' */) frame.sqlstate = value;
        else if (field === 0x4d /* 'M' */) frame.message = value;
        p = stop < 0 ? end : stop + 1;
      }
      break;
    }
    case Backend.CommandComplete:
      frame.tag = raw.toString('utf8', 5, end - 1);
      break;
    case Backend.ReadyForQuery:
      frame.status = String.fromCharCode(raw[5]!);
      break;
    case Backend.DataRow: {
      const n = raw.readUInt16BE(5);
      const columns: (Buffer | null)[] = [];
      let p = 7;
      for (let i = 0; i < n; i++) {
        const len = raw.readInt32BE(p);
        p += 4;
        if (len < 0) columns.push(null);
        else {
          columns.push(raw.subarray(p, p + len));
          p += len;
        }
      }
      frame.columns = columns;
      break;
    }
    case Backend.RowDescription: {
      const n = raw.readUInt16BE(5);
      const fields: { name: string; format: number }[] = [];
      let p = 7;
      for (let i = 0; i < n; i++) {
        const stop = raw.indexOf(0, p);
        const name = raw.toString('utf8', p, stop);
        p = stop + 1 + 4 + 2 + 4 + 2 + 4; // table oid, attnum, type oid, type size, type modifier
        fields.push({ name, format: raw.readUInt16BE(p) });
        p += 2;
      }
      frame.fields = fields;
      break;
    }
  }
  return frame;
}

/**
 * A short human-readable form of a frame for failure reports.
 *
 * @example
 * describeFrame(frame); // 'E ERROR 22012 division by zero', 'C "SELECT 6"', 'D ["1", "x"]'
 */
export function describeFrame(f: BackendFrame): string {
  switch (f.type) {
    case Backend.ErrorResponse:
    case Backend.NoticeResponse:
      return `${f.code} ${f.severity ?? ''} ${f.sqlstate ?? ''} ${f.message ?? ''}`.replace(/ +/g, ' ');
    case Backend.CommandComplete:
      return `C "${f.tag}"`;
    case Backend.ReadyForQuery:
      return `Z ${f.status}`;
    case Backend.DataRow:
      return `D [${f.columns!.map((c) => (c === null ? 'NULL' : JSON.stringify(c.toString('latin1')))).join(', ')}]`;
    case Backend.RowDescription:
      return `T [${f.fields!.map((x) => `${x.name}${x.format ? ':bin' : ''}`).join(', ')}]`;
    case Backend.CopyData:
      return `d ${JSON.stringify(f.raw.toString('latin1', 5))}`;
    default:
      return f.code;
  }
}

/** How a wait for backend messages ended. */
export type WaitOutcome = 'matched' | 'closed' | 'timeout';

/**
 * One session after startup. Messages are recorded as they arrive; `received` keeps every byte the server
 * sent, startup included, for scans such as "no raw value ever reached the client".
 */
export class WireClient {
  readonly messages: BackendFrame[] = [];
  readonly received: Buffer[] = [];
  closed = false;
  #pending: Buffer = Buffer.alloc(0);
  #wake: (() => void) | null = null;
  readonly #socket: net.Socket;

  constructor(socket: net.Socket, startupBytes: Buffer[], leftover: Buffer) {
    this.#socket = socket;
    this.received.push(...startupBytes);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => undefined); // a reset after the server ended the session: `closed` says so
    socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
    if (leftover.length) this.#onData(leftover);
    socket.resume();
  }

  /** Writes frontend messages in one write, as a pipelining client does. */
  write(...messages: Buffer[]): void {
    if (!this.#socket.destroyed) this.#socket.write(messages.length === 1 ? messages[0]! : Buffer.concat(messages));
  }

  /**
   * Resolves once `done` holds for a newly arrived message, the server closed, or `timeoutMs` passed.
   *
   * @example
   * await c.until((m) => m.type === Backend.ReadyForQuery, 3000);
   */
  async until(done: (m: BackendFrame, all: readonly BackendFrame[]) => boolean, timeoutMs: number): Promise<WaitOutcome> {
    let checked = 0;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (; checked < this.messages.length; checked++) if (done(this.messages[checked]!, this.messages)) return 'matched';
      if (this.closed) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
  }

  /** Sends Terminate (if still open) and closes the socket. */
  close(): void {
    if (!this.#socket.destroyed && !this.closed) this.#socket.end(serialize.end());
    this.#socket.destroySoon();
    setTimeout(() => this.#socket.destroy(), 1000).unref();
  }

  #onData(chunk: Buffer): void {
    this.received.push(chunk);
    // Test traffic is small; one concatenation per chunk keeps the framing obvious.
    const buf = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    let p = 0;
    while (p + 5 <= buf.length) {
      const end = p + 1 + buf.readUInt32BE(p + 1);
      if (end > buf.length) break;
      this.messages.push(decodeFrame(Buffer.from(buf.subarray(p, end))));
      p = end;
    }
    this.#pending = Buffer.from(buf.subarray(p));
    this.#wake?.();
  }
}

/** Where a direct session goes: a PostgreSQL that authenticates with SCRAM (or trust). */
export interface DirectTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  password?: string;
}

/**
 * Opens a session directly on PostgreSQL with the gateway's upstream connector (TLS off, SCRAM).
 *
 * @example
 * const c = await connectDirect(stack.pg); c.write(frontend.query('SELECT 1'));
 */
export async function connectDirect(target: DirectTarget): Promise<WireClient> {
  const up = await connectUpstream({
    name: 'direct',
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    ...(target.password === undefined ? {} : { password: { value: target.password } }),
    tls: { mode: 'disable' },
  });
  return new WireClient(up.socket as net.Socket, [], up.leftover);
}

/** Where a session through the gateway goes: what `stack.client(user)` returns. */
export interface GatewayTarget {
  host: string;
  port: number;
  user: string;
  database: string;
  /** The identity token, sent as the cleartext password. */
  password: string;
}

/**
 * Opens a session through the gateway: startup, the token as cleartext password, then waits for
 * ReadyForQuery. Throws with the server's message if the gateway refuses.
 *
 * @example
 * const c = await connectGateway(await stack.client('bob'));
 */
export function connectGateway(target: GatewayTarget, timeoutMs = 10_000): Promise<WireClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target.port, target.host);
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error(`gateway startup did not finish within ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let p = 0;
      while (p + 5 <= buf.length) {
        const end = p + 1 + buf.readUInt32BE(p + 1);
        if (end > buf.length) break;
        const frame = buf.subarray(p, end);
        p = end;
        switch (frame[0]) {
          case Backend.Authentication:
            if (frame.readInt32BE(5) === 3) socket.write(serialize.password(target.password));
            break;
          case Backend.ErrorResponse:
            return fail(new Error(`gateway refused the session: ${describeFrame(decodeFrame(Buffer.from(frame)))}`));
          case Backend.ReadyForQuery: {
            clearTimeout(timer);
            socket.off('data', onData);
            socket.off('close', onClose);
            socket.pause();
            const leftover = Buffer.from(buf.subarray(p));
            // The bytes after ReadyForQuery belong to the session, not to startup.
            const last = chunks.pop()!;
            const inLast = last.length - leftover.length;
            if (inLast > 0) chunks.push(last.subarray(0, inLast));
            return resolve(new WireClient(socket, chunks, leftover));
          }
        }
      }
      buf = Buffer.from(buf.subarray(p));
    };
    const onClose = () => fail(new Error('the gateway closed the connection during startup'));
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', (err) => fail(err));
    socket.on('connect', () => socket.write(serialize.startup({ user: target.user, database: target.database })));
  });
}

/**
 * Frontend messages, including the ones pg-protocol's serializer cannot express (per-column result formats).
 *
 * @example
 * c.write(frontend.parse('s1', 'SELECT $1::int'), frontend.bind('', 's1', ['7'], [1]), frontend.execute('', 0), frontend.sync());
 */
export const frontend = {
  query: (sql: string): Buffer => serialize.query(sql),
  parse: (name: string, sql: string): Buffer => serialize.parse({ name, text: sql, types: [] }),
  /**
   * Bind with text parameters (null = SQL NULL) and explicit result format codes: [] all text, [1] all binary,
   * or one code per column.
   */
  bind: (portal: string, statement: string, params: (string | null)[], resultFormats: number[]): Buffer =>
    bindMessage(portal, statement, [], params.map((p) => (p === null ? null : Buffer.from(p, 'utf8'))), resultFormats),
  describe: (target: 'S' | 'P', name: string): Buffer => serialize.describe({ type: target, name }),
  execute: (portal: string, maxRows: number): Buffer => serialize.execute({ portal, rows: maxRows }),
  close: (target: 'S' | 'P', name: string): Buffer => serialize.close({ type: target, name }),
  sync: (): Buffer => serialize.sync(),
  flush: (): Buffer => serialize.flush(),
  copyData: (text: string): Buffer => serialize.copyData(Buffer.from(text, 'utf8')),
  copyDone: (): Buffer => serialize.copyDone(),
  copyFail: (reason: string): Buffer => serialize.copyFail(reason),
  terminate: (): Buffer => serialize.end(),
};

// ---- helpers the session tests share ---------------------------------------------------------------

/**
 * Sends the messages in one write, then waits for `readies` more ReadyForQuery messages (or the session's
 * end, or the timeout) and returns what arrived since.
 */
export async function exchange(c: WireClient, messages: Buffer[], readies = 1, timeoutMs = 8_000): Promise<BackendFrame[]> {
  const before = c.messages.length;
  const seen = c.messages.filter((m) => m.type === Backend.ReadyForQuery).length;
  c.write(...messages);
  await c.until((_, all) => all.filter((m) => m.type === Backend.ReadyForQuery).length >= seen + readies, timeoutMs);
  return c.messages.slice(before);
}

/** The SQLSTATEs of the errors among `frames`. */
export const errorsIn = (frames: BackendFrame[]) => frames.filter((m) => m.type === Backend.ErrorResponse).map((m) => m.sqlstate);
/** The messages of the notices among `frames`. */
export const noticesIn = (frames: BackendFrame[]) => frames.filter((m) => m.type === Backend.NoticeResponse).map((m) => m.message ?? '');
/** The DataRows among `frames`, each column as UTF-8 text (null for SQL NULL). */
export const rowsIn = (frames: BackendFrame[]) => frames.filter((m) => m.type === Backend.DataRow).map((m) => (m.columns ?? []).map((v) => (v === null ? null : v.toString('utf8'))));
/** The CommandComplete tags among `frames`. */
export const tagsIn = (frames: BackendFrame[]) => frames.filter((m) => m.type === Backend.CommandComplete).map((m) => m.tag);

/** Which of `secrets` appear anywhere in the bytes the client received. */
export function leaksIn(c: WireClient, secrets: readonly string[]): string[] {
  const all = Buffer.concat(c.received).toString('latin1');
  return secrets.filter((s) => all.includes(s));
}
