// COPY from the server's side, as the response tracker follows it: copy-in mode entered on CopyInResponse, left on
// the COPY's CommandComplete or error, and the gateway's own CopyFail (sent when a client message other than
// CopyData arrived in copy-in mode) answered as PostgreSQL answers that message when the server consumed it.
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { BackendCode, BackendWriter, errorField, ErrorField, protocolViolation, SqlState } from './protocol/index.ts';
import { dropConditionalSyncs, type Unit } from './response-units.ts';
import { SessionModelBreach } from './errors.ts';

/**
 * Text the gateway puts in a CopyFail it sends itself (a client message other than CopyData arrived in copy-in
 * mode). The COPY's error then carries it, and the tracker's `copyAborted` says which message was held back.
 */
export const COPY_ABORT_MARKER = 'verdict: copy-in ended by a non-COPY message';

/** The COPY FROM STDIN state the response tracker keeps in its fields (the session reads and sets them). */
export interface CopyInState {
  readonly units: Unit[];
  copyIn: boolean;
  copyAborted: number | null;
  copyAbortConsumed: boolean;
  copyEnds: number;
  copyStarts: number;
  lostSync: boolean;
}

/**
 * CopyInResponse / CopyOutResponse (`type`): the statement now running must have been decided as that COPY
 * (`copy`, from its analysis), else SessionModelBreach. COPY FROM STDIN puts the server in copy-in mode.
 *
 * @example
 * copyStarted(tracker, BackendCode.CopyInResponse, model.copyOf(analysis)) // tracker.copyIn is now true
 */
export function copyStarted(t: CopyInState, type: number, copy: StatementAnalysis['copy']): void {
  const direction = type === BackendCode.CopyInResponse ? 'from' : 'to';
  if (!copy || copy.direction !== direction || (copy.target !== 'stdin' && copy.target !== 'stdout')) {
    throw new SessionModelBreach(`the server started COPY ${direction === 'from' ? 'FROM STDIN' : 'TO STDOUT'} for a statement the gateway did not decide as one`);
  }
  if (direction === 'from') {
    t.copyIn = true;
    t.copyStarts++;
  }
}

/**
 * The ErrorResponse at buf[start, end), with SQLSTATE `sqlstate`, ended a COPY FROM STDIN that was running or
 * ending. Returns what the client gets instead when the server consumed the gateway's own CopyFail in place of
 * the client's message: PostgreSQL's answer to a non-COPY message in copy-in mode, an ERROR and then the FATAL
 * that ends the session (`lostSync`), both 08P01; undefined otherwise.
 */
export function copyInFailed(t: CopyInState, buf: Buffer, start: number, end: number, sqlstate: string): Buffer | undefined {
  t.copyIn = false;
  t.copyEnds++;
  const message = errorField(buf, start, end, ErrorField.Message) ?? '';
  if (sqlstate !== SqlState.QueryCanceled || !message.startsWith('COPY from stdin failed:')) return undefined;
  // The server read a CopyFail in copy-in mode, so every Sync before it was ignored.
  dropConditionalSyncs(t.units);
  const code = t.copyAborted;
  if (code === null || !message.includes(COPY_ABORT_MARKER)) return undefined;
  t.copyAbortConsumed = true;
  // As PostgreSQL answers a non-COPY message in copy-in mode (copyfromparse.c).
  const reply = new BackendWriter(256)
    .errorResponse({ severity: 'ERROR', code: SqlState.ProtocolViolation, message: `unexpected message type 0x${code.toString(16).padStart(2, '0')} during COPY from stdin` })
    .errorResponse(protocolViolation('terminating connection because protocol synchronization was lost'))
    .flush();
  t.lostSync = true;
  return reply;
}
