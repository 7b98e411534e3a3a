// What a stream has left open at its head: whether the gateway is running, its sessions without a
// session_end, and its held approval requests without an outcome. After an unclean stop, the writer closes
// them on the next start (docs/evidence-format.md § Unclean stops).
import type { EvidenceEvent } from './events.ts';

/** The open things of a stream, as of line `seq`. JSON-serializable (the spool keeps it beside its head). */
export interface OpenState {
  /** The seq of the last line observed. */
  seq: number;
  /** The ts of the last line observed ('' before the first). */
  lastTs: string;
  /** The gateway_start of the running gateway (seq and ts), null once it recorded its gateway_stop. */
  running: { seq: number; ts: string } | null;
  /** Sessions started and not ended: session id → start ts and statements recorded so far. */
  sessions: Record<string, { since: string; statements: number }>;
  /** Approval requests a client waits on (mode hold) with no outcome yet: request id → session id. */
  held: Record<string, { session_id: string | null }>;
}

/** The state of an empty stream. */
export function emptyOpenState(): OpenState {
  return { seq: 0, lastTs: '', running: null, sessions: {}, held: {} };
}

/**
 * Moves the state past one line. Cheap for the lines that change nothing (results, most events).
 *
 * @example
 * const state = emptyOpenState(); for (const r of records) observeRecord(state, r)
 */
export function observeRecord(state: OpenState, r: { seq: number; ts: string } & EvidenceEvent): void {
  state.seq = r.seq;
  state.lastTs = r.ts;
  switch (r.type) {
    case 'statement': {
      const s = state.sessions[r.data.session_id];
      if (s) s.statements++;
      break;
    }
    case 'session_start':
      state.sessions[r.data.session_id] = { since: r.ts, statements: 0 };
      break;
    case 'session_end':
      delete state.sessions[r.data.session_id];
      break;
    case 'approval_requested':
      if (r.data.mode === 'hold') state.held[r.data.request_id] = { session_id: r.data.session_id };
      break;
    case 'approval_granted':
    case 'approval_rejected':
    case 'approval_expired':
    case 'approval_withdrawn':
      delete state.held[r.data.request_id];
      break;
    case 'gateway_start':
      state.running = { seq: r.seq, ts: r.ts };
      break;
    case 'gateway_stop':
    case 'gateway_unclean_stop':
      state.running = null;
      break;
  }
}

/**
 * The events that close what an unclean stop left open: one `gateway_unclean_stop`, a `session_end` per
 * open session and an `approval_withdrawn` per held request, each saying why. Empty when the last run
 * stopped cleanly.
 *
 * @example
 * for (const e of closingEvents(state, 'the process was killed')) writer.append(e, now)
 */
export function closingEvents(state: OpenState, detail: string): EvidenceEvent[] {
  if (!state.running) return [];
  const sessions = Object.entries(state.sessions);
  const held = Object.entries(state.held);
  const out: EvidenceEvent[] = [
    {
      type: 'gateway_unclean_stop',
      data: {
        started_seq: state.running.seq,
        last_seq: state.seq,
        last_ts: state.lastTs || null,
        open_sessions: sessions.length,
        held_approvals: held.length,
        detail,
      },
    },
  ];
  const lastMs = Date.parse(state.lastTs);
  for (const [session_id, s] of sessions)
    out.push({
      type: 'session_end',
      data: { session_id, reason: 'gateway_unclean_stop', statements: s.statements, duration_ms: Math.max(0, lastMs - Date.parse(s.since)) || 0 },
    });
  for (const [request_id, h] of held)
    out.push({
      type: 'approval_withdrawn',
      data: { request_id, by: null, reason: `gateway_unclean_stop: the client waiting on it${h.session_id ? ` (session ${h.session_id})` : ''} was disconnected; it will not run` },
    });
  return out;
}
