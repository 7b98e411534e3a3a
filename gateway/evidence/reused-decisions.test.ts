// A statement that ran under an earlier decision of its session (same fingerprint; docs/evidence-format.md,
// "Statements that reuse a decision") is a statement of its own for every reader of the evidence: the
// disclosures of `verdict evidence access`, the counts of `verdict evidence report` and the session timeline.
import { describe, expect, it } from 'vitest';
import type { EvidenceEvent, EvidenceRecord } from '../../engine/evidence/events.ts';
import { buildRepository, testKey } from '../../engine/evidence/fixtures.ts';
import { collectAccess } from './access.ts';
import { collectReport } from './report.ts';
import { describeRecord } from './replay.ts';
import { verifyEvidence } from '../../engine/evidence/verify.ts';

const session_id = 's-reuse';
const decided: EvidenceEvent = {
  type: 'statement',
  data: {
    session_id,
    decision_id: 'd-1',
    text: "SELECT name, ssn FROM patients WHERE mrn = 'A-1'",
    text_redacted: false,
    fingerprint: 'select name, ssn from patients where mrn = ?',
    kind: 'select',
    action: 'mask',
    reasons: [{ rule: 'masking.phi', message: 'ssn is masked' }],
    input_hash: 'ab'.repeat(32),
    policy_revision: 'rev-1',
    masks: [{ column: { schema: 'public', table: 'patients', column: 'ssn' }, method: 'partial', params: { keep: 4 } }],
    approval: null,
    cached: false,
    purpose: 'treatment',
    unmasked_phi: [{ schema: 'public', table: 'patients', column: 'name' }],
  },
};
const events = (executions: number): EvidenceEvent[] => [
  {
    type: 'session_start',
    data: { session_id, identity: { sub: 'alice', email: null, groups: [], issuer: 'https://idp.example' }, client_addr: null, application_name: 'psql', target: { upstream: 'clinic', database: 'clinic' }, tls: true, front_door: 'postgres' },
  },
  decided,
  { type: 'statement_result', data: { session_id, decision_id: 'd-1', outcome: 'ok', rows: 1, duration_ms: 1, sqlstate: null } },
  ...Array.from({ length: executions }, (_, i): EvidenceEvent[] => [
    { type: 'statement_execution', data: { session_id, decision_id: 'd-1', execution_id: `e-${i}`, parameters: [], key_id: null, text: `SELECT name, ssn FROM patients WHERE mrn = 'B-${i}'` } },
    { type: 'statement_result', data: { session_id, decision_id: 'd-1', outcome: i === 0 ? 'error' : 'ok', rows: i === 0 ? null : 1, duration_ms: 1, sqlstate: i === 0 ? '57014' : null, execution_id: `e-${i}` } },
  ]).flat(),
  // A Bind's execution has no text of its own: it is not another statement.
  { type: 'statement_execution', data: { session_id, decision_id: 'd-1', execution_id: 'bind-1', parameters: [{ position: 1, value: '1' }], key_id: null } },
  { type: 'session_end', data: { session_id, reason: 'client_closed', statements: 1 + executions, duration_ms: 10 } },
];

describe('statements that reuse a decision, as the evidence readers see them', () => {
  it('are disclosures of their own, with their own text and result', async () => {
    const files = await buildRepository(events(2), { key: await testKey('a') });
    const { disclosures, sessions, verified } = await collectAccess(files);
    expect(verified.ok).toBe(true);
    expect(disclosures.map((d) => [d.text, d.outcome, d.rows, d.unmasked])).toEqual([
      ["SELECT name, ssn FROM patients WHERE mrn = 'A-1'", 'ok', 1, ['public.patients.name']],
      ["SELECT name, ssn FROM patients WHERE mrn = 'B-0'", 'error', null, ['public.patients.name']],
      ["SELECT name, ssn FROM patients WHERE mrn = 'B-1'", 'ok', 1, ['public.patients.name']],
    ]);
    expect(sessions[0]!.statements).toBe(3);
  });

  it('count as statements in the report: per session, per action, per purpose and unmasked', async () => {
    const files = await buildRepository(events(3), { key: await testKey('a') });
    const r = await collectReport(files, { repository: 'test', commit: null });
    expect(r.sessions[0]!.statements).toBe(4);
    expect(r.actions.mask).toBe(4);
    expect(r.purposes.treatment).toBe(4);
    expect(r.unmasked).toEqual([expect.objectContaining({ sub: 'alice', column: 'public.patients.name', statements: 4 })]);
  });

  it('show in the timeline as a statement under the earlier decision', async () => {
    const files = await buildRepository(events(1), { key: await testKey('a') });
    const seen: EvidenceRecord[] = [];
    await verifyEvidence(files, { onRecord: (r) => void seen.push(r) });
    const lines = seen.filter((r) => r.type === 'statement_execution').map((r) => describeRecord(r));
    expect(lines[0]).toContain("statement      SELECT name, ssn FROM patients WHERE mrn = 'B-0'");
    expect(lines[0]).toContain('under decision d-1');
    expect(lines[1]).toMatch(/^execution {6}bind-1 of d-1 \$1="1"/);
  });
});
