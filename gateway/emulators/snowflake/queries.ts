// Statements in flight and done, for the local Snowflake: query ids, the driver's requestId (retries and
// abort-by-request), status for /monitoring/queries, results kept for /queries/{id}/result, and cancellation.
import { randomUUID } from 'node:crypto';
import type { SnowflakeError } from './errors.ts';
import type { StatementResult } from './sql-engine.ts';

/** Query states as /monitoring/queries reports them (the subset the emulator passes through). */
export type QueryStatus = 'RUNNING' | 'SUCCESS' | 'FAILED_WITH_ERROR' | 'ABORTING' | 'ABORTED';

export interface QueryRecord {
  /** UUID-shaped, as Snowflake's are (snowflake-sdk checks the shape before polling). */
  readonly queryId: string;
  /** The driver's `requestId` URL parameter: abort-request names a statement by it. */
  readonly requestId: string | null;
  readonly sessionId: number;
  readonly user: string;
  readonly sqlText: string;
  readonly asyncExec: boolean;
  readonly startTime: number;
  status: QueryStatus;
  endTime: number | null;
  result: StatementResult | null;
  error: SnowflakeError | null;
  /** Settles (never rejects) when the statement is over, however it ended. */
  readonly done: Promise<void>;
  /** Set when an abort-request reached the statement while it ran. */
  abortRequested: boolean;
  /** Memo for the route layer: the encoded response data (chunks are cut once, so every fetch sees the same). */
  payload?: unknown;
}

interface Entry {
  record: QueryRecord;
  controller: AbortController;
}

/**
 * Every statement of the emulator's lifetime.
 *
 * @example
 * const q = registry.start({ sessionId, user, sqlText, requestId, asyncExec: false }, (signal) => run(signal));
 * if (await registry.waitFor(q, 45_000)) send(q.result);
 */
export class QueryRegistry {
  readonly #byId = new Map<string, Entry>();
  readonly #byRequest = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #retain: number;

  constructor(now: () => number, retain = 10_000) {
    this.#now = now;
    this.#retain = retain;
  }

  all(): QueryRecord[] {
    return [...this.#byId.values()].map((e) => e.record);
  }

  start(
    info: { sessionId: number; user: string; sqlText: string; requestId: string | null; asyncExec: boolean },
    run: (signal: AbortSignal) => Promise<StatementResult>,
  ): QueryRecord {
    const controller = new AbortController();
    let settle!: () => void;
    const done = new Promise<void>((r) => (settle = r));
    const record: QueryRecord = {
      queryId: randomUUID(),
      requestId: info.requestId,
      sessionId: info.sessionId,
      user: info.user,
      sqlText: info.sqlText,
      asyncExec: info.asyncExec,
      startTime: this.#now(),
      status: 'RUNNING',
      endTime: null,
      result: null,
      error: null,
      done,
      abortRequested: false,
    };
    const entry = { record, controller };
    this.#evict();
    this.#byId.set(record.queryId, entry);
    if (info.requestId) this.#byRequest.set(requestKey(info.sessionId, info.requestId), entry);
    run(controller.signal).then(
      (result) => {
        record.result = result;
        record.status = 'SUCCESS';
      },
      (err: SnowflakeError) => {
        record.error = err;
        record.status = record.abortRequested ? 'ABORTED' : 'FAILED_WITH_ERROR';
      },
    ).finally(() => {
      record.endTime = this.#now();
      settle();
    });
    return record;
  }

  /** Forgets the oldest finished statements beyond the retention limit (Maps iterate in insertion order). */
  #evict(): void {
    if (this.#byId.size < this.#retain) return;
    for (const [id, { record }] of this.#byId) {
      if (this.#byId.size < this.#retain) break;
      if (record.endTime === null) continue;
      this.#byId.delete(id);
      if (record.requestId) this.#byRequest.delete(requestKey(record.sessionId, record.requestId));
    }
  }

  byId(queryId: string): QueryRecord | undefined {
    return this.#byId.get(queryId)?.record;
  }

  /** A statement of this session submitted with this requestId (drivers resend the same id on retry). */
  byRequest(sessionId: number, requestId: string): QueryRecord | undefined {
    return this.#byRequest.get(requestKey(sessionId, requestId))?.record;
  }

  /** Cancels a running statement; false when it is not running (Snowflake answers 000605 then). */
  abort(record: QueryRecord): boolean {
    const entry = this.#byId.get(record.queryId);
    if (!entry || record.status !== 'RUNNING') return false;
    record.abortRequested = true;
    record.status = 'ABORTING';
    entry.controller.abort();
    return true;
  }

  /** Cancels whatever a closed session still runs. */
  abortSession(sessionId: number): void {
    for (const { record } of this.#byId.values()) if (record.sessionId === sessionId) this.abort(record);
  }

  /** True once the statement is over, false if `ms` passed first. */
  async waitFor(record: QueryRecord, ms: number): Promise<boolean> {
    if (record.endTime !== null) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
    try {
      return await Promise.race([record.done.then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function requestKey(sessionId: number, requestId: string): string {
  return `${sessionId}/${requestId}`;
}
