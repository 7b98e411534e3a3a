// The pipeline session without a network or a door: decisions carry the session's identity and connection,
// and its evidence (start, decisions, results, refusals, end) is recorded with the door's refusal code.
// (The house rule that keeps it protocol-free is in gateway/boundary.test.ts.)
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine, Verdict } from '../../engine/engine.ts';
import type { EvidenceEvent } from '../../engine/evidence/events.ts';
import { createLogger } from '../ops/log.ts';
import { createMetrics } from '../ops/metrics.ts';
import type { EvidenceWriter } from '../evidence/writer.ts';
import { countedFrom } from './admission.ts';
import { PipelineSession } from './session.ts';
import { analyzeSql, loadParser } from '../../engine/sql/postgres/analyze.ts';
import type { ApprovalProvider } from '../approvals/provider.ts';
import { decideLocally, listLocalRequests, localApprovals } from '../approvals/local.ts';
import { createEngine } from '../../engine/engine.ts';
import { loadBundle } from '../../engine/policy/bundle.ts';
import { testBundle } from '../testing/bundle.ts';
import { until } from '../testing/until.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

function fakeServices(verdict: (sql: string, ctx: unknown) => Verdict) {
  const events: EvidenceEvent[] = [];
  const contexts: unknown[] = [];
  const engine = { revision: 'rev-1', decide: (sql: string, ctx: unknown) => (contexts.push(ctx), verdict(sql, ctx)) } as unknown as Engine;
  const evidence = {
    stream: 'test',
    requireDurable: true,
    append: async (e: EvidenceEvent) => void events.push(e),
    post: (e: EvidenceEvent) => void events.push(e),
  } as unknown as EvidenceWriter;
  return { services: { engine: () => engine, evidence, metrics: createMetrics(), log: createLogger('error'), approvals: null as unknown as ApprovalProvider }, events, contexts };
}

const allow = (sql: string): Verdict =>
  ({ action: 'allow', statements: [{ text: sql, kind: 'select' }], decisions: [{ action: 'allow', decision_id: `d-${sql}`, reasons: [], masks: [], fingerprint: null, input_hash: 'h', policy_revision: 'rev-1', cached: false }] }) as unknown as Verdict;

const options = {
  identity: { sub: 'user:bob', username: 'bob', email: null, groups: ['contractors'], issuer: 'https://idp', expiresAt: new Date('2026-12-01T00:00:00Z') },
  upstream: 'clinic',
  database: 'clinic',
  frontDoor: 'mcp' as const,
  clientAddr: '127.0.0.1',
  applicationName: 'agent',
  tls: true,
  refusalCode: null,
  holdTimeoutSeconds: 5,
};

describe('PipelineSession', () => {
  it('decides with one context per session and records the session, its decisions and their results', async () => {
    const { services, events, contexts } = fakeServices(allow);
    const s = new PipelineSession(services, options);
    s.start();
    const v = s.decide('SELECT 1');
    await s.recordDecisions(v);
    s.recordResult(v, Date.now(), ['SELECT 1'], null);
    s.decide('SELECT 2');
    expect(contexts[0]).toBe(contexts[1]); // the engine's cache keys on the context object
    expect(contexts[0]).toMatchObject({ identity: { sub: 'user:bob', expires_at: '2026-12-01T00:00:00.000Z' }, connection: { front_door: 'mcp', application_name: 'agent' } });
    const refused = s.recordRefusal('list_everything', 'mcp.unknown_tool', 'no such tool');
    s.end('client_closed');
    expect(events.map((e) => e.type)).toEqual(['session_start', 'statement', 'statement_result', 'statement', 'statement_result', 'session_end']);
    expect(events[2]!.data).toMatchObject({ decision_id: 'd-SELECT 1', outcome: 'ok', rows: 1, sqlstate: null });
    expect(events[4]!.data).toMatchObject({ decision_id: refused, outcome: 'refused', sqlstate: null }); // this door has no SQLSTATE
    expect(events[5]!.data).toMatchObject({ session_id: s.id, statements: 2 });
  });

  it('records a failed statement with the code the door gives, and those after it as not run', async () => {
    const { services, events } = fakeServices((sql) => {
      const one = allow(sql);
      return { ...one, statements: [...one.statements, ...one.statements], decisions: [one.decisions[0]!, { ...one.decisions[0]!, decision_id: 'd2' }] } as Verdict;
    });
    const s = new PipelineSession(services, { ...options, refusalCode: '42501' });
    const v = s.decide('SELECT 1/0; SELECT 2');
    s.recordResult(v, Date.now(), [], '22012');
    s.recordResult(v, Date.now(), [], null, true);
    expect(events.map((e) => [(e.data as { outcome?: string }).outcome, (e.data as { sqlstate?: string | null }).sqlstate])).toEqual([['error', '22012'], ['not_run', null], ['refused', '42501'], ['refused', '42501']]);
  });
});

