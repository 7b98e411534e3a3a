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
  const events = [...sessionEvents(1), ...sessionEvents(2), gap, { type: 'policy_bundle_loaded', data: { revision: 'b'.repeat(40), previous_revision: '4f1c2e7a9b0d3c5e8f6a1b2c3d4e5f6a7b8c9d0e', digest: null, signed_by: 'policy-ci' } } as EvidenceEvent, ...sessionEvents(3)];
  return buildRepository(events, { key: await testKey('a'), rotate: { after: 26, to: await testKey('b') }, batchLines: 10 });
}
