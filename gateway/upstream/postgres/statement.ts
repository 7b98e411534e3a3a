// Runs one SQL statement at a time on an authenticated upstream connection with the extended query
// protocol (text parameters, text results, row and byte limits). Knows nothing of policy or masking.
import type { BackendMessage, CommandCompleteMessage, DatabaseError, DataRowMessage, NoticeMessage, ParameterStatusMessage, ReadyForQueryMessage, RowDescriptionMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';
import { serialize } from 'pg-protocol/dist/serializer.js';
import { StatementError, UpstreamError } from './errors.ts';
import type { UpstreamConnection } from './upstream.ts';

/** One RowDescription field. `tableOid`/`attnum` are 0 when the column is not a plain table column. */
export interface ResultField { name: string; tableOid: number; attnum: number; typeOid: number }

export interface StatementResult {
  /** RowDescription's fields; null when the statement returns no rows (NoData). */
  fields: ResultField[] | null;
  /** Text-format values, at most `maxRows` rows. */
  rows: (string | null)[][];
  /** CommandComplete tag ('SELECT 3', 'DELETE 1'); '' when the row limit cut the result (PortalSuspended) or the statement was empty. */
  tag: string;
  /** true when more rows existed than maxRows (PortalSuspended), or maxBytes was reached. */
  truncated: boolean;
  /** NoticeResponse messages' text, in order. */
  notices: string[];
  /** ReadyForQuery's transaction status after the statement: 'I' | 'T' | 'E'. */
  status: 'I' | 'T' | 'E';
}

export interface SessionOptions {
  /** Sees every ParameterStatus (e.g. after SET), whenever it arrives. If it throws, the session fails closed. */
  onParameterStatus?: (name: string, value: string) => void;
  /** Sends a CancelRequest for this connection, e.g. `() => cancelUpstream(target, conn.processId, conn.secretKey)`. */
  cancel?: () => Promise<void>;
}

export interface RunOptions {
  /** At most this many rows are returned; 0 or absent: all. */
  maxRows?: number;
  /** Once the returned values' UTF-8 bytes would exceed this, no more rows are kept. Default: no limit. */
  maxBytes?: number;
  /** Parameter type OIDs for Parse; 0 or absent: the server infers the type. */
  types?: readonly number[];
  signal?: AbortSignal;
}

/** Which reply the running statement waits for; after an ErrorResponse the server skips to Sync. */
const Step = { Parse: 'ParseComplete', Bind: 'BindComplete', Describe: 'RowDescription/NoData', Execute: 'CommandComplete', Sync: 'ReadyForQuery' } as const;
type Step = (typeof Step)[keyof typeof Step];

interface InFlight {
  step: Step;
  result: StatementResult;
  error: DatabaseError | null;
  maxRows: number;
  maxBytes: number;
  bytes: number;
  resolve(r: StatementResult): void;
  reject(e: Error): void;
}

/** Execute's row count is an Int32 and we ask for one row more than the limit. */
const MAX_ROWS_LIMIT = 0x7fff_fffe;

/**
 * One upstream connection driven statement by statement. Takes over `conn.socket` (idle, as connectUpstream
 * or setupQuery leave it) for the connection's lifetime; `conn.leftover` is read first.
 *
 * @example
 * const up = await connectUpstream(target);
 * const session = new UpstreamSession(up, { cancel: () => cancelUpstream(target, up.processId, up.secretKey) });
 * const { fields, rows } = await session.run('SELECT name FROM people WHERE id = $1', ['7'], { maxRows: 100 });
 */
export class UpstreamSession {
  readonly #conn: UpstreamConnection;
  readonly #opts: SessionOptions;
  readonly #parser = new Parser(); // one for the connection's lifetime: messages span chunks
  #tail: Promise<unknown> = Promise.resolve();
  #inFlight: InFlight | null = null;
  #status: 'I' | 'T' | 'E' = 'I';
  #closed = false;

  constructor(conn: UpstreamConnection, opts: SessionOptions = {}) {
    this.#conn = conn;
    this.#opts = opts;
    conn.socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    conn.socket.on('error', (err) => this.#fail(new UpstreamError('CONNECT_FAILED', `upstream connection failed: ${err.message}`, { cause: err })));
    conn.socket.on('close', () => {
      const e = this.#inFlight?.error; // a FATAL ErrorResponse comes right before the server closes
      this.#fail(e ? new UpstreamError('SERVER_ERROR', `the upstream ended the session: ${e.severity} ${e.code}: ${e.message}`, { sqlstate: e.code! }) : new UpstreamError('CONNECT_FAILED', 'the upstream closed the connection'));
    });
    const leftover = conn.leftover;
    conn.leftover = Buffer.alloc(0);
    if (leftover.length) this.#onData(leftover);
    conn.socket.resume();
  }

  /** Transaction status from the last ReadyForQuery ('I' after connect). */
  get status(): 'I' | 'T' | 'E' {
    return this.#status;
  }

  /** true once the socket closed or failed, or close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends Terminate and ends the socket (conn.close()); a running statement rejects with UpstreamError. */
  close(): void {
    this.#fail(new UpstreamError('CONNECT_FAILED', 'the upstream session was closed'));
  }

  /**
   * Runs one statement (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY):
   * Parse (unnamed) / Bind (unnamed portal, text parameters, text results) / Describe portal /
   * Execute (maxRows + 1 rows, so that exactly maxRows rows is not "truncated"; 0 = all) / Sync. The server
   * refuses several commands in one string (42601). Calls are serialized: one starts after the previous
   * one's ReadyForQuery. A row limit does not stop INSERT/UPDATE/DELETE … RETURNING from finishing.
   *
   * `signal` aborted before the statement is sent: rejects with `signal.reason`, nothing sent. Aborted while
   * it runs: calls `cancel()` (the statement then fails with StatementError 57014, unless it finished first),
   * and the next run waits for cancel() so a late CancelRequest cannot hit it. Without `cancel`, or when
   * cancel() fails, the connection is closed and the run rejects with UpstreamError.
   *
   * Rejects with StatementError on an ErrorResponse (once ReadyForQuery arrived, so the connection stays
   * usable; also when the implicit COMMIT at Sync fails after CommandComplete, and for a NUL in `sql`,
   * 22021, which Parse's C string would cut short); with UpstreamError when the connection closes or fails
   * ('CONNECT_FAILED', or 'SERVER_ERROR' with the sqlstate of a FATAL) or the server sends a message the
   * statement cannot produce ('PROTOCOL', e.g. COPY's CopyOutResponse; the connection is then closed).
   *
   * @example
   * const r = await session.run('DELETE FROM t WHERE id = $1', ['3']); // r.tag === 'DELETE 1', r.fields === null
   */
  run(sql: string, params: readonly (string | null)[], opts: RunOptions = {}): Promise<StatementResult> {
    const turn = this.#tail.then(() => this.#exec(sql, params, opts));
    this.#tail = turn.catch(() => {});
    return turn;
  }

  async #exec(sql: string, params: readonly (string | null)[], { maxRows = 0, maxBytes = Infinity, types, signal }: RunOptions): Promise<StatementResult> {
    if (!Number.isInteger(maxRows) || maxRows < 0 || maxRows > MAX_ROWS_LIMIT) throw new RangeError(`maxRows must be an integer in 0..${MAX_ROWS_LIMIT}`);
    if (!(maxBytes >= 0)) throw new RangeError('maxBytes must be a non-negative number');
    signal?.throwIfAborted();
    if (this.#closed) throw new UpstreamError('CONNECT_FAILED', 'the upstream connection is closed');
    if (sql.includes('\0')) throw StatementError.characterNotInRepertoire('the statement text contains a NUL character');
    if (params.length > 0xffff) throw StatementError.tooManyArguments('a statement takes at most 65535 parameters');
    let cancelling: Promise<void> | undefined;
    const onAbort = () => {
      if (!this.#opts.cancel) return this.#fail(new UpstreamError('CONNECT_FAILED', 'statement aborted; with no cancel configured the connection was closed', { cause: signal?.reason }));
      cancelling = this.#opts.cancel().catch((err: unknown) => this.#fail(new UpstreamError('CONNECT_FAILED', 'statement aborted and the cancel request failed; the connection was closed', { cause: err })));
    };
    try {
      return await new Promise<StatementResult>((resolve, reject) => {
        const result: StatementResult = { fields: null, rows: [], tag: '', truncated: false, notices: [], status: this.#status };
        this.#inFlight = { step: Step.Parse, result, error: null, maxRows, maxBytes, bytes: 0, resolve, reject };
        signal?.addEventListener('abort', onAbort, { once: true });
        const socket = this.#conn.socket;
        socket.cork();
        socket.write(serialize.parse({ text: sql, ...(types ? { types: [...types] } : {}) }));
        socket.write(serialize.bind({ values: [...params] }));
        socket.write(serialize.describe({ type: 'P' }));
        socket.write(serialize.execute({ rows: maxRows === 0 ? 0 : maxRows + 1 }));
        socket.write(serialize.sync());
        socket.uncork();
      });
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#inFlight = null;
      await cancelling;
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      this.#parser.parse(chunk, (m) => this.#closed || this.#onMessage(m));
    } catch (err) {
      this.#fail(err instanceof UpstreamError ? err : new UpstreamError('PROTOCOL', `upstream message handling failed: ${(err as Error).message}`, { cause: err }));
    }
  }

  #onMessage(m: BackendMessage): void {
    if (m.name === 'parameterStatus') return this.#opts.onParameterStatus?.((m as ParameterStatusMessage).parameterName, (m as ParameterStatusMessage).parameterValue);
    const f = this.#inFlight;
    // Both may come at any time ("outside activity", protocol-flow.html#PROTOCOL-ASYNC); a statement keeps its notices.
    if (m.name === 'notification' || (m.name === 'notice' && !f)) return;
    const e = m as DatabaseError;
    // pg-protocol turns an unknown message type into an 'error' without a code; a real ErrorResponse always has one.
    if (m.name === 'error' && !e.code) throw new UpstreamError('PROTOCOL', `upstream sent an undecodable message (${e.message})`);
    if (m.name === 'error' && !f) throw new UpstreamError('SERVER_ERROR', `the upstream ended the session: ${e.severity} ${e.code}: ${e.message}`, { sqlstate: e.code! });
    if (!f) throw unexpected(m, 'between statements');
    const r = f.result;
    const advance = (from: Step, to: Step) => {
      if (f.step !== from || (m.name === 'dataRow' && !r.fields)) throw unexpected(m, `while waiting for ${f.step}`);
      f.step = to;
    };
    switch (m.name) {
      case 'notice':
        r.notices.push((m as NoticeMessage).message ?? '');
        return;
      case 'error':
        f.error ??= e;
        f.step = Step.Sync;
        return;
      case 'parseComplete':
        return advance(Step.Parse, Step.Bind);
      case 'bindComplete':
        return advance(Step.Bind, Step.Describe);
      case 'noData':
        return advance(Step.Describe, Step.Execute);
      case 'rowDescription':
        advance(Step.Describe, Step.Execute);
        r.fields = (m as RowDescriptionMessage).fields.map((d) => ({ name: d.name, tableOid: d.tableID, attnum: d.columnID, typeOid: d.dataTypeID }));
        return;
      case 'dataRow': {
        advance(Step.Execute, Step.Execute);
        if (r.truncated) return;
        const values = (m as DataRowMessage).fields as (string | null)[];
        // Value bytes = length - Int32 length - Int16 count - an Int32 length per value: exact, nothing re-encoded.
        f.bytes += m.length - 6 - 4 * values.length;
        if ((f.maxRows > 0 && r.rows.length === f.maxRows) || f.bytes > f.maxBytes) r.truncated = true;
        else r.rows.push(values);
        return;
      }
      case 'commandComplete':
        advance(Step.Execute, Step.Sync);
        r.tag = (m as CommandCompleteMessage).text;
        return;
      case 'emptyQuery':
        return advance(Step.Execute, Step.Sync);
      case 'portalSuspended':
        advance(Step.Execute, Step.Sync);
        r.truncated = true;
        return;
      case 'readyForQuery': {
        const status = (m as ReadyForQueryMessage).status;
        if (status !== 'I' && status !== 'T' && status !== 'E') throw unexpected(m, `with status ${JSON.stringify(status)}`);
        advance(Step.Sync, Step.Sync);
        this.#status = r.status = status;
        this.#inFlight = null;
        return f.error ? f.reject(statementError(f.error)) : f.resolve(r);
      }
      default:
        throw unexpected(m, 'during a statement');
    }
  }

  /** Fails closed: marks the session closed, rejects the running statement, ends the connection. */
  #fail(err: UpstreamError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#inFlight?.reject(err);
    this.#inFlight = null;
    this.#conn.close();
    if (err.code === 'PROTOCOL') this.#conn.socket.destroy();
  }
}

function unexpected(m: BackendMessage, when: string): UpstreamError {
  return new UpstreamError('PROTOCOL', `upstream sent an unexpected ${m.name} ${when}`);
}

function statementError(e: DatabaseError): StatementError {
  return new StatementError(e.code!, e.message, { severity: e.severity, detail: e.detail, hint: e.hint, position: e.position ? Number(e.position) : undefined });
}
