// The open state of a stream: which sessions, held approvals and gateway run an unclean stop leaves open, and
// the events that close them.
import { describe, expect, it } from 'vitest';
import type { EvidenceEvent } from './events.ts';
import { sessionEvents } from '../fixtures/evidence.ts';
import { closingEvents, emptyOpenState, observeRecord } from './open-state.ts';

function stateAfter(events: EvidenceEvent[]) {
  const s = emptyOpenState();
  events.forEach((e, i) => observeRecord(s, { ...e, seq: i + 1, ts: new Date(Date.UTC(2026, 0, 5, 10, 0, i)).toISOString() } as never));
  return s;
}
const start: EvidenceEvent = { type: 'gateway_start', data: { instance: 'gw-1', version: '0.1.0' } };
const held = (id: string, mode: string): EvidenceEvent => ({
  type: 'approval_requested',
  data: { request_id: id, session_id: 's-0009', decision_id: 'd', subject_hash: 'h', approvers: [], min_approvals: 1, expires_at: '2026-01-05T11:00:00.000Z', mode },
});

describe('open state', () => {
  it('closes nothing after a clean stop', () => {
    expect(closingEvents(stateAfter([start, ...sessionEvents(1), { type: 'gateway_stop', data: { reason: 'shutdown' } }]), 'x')).toEqual([]);
  });

  it('ends the open sessions (with their statement counts) and withdraws held requests only', () => {
    const open = sessionEvents(2).slice(0, -1); // no session_end
    const s = stateAfter([start, ...sessionEvents(1), ...open, held('req-h', 'hold'), held('req-r', 'rerun'), held('req-b', 'break_glass')]);
    const events = closingEvents(s, 'killed');
    expect(events[0]).toEqual({
      type: 'gateway_unclean_stop',
      data: { started_seq: 1, last_seq: s.seq, last_ts: s.lastTs, open_sessions: 1, held_approvals: 1, detail: 'killed' },
    });
    expect(events[1]).toMatchObject({ type: 'session_end', data: { session_id: 's-0002', reason: 'gateway_unclean_stop', statements: 4, duration_ms: expect.any(Number) } });
    expect((events[1]!.data as { duration_ms: number }).duration_ms).toBeGreaterThan(0);
    expect(events.slice(2)).toEqual([{ type: 'approval_withdrawn', data: { request_id: 'req-h', by: null, reason: expect.stringContaining('session s-0009') } }]);
    // after the closing events, nothing is open
    const after = stateAfter([start, ...sessionEvents(1), ...open, held('req-h', 'hold'), ...events]);
    expect(closingEvents(after, 'again')).toEqual([]);
    expect(after.sessions).toEqual({});
    expect(after.held).toEqual({});
  });
});