describe('PipelineSession.admit', () => {
  const needsApproval = (sql: string, ctx: unknown): Verdict => {
    const v = allow(sql);
    if ((ctx as { approval?: unknown }).approval) return v; // approved: allow
    const d = { ...v.decisions[0]!, action: 'approve', reasons: [{ rule: 'approvals.ddl', message: 'DROP TABLE changes the schema' }], approval: { approvers: ['team:dba'], min_approvals: 1, ttl_seconds: 60, mode: 'rerun' } };
    return { ...v, action: 'approve', decisions: [d] } as unknown as Verdict;
  };

  it('rerun: refuses with the request and its link, then runs the identical statement once when approved', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'verdict-pipeline-'));
    const { services, events } = fakeServices(needsApproval);
    services.approvals = await localApprovals({ dir, pollMs: 20 });
    const s = new PipelineSession(services, options);
    const hooks = { waiting: () => undefined, done: () => undefined };
    const first = await s.admit('DROP TABLE t', [], s.decide('DROP TABLE t'), hooks);
    expect(first.kind).toBe('refuse');
    const id = /Request (req-[0-9a-z]+) was filed/.exec(first.kind === 'refuse' ? first.message : '')![1]!;
    await decideLocally(dir, id, 'approved', { sub: 'user:dan', username: 'dan', groups: ['dba'] });
    const second = await s.admit('DROP TABLE t', [], s.decide('DROP TABLE t'), hooks);
    expect(second).toMatchObject({ kind: 'run', approval: { request_id: id, approved_by: ['dan'] } });
    const third = await s.admit('DROP TABLE t', [], s.decide('DROP TABLE t'), hooks);
    expect(third.kind).toBe('refuse'); // an approval runs its statement once: a new request
    expect(events.map((e) => e.type)).toContain('approval_granted');
  });

  it('a door without hold hooks (MCP) asks in rerun mode even when the policy says hold, and gets the request back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'verdict-pipeline-'));
    const holding = (sql: string, ctx: unknown): Verdict => {
      const v = needsApproval(sql, ctx);
      if (v.action === 'approve') v.decisions[0]!.approval!.mode = 'hold';
      return v;
    };
    const { services } = fakeServices(holding);
    services.approvals = await localApprovals({ dir, pollMs: 20 });
    const s = new PipelineSession(services, options);
    const started = Date.now();
    const first = await s.admit('DELETE FROM t', [], s.decide('DELETE FROM t'), null);
    expect(Date.now() - started).toBeLessThan(2000); // answered at once, not after holdTimeoutSeconds
    expect(first).toMatchObject({ kind: 'refuse', request: { id: expect.stringMatching(/^req-/), link: expect.stringContaining('verdict approve') } });
  });
});

