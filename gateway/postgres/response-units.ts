// The units of the response tracker's queue: one per client message (or Query) forwarded upstream whose answers
// are still to come, in order, with what the gateway decided for it and whom to tell when it is answered; and
// what the queue itself says (names it will define, Syncs the server ignored, units it skips).
import type { Verdict } from '../../engine/engine.ts';
import type { PortalEntry, Rows, StatementEntry } from './session-model.ts';

export interface ErrorReplacement {
  /** ErrorResponse bytes sent instead of the upstream's error for this unit. */
  bytes: Buffer;
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

/** The server skips `u` (an error came first in its batch): it gets no answer, and its onDone hears so. */
export function skipped(u: Unit): void {
  if (u.type === 'execute') u.onDone?.(null, null, null);
  else if (u.type === 'query') u.onDone?.([], null);
}

/**
 * An extended-protocol error: the server skips every message until the client's next Sync, so the units queued
 * before it are dropped (skipped). Returns whether that Sync is still to come (the queue is empty).
 */
export function skipToSync(units: Unit[]): boolean {
  while (units.length && units[0]!.type !== 'sync') skipped(units.shift()!);
  return units.length === 0;
}

/** Names that messages already forwarded will define once the server confirms them. */
export function pendingNames(units: readonly Unit[]): { statements: Set<string>; portals: Set<string> } {
  const statements = new Set<string>();
  const portals = new Set<string>();
  for (const u of units) {
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

/** A response that is not ReadyForQuery: Syncs forwarded during copy-in still at the head were ignored. */
export function dropIgnoredSyncs(units: Unit[]): void {
  let head = units[0];
  while (head?.type === 'sync' && head.conditional) {
    units.shift();
    head = units[0];
  }
}

/** The COPY ended where the server had surely read every Sync forwarded during it: they were all ignored. */
export function dropConditionalSyncs(units: Unit[]): void {
  for (let i = units.length - 1; i >= 0; i--) {
    const u = units[i]!;
    if (u.type === 'sync' && u.conditional) units.splice(i, 1);
  }
}

/**
 * ReadyForQuery with a Sync at the head: removes and returns the Sync it answers. Of a run of Syncs at the head,
 * those forwarded during copy-in may have been ignored (they come first): the plain Sync behind them is surely
 * answered, so it goes first; ignored ones left at the head are dropped by the next other response.
 */
export function takeAnsweredSync(units: Unit[]): Extract<Unit, { type: 'sync' }> {
  let i = 0;
  while (i < units.length && units[i]!.type === 'sync' && (units[i] as { conditional?: boolean }).conditional) i++;
  const [answered] = units.splice(i < units.length && units[i]!.type === 'sync' ? i : 0, 1);
  return answered as Extract<Unit, { type: 'sync' }>;
}
