// Test and benchmark fixtures: fixed, published-for-testing keys and a deterministic in-memory evidence
// repository built with the real writer. Never use these keys outside tests: their private parts are right here.
import type { JWK } from 'jose';
import type { EvidenceEvent } from './events.ts';
import { signingKeyFromJwk, type SigningKey } from './keys.ts';
import { createStreamWriter } from './writer.ts';

/** Test-only Ed25519 keys (private parts public on purpose, so golden data regenerates byte for byte). */
export const TEST_KEYS: Record<'a' | 'b' | 'intruder', JWK> = {
  a: { kty: 'OKP', crv: 'Ed25519', x: 'r9ABiRTcykdPky8Jl0sdIPOKBykzC4qqagMlECtAoIs', d: '4SQAJX4g65m4dVNk6EQpK_c2eudcq121MxgfA2G2uM0' },
  b: { kty: 'OKP', crv: 'Ed25519', x: 'ty9uMynt48Rj0wlcsIrxoac-4QBG2t4YGEUNdFVy_hE', d: 'bISwFUkNROSHv9KI-PP4MqavoZfrkNkQOTLAM8RTZBA' },
  intruder: { kty: 'OKP', crv: 'Ed25519', x: 'MIwVH3MNI1rXY0dXg-hcey3L34dKu9q8go12Ak1wpjQ', d: '1CVz8wPLs1ZSlnZ0-l0y7wM3iGlDLS8nY5GAM7nSWSY' },
};

export function testKey(name: keyof typeof TEST_KEYS): Promise<SigningKey> {
  return signingKeyFromJwk(TEST_KEYS[name]);
}

/** A clock that starts at `start` and moves `stepMs` per call: deterministic timestamps. */
export function steppingClock(start = '2026-01-05T09:59:58.000Z', stepMs = 250): () => Date {
  let t = Date.parse(start);
  return () => new Date((t += stepMs));
}

/**
 * A realistic session's events: start, statements with every action (one approved through an approval),
 * results, end. `n` varies ids so several sessions can be generated.
 *
 * @example
 * sessionEvents(1) // [{ type: 'session_start', ... }, { type: 'statement', ... }, ...]
 */
export function sessionEvents(n: number): EvidenceEvent[] {
  const session_id = `s-${String(n).padStart(4, '0')}`;
  const identity = { sub: n % 2 ? 'alice' : 'bob', email: n % 2 ? 'alice@example.com' : null, groups: ['clinicians'], issuer: 'https://idp.example.com' };
  const request_id = `req-${n}`;
  const decided = (i: number, action: 'allow' | 'mask' | 'approve' | 'deny', text: string, extra: Partial<{ approval: { request_id: string; approved_by: string[] } }> = {}) =>
    ({
      type: 'statement',
      data: {
        session_id,
        decision_id: `${session_id}-d${i}`,
        text,
        text_redacted: false,
        fingerprint: text.toLowerCase().replace(/\d+/g, '?'),
        kind: text.split(' ')[0]!.toLowerCase(),
        action,
        reasons: action === 'allow' ? [] : [{ rule: `rules.${action}`, message: `${action} because the policy says so` }],
        input_hash: `${String(i).padStart(2, '0')}${'ab'.repeat(31)}`,
        policy_revision: '4f1c2e7a9b0d3c5e8f6a1b2c3d4e5f6a7b8c9d0e',
        masks: action === 'mask' ? [{ column: { schema: 'public', table: 'patients', column: 'ssn' }, method: 'partial', params: { keep: 4 } }] : [],
        approval: extra.approval ?? null,
        cached: false,
      },
    }) satisfies EvidenceEvent;
  const result = (i: number, rows: number | null, sqlstate: string | null = null) =>
    ({
      type: 'statement_result',
      data: { session_id, decision_id: `${session_id}-d${i}`, outcome: sqlstate ? 'refused' : 'ok', rows, duration_ms: 3 + i, sqlstate },
    }) satisfies EvidenceEvent;
  return [
    {
      type: 'session_start',
      data: { session_id, identity, client_addr: '10.0.0.7', application_name: 'psql', target: { upstream: 'clinic', database: 'clinic' }, tls: true, front_door: 'postgres' },
    },
    decided(1, 'allow', 'SELECT id, name FROM patients WHERE id = 42'),
    result(1, 1),
    decided(2, 'mask', 'SELECT ssn FROM patients'),
    result(2, 20),
    decided(3, 'deny', 'DROP TABLE patients'),
    result(3, null, '42501'),
    {
      type: 'approval_requested',
      data: {
        request_id,
        session_id,
        decision_id: `${session_id}-d4`,
        subject_hash: 'cd'.repeat(32),
        approvers: ['team:phi-approvers'],
        min_approvals: 1,
        expires_at: '2026-01-05T11:00:00.000Z',
        link: `verdict approve ${request_id}`,
      },
    },
    { type: 'approval_granted', data: { request_id, approved_by: ['carol'], review_ids: [`rev-${n}`] } },
    decided(4, 'approve', 'DELETE FROM visits WHERE id = 7', { approval: { request_id, approved_by: ['carol'] } }),
    result(4, 1),
    { type: 'session_end', data: { session_id, reason: 'client_closed', statements: 4, duration_ms: 5400 } },
  ];
}

export interface BuildOptions {
  stream?: string;
  key?: SigningKey;
  /** Rotate to this key after this many events. */
  rotate?: { after: number; to: SigningKey };
  batchLines?: number;
  clock?: () => Date;
}

/**
 * Builds a whole evidence repository in memory with the real writer: gateway_start, `events`, sealed
 * in batches of `batchLines`, gateway_stop. Deterministic for fixed keys and clock.
 *
 * @example
 * const files = await buildRepository([...sessionEvents(1), ...sessionEvents(2)], { key: await testKey('a') })
 * (await verifyEvidence(files)).clean // true
 */
export async function buildRepository(events: EvidenceEvent[], options: BuildOptions = {}): Promise<Map<string, Uint8Array>> {
  const stream = options.stream ?? 'gw-1';
  const clock = options.clock ?? steppingClock();
  const batchLines = options.batchLines ?? 8;
  const files = new Map<string, Uint8Array>();
  const w = createStreamWriter(stream, options.key ?? (await testKey('a')));
  let open: string[] = [];
  const put = (path: string, text: string) => files.set(path, new TextEncoder().encode(text));
  const seal = async () => {
    const s = await w.seal(clock());
    if (s) {
      put(s.batchPath, open.join(''));
      put(s.checkpointPath, s.checkpoint);
    }
    open = [];
  };
  const announce = async () => {
    const a = await w.announceKey(clock());
    put(a.keySetPath, a.keySet);
    open.push(a.line.text + '\n');
  };
  const add = async (e: EvidenceEvent) => {
    open.push(w.append(e, clock()).text + '\n');
    if (w.openLines >= batchLines) await seal();
  };
  await announce();
  await add({ type: 'gateway_start', data: { instance: stream, version: '0.1.0', pid: 4242, host: 'test-host', config_hash: null } });
  let i = 0;
  for (const e of events) {
    await add(e);
    if (options.rotate && ++i === options.rotate.after) {
      await seal();
      w.useKey(options.rotate.to);
      await announce();
    }
  }
  await add({ type: 'gateway_stop', data: { reason: 'shutdown' } });
  await seal();
  return files;
}