describe('PipelineSession.breakGlass', () => {
  it('files the review after the fact for the reviewers the policy names, with the reason and the decision', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'verdict-pipeline-'));
    const engine = await createEngine({ bundle: await loadBundle(testBundle(dir, 'rev-break-glass')) });
    const { services, events } = fakeServices(() => allow(''));
    services.engine = () => engine;
    services.approvals = await localApprovals({ dir: join(dir, 'approvals') });
    const s = new PipelineSession(services, { ...options, identity: { ...options.identity, sub: 'user:erin', username: 'erin', groups: ['dba', 'break-glass'] } });
    const v = s.decide('/* break-glass: INC-4711 stuck job */ DELETE FROM old_visits');
    expect(v.action).toBe('allow');
    const d = v.decisions[0]!;
    expect(d.reasons.map((r) => r.rule)).toEqual(['approvals.break_glass', 'verdict.allow']);
    // policy-tests/testdata/access/data.yaml approval.break_glass: the reviewers are data, not gateway code.
    expect(d.approval).toEqual({ approvers: ['team:break-glass-review'], min_approvals: 1, ttl_seconds: 604800, mode: 'break_glass' });
    s.breakGlass(v);
    const filed = await until('the break-glass request', () => events.find((e) => e.type === 'approval_requested'), (e) => e !== undefined);
    const requested = filed!.data as unknown as Record<string, unknown>;
    expect(requested).toMatchObject({ decision_id: d.decision_id, approvers: ['team:break-glass-review'], min_approvals: 1, mode: 'break_glass', link: expect.stringMatching(/^break-glass: /) });
    const [request] = await listLocalRequests(join(dir, 'approvals'));
    expect(request).toMatchObject({ id: requested.request_id, requirement: d.approval, break_glass: { reason: d.reasons[0]!.message, evidence: d.decision_id } });
    // Every door hands it every verdict: the rule alone decides. A decision without it files nothing; one whose
    // only reason is break-glass (a policy need not add others) files its review like any other.
    s.breakGlass(s.decide('SELECT 1'));
    s.breakGlass({ ...v, decisions: [{ ...d, reasons: [d.reasons[0]!] }] });
    await until('the second break-glass request', () => events.filter((e) => e.type === 'approval_requested').length, (n) => n >= 2);
    expect(await listLocalRequests(join(dir, 'approvals'))).toHaveLength(2);
  });
});

describe('PipelineSession.measure', () => {
  beforeAll(() => loadParser());
  const measured = (sql: string, ctx: unknown): Verdict => {
    const v = allow(sql);
    const radius = (ctx as { blast_radius?: { rows: number | null; error: string | null }[] }).blast_radius?.[0];
    const d = { ...v.decisions[0]!, measure: radius ? [] : ['blast_radius'], reasons: radius ? [{ rule: 'test', message: radius.error ?? `${radius.rows} rows` }] : [] };
    return { ...v, statements: [analyzed(sql)], decisions: [d] } as unknown as Verdict;
  };
  const analyzed = (sql: string) => analyzeSql(sql)[0]!;

  it('runs the measuring count the door is given and decides again with its numbers', async () => {
    const { services } = fakeServices(measured);
    const s = new PipelineSession(services, options);
    const queries: string[] = [];
    const v = await s.measure('DELETE FROM visits WHERE id > $1', s.decide('DELETE FROM visits WHERE id > $1'), async (q) => {
      queries.push(q.sql);
      expect(q.params).toEqual([1]);
      return countedFrom(['4', '6']);
    });
    expect(queries[0]).toMatch(/count\(\*\)/i);
    expect(v!.decisions[0]!.reasons[0]!.message).toBe('4 rows');
  });

  it('says why a write cannot be measured, and stops when the door stops', async () => {
    const { services } = fakeServices(measured);
    const s = new PipelineSession(services, options);
    const never = async () => {
      throw new Error('no count for an unmeasurable write');
    };
    const v = await s.measure('DELETE FROM visits WHERE id = random()', s.decide('DELETE FROM visits WHERE id = random()'), never);
    expect(v!.decisions[0]!.reasons[0]!.message).toMatch(/random|volatile|each call/i);
    expect(await s.measure('DELETE FROM visits WHERE id > 0', s.decide('DELETE FROM visits WHERE id > 0'), async () => null)).toBeNull();
    expect(countedFrom(undefined)).toEqual({ unmeasurable: 'the measuring count returned no number' });
  });
});
