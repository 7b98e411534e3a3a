// The golden evidence repository: a fixed, deterministic input (test keys, stepping clock, one key
// rotation, one gap) whose files are committed under testdata/golden/ for independent verifiers to test against.
import type { EvidenceEvent } from './events.ts';
import { buildRepository, sessionEvents, testKey } from './fixtures.ts';

/**
 * Builds the golden repository in memory (byte-identical on every run).
 *
 * @example
 * const files = await goldenRepository() // Map<path, bytes>
 */
export async function goldenRepository(): Promise<Map<string, Uint8Array>> {
  const gap: EvidenceEvent = {
    type: 'gap',
    data: { reason: 'torn_tail', after_seq: 26, lost_events: null, discarded_bytes: 41, detail: 'example: recovery cut a torn write off the open batch' },
  };
  // The records added for auditors' questions: an execution with a raw and a keyed-hashed parameter, the digest
  // of a response, and what an unclean stop leaves: the stop, an ended session, a withdrawn held request.
  const more: EvidenceEvent[] = [
    {
      type: 'statement_execution',
      data: {
        session_id: 's-0003',
        decision_id: 's-0003-d1',
        execution_id: '6f1d0c9e-3b7a-4c55-9d2e-8a1b2c3d4e5f',
        parameters: [
          { position: 1, value: '42' },
          { position: 2, hmac_sha256: 'ef'.repeat(32) },
        ],
        key_id: '0123456789abcdef',
      },
    },
    { type: 'statement_response', data: { session_id: 's-0003', decision_id: 's-0003-d1', execution_id: '6f1d0c9e-3b7a-4c55-9d2e-8a1b2c3d4e5f', sha256: '9a'.repeat(32), rows: 1, bytes: 27, encrypted: null } },
    { type: 'gateway_unclean_stop', data: { started_seq: 2, last_seq: 44, last_ts: '2026-01-05T10:00:08.750Z', open_sessions: 1, held_approvals: 1, detail: 'example: the previous run stopped without recording its stop' } },
    { type: 'session_end', data: { session_id: 's-0004', reason: 'gateway_unclean_stop', statements: 0, duration_ms: 0 } },
    { type: 'approval_withdrawn', data: { request_id: 'req-held', by: null, reason: 'gateway_unclean_stop: the client waiting on it was disconnected; it will not run' } },
  ];
  const events = [...sessionEvents(1), ...sessionEvents(2), gap, { type: 'policy_bundle_loaded', data: { revision: 'b'.repeat(40), previous_revision: '4f1c2e7a9b0d3c5e8f6a1b2c3d4e5f6a7b8c9d0e', digest: null, signed_by: 'policy-ci' } } as EvidenceEvent, ...sessionEvents(3), ...more];
  return buildRepository(events, { key: await testKey('a'), rotate: { after: 26, to: await testKey('b') }, batchLines: 10 });
}
