// COPY in a PostgreSQL session: the client's messages while the server is in copy-in mode (COPY FROM STDIN),
// which statements start it, and the COPY the gateway refuses (of columns it would have to mask).
// Rules: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-COPY
import type { Verdict } from '../../engine/engine.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import type { FrontendMessage } from './protocol/index.ts';
import { COPY_ABORT_MARKER } from './copy-in.ts';
import type { SessionModel } from './session-model.ts';
import { copyFailMessage } from '../upstream/postgres/frontend-messages.ts';
import { heldCopy, type PostgresSession } from './session-state.ts';

export const maskedCopyMessage = 'Verdict denied this statement: COPY of columns that must be masked is not supported; SELECT the columns instead';

export function copyWithMasks(v: Verdict): boolean {
  return v.statements.some((s, i) => s.kind === 'copy' && v.decisions[i]!.masks.length > 0);
}

/** Whether a statement starts a COPY FROM STDIN (itself, or the prepared statement it EXECUTEs). */
export function copiesIn(model: SessionModel, a: StatementAnalysis): boolean {
  const copy = model.copyOf(a);
  return copy !== null && copy.direction === 'from' && copy.target === 'stdin';
}

/** Client messages while the server is in copy-in mode. */
export function onCopyIn(s: PostgresSession, msg: FrontendMessage): Promise<void> | void {
  const tracker = s.tracker;
  const unit = tracker.units[0];
  const ends = tracker.copyEnds;
  // The COPY has ended (and, in a simple Query, another COPY FROM STDIN started or the Query finished).
  const copyOver = () => tracker.copyEnds > ends && (tracker.copyIn || !unit || !tracker.units.includes(unit));
  switch (msg.type) {
    case 'copyData':
      s.copyDataFor = tracker.copyStarts;
      return s.sendToUpstream(msg.raw);
    case 'flush':
      return s.sendToUpstream(msg.raw);
    case 'sync':
      // Before any data the server surely reads it in copy-in mode and ignores it (libpq sends one right after
      // the Execute of a COPY); after data it is ignored, or answered if the COPY already failed on that data:
      // the tracker resolves which.
      if (s.copyDataFor !== tracker.copyStarts) return;
      tracker.push({ type: 'sync', conditional: true });
      return s.sendToUpstream(msg.raw);
    case 'copyDone':
    case 'copyFail':
      s.sendToUpstream(msg.raw);
      tracker.copyIn = false; // the server leaves copy-in mode on this message
      return s.awaitServer(copyOver);
    case 'terminate':
      return s.terminate(msg.raw);
    default: {
      // PostgreSQL ends the COPY with an error and consumes this message — unless the COPY already failed
      // on its data, when it runs the message as usual. The gateway sends a CopyFail of its own and holds
      // the message until the server says which happened.
      tracker.copyAborted = msg.type === 'startup' ? 0 : (msg.raw[0] ?? 0);
      tracker.copyAbortConsumed = false;
      s.sendToUpstream(copyFailMessage(COPY_ABORT_MARKER));
      tracker.copyIn = false;
      const held = heldCopy(msg);
      const waiting = s.awaitServer(copyOver);
      const then = (): Promise<void> | void => {
        if (tracker.copyAbortConsumed) return;
        return s.onReady(held);
      };
      return waiting ? waiting.then(then) : then();
    }
  }
}
