// The engine end to end with the real compiled policy (built by the gateway's opa toolchain): decisions, the fingerprint cache and its
// safety, multi-statement strings, bad input, and every fail-closed path (bundle, entrypoint, policy).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilitiesPath } from './paths.ts';
import { testBundle } from '../testing/bundle.ts';
import { opaPath } from './tools.ts';
import { buildInput, createEngine, inputHash, type DecideContext, type Engine } from '../../engine/engine.ts';
import { loadBundle } from '../../engine/policy/bundle.ts';
import { normalizeConnection, normalizeIdentity } from '../../engine/policy/input.ts';
import { analyzeSql } from '../../engine/sql/postgres/analyze.ts';

let dir: string;
let engine: Engine;
const now = new Date('2026-01-05T10:00:00Z');
const ctx = (sub: string, groups: string[]): DecideContext => ({
  identity: normalizeIdentity({ sub, groups }),
  connection: normalizeConnection({ front_door: 'postgres', database: 'clinic' }),
  now,
});
const clinician = ctx('alice', ['clinicians']);
const analyst = ctx('ann', ['analysts']);
const dba = ctx('dan', ['dba']);

/** Compiles a one-off Rego policy into a bundle, for the fail-closed cases. */
function buildRego(name: string, rego: string, entrypoint = 'verdict/decision'): string {
  const src = join(dir, name);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'policy.rego'), rego);
  const out = join(dir, `${name}.tar.gz`);
  const r = spawnSync(opaPath(), ['build', '-b', '-t', 'wasm', '-e', entrypoint, '--revision', name, '--capabilities', capabilitiesPath, '-o', out, src], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return out;
}

async function engineFor(rego: string, entrypoint?: string): Promise<Engine> {
  const name = `p${Math.random().toString(36).slice(2)}`;
  return createEngine({ bundle: await loadBundle(buildRego(name, rego, entrypoint)) });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-engine-'));
  const path = testBundle(dir, 'rev-test');
  engine = await createEngine({ bundle: await loadBundle(path) });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('decisions with the default policy', () => {
  it('masks a clinician\'s SSN with a typed, traceable decision', () => {
    const v = engine.decide('SELECT ssn FROM patients', clinician);
    expect(v.action).toBe('mask');
    const [d] = v.decisions;
    expect(d!.masks).toEqual([
      {
        column: { schema: 'public', table: 'patients', column: 'ssn' },
        method: 'partial',
        params: { keep_last: 4 },
        // For values derived from ssn other than direct copies, and the calls that return none of its content.
        derived: { method: 'redact', params: {} },
        content_free: ['count'],
      },
    ]);
    expect(d!.reasons.map((r) => r.rule)).toEqual(['masking.phi']);
    expect(d!.policy_revision).toBe('rev-test');
    expect(d!.decision_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(d!.fingerprint).toBe('select ssn from patients');
    expect(d!.cached).toBe(false);
    // The input hash is over exactly the input the policy saw.
    const input = buildInput(v.statements[0]!, d!.fingerprint, 0, 1, clinician, now);
    expect(d!.input_hash).toBe(inputHash(input));
    expect(JSON.parse(JSON.stringify(d)).input_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('decides every statement of a multi-statement string; the strictest wins', () => {
    const v = engine.decide('SELECT 1; DELETE FROM visits; SELECT id FROM visits WHERE id = 2', dba);
    expect(v.decisions.map((d) => d.action)).toEqual(['allow', 'approve', 'allow']);
    expect(v.action).toBe('approve');
    expect(v.decisions[1]!.approval).toEqual({ approvers: ['team:phi-approvers'], min_approvals: 1, ttl_seconds: 3600, mode: 'hold' });
    const denied = engine.decide("SELECT 1; SELECT pg_read_file('/etc/passwd')", dba);
    expect(denied.action).toBe('deny');
    expect(denied.decisions[1]!.reasons[0]!.message).toContain('pg_read_file');
  });

  it('expands * from a catalog and masks only the PHI columns present', async () => {
    const e = await createEngine({
      bundle: await loadBundle(join(dir, 'bundle.tar.gz')),
      catalog: { tables: { 'public.patients': ['id', 'name', 'ssn', 'created_at'] } },
    });
    const v = e.decide('SELECT * FROM patients', analyst);
    expect(v.decisions[0]!.masks.map((m) => `${m.column.column}:${m.method}`)).toEqual(['name:redact', 'ssn:partial']);
  });
});

describe('bind parameters that meet PHI are recorded keyed-hashed, wherever the predicate sits', () => {
  // The parameter meets an alias of patients.email: only the nested statement's predicates name the column,
  // so a wrapper (DECLARE, EXPLAIN, PREPARE) that kept its own predicates alone would record it raw.
  const inner = 'SELECT id FROM (SELECT id, email AS e FROM patients) x WHERE e = $1';
  const treating: DecideContext = { ...clinician, connection: normalizeConnection({ front_door: 'postgres', database: 'clinic', purpose: 'treatment' }) };
  it.each([
    ['a plain SELECT', inner],
    ['DECLARE … CURSOR', `DECLARE c CURSOR FOR ${inner}`],
    ['EXPLAIN', `EXPLAIN ${inner}`],
    ['PREPARE', `PREPARE p(text) AS ${inner}`],
  ])('%s', (_kind, sql) => {
    const v = engine.decide(sql, treating);
    expect(v.action, JSON.stringify(v.decisions[0]!.reasons)).not.toBe('deny');
    expect(v.decisions[0]!.sensitive_parameters).toEqual([1]);
  });
  it('and a parameter that meets no PHI stays readable', () => {
    expect(engine.decide('DECLARE c CURSOR FOR SELECT id FROM (SELECT id, email AS e FROM patients) x WHERE id = $1', treating).decisions[0]!.sensitive_parameters).toEqual([]);
  });
});

describe('decision cache', () => {
  it('serves the same shape with other literals from the cache, as a new decision', () => {
    const a = engine.decide('SELECT name, ssn FROM patients WHERE id = 1', analyst);
    const b = engine.decide('SELECT name, ssn FROM patients WHERE id = 2', analyst);
    expect(a.decisions[0]!.cached).toBe(false);
    expect(b.decisions[0]!.cached).toBe(true);
    expect(b.decisions[0]!.masks).toEqual(a.decisions[0]!.masks);
    expect(b.decisions[0]!.decision_id).not.toBe(a.decisions[0]!.decision_id);
    expect(b.statements[0]!.text).toBe('SELECT name, ssn FROM patients WHERE id = 2');
    expect(b.decisions[0]!.input_hash).not.toBe(a.decisions[0]!.input_hash);
  });

  it('never shares a decision across identities', () => {
    engine.decide('SELECT ssn FROM patients WHERE id = 3', analyst);
    const other = engine.decide('SELECT ssn FROM patients WHERE id = 4', ctx('zed', ['interns']));
    expect(other.action).toBe('deny');
    expect(other.decisions[0]!.cached).toBe(false);
  });

  it('never reuses a decision whose facts depend on a literal (x OR false vs x OR true)', () => {
    // A filtered write asks for its blast radius first; an unfiltered one needs approval whatever it measures.
    const safe = engine.decide('DELETE FROM old_visits WHERE id = 5 OR false', dba);
    expect(safe.decisions[0]!.measure).toEqual(['blast_radius']);
    expect(safe.decisions[0]!.reasons.map((r) => r.rule)).toEqual(['approvals.blast_radius_unmeasured']);
    const all = engine.decide('DELETE FROM old_visits WHERE id = 5 OR true', dba);
    expect(all.action).toBe('approve');
    expect(all.decisions[0]!.reasons.map((r) => r.rule)).toEqual(['approvals.unfiltered_write']);
    expect(all.decisions[0]!.cached).toBe(false);
    const measured = engine.decide('DELETE FROM old_visits WHERE id = 5 OR false', { ...dba, blast_radius: [{ method: 'count', rows: 1, table_rows: 100, error: null }] });
    expect(measured.action).toBe('allow'); // old_visits holds no PHI
    expect(measured.decisions[0]!.measure).toEqual([]);
    expect(measured.decisions[0]!.cached).toBe(false); // measured facts are never cached
  });

  it('does not cache decisions taken with an approval', () => {
    const approval = { request_id: 'r1', approved_by: ['erin'], review_ids: ['1'] };
    const approved = engine.decide('DROP TABLE old_visits', { ...dba, approval });
    expect(approved.action).toBe('allow');
    expect(engine.decide('DROP TABLE old_visits', dba).action).toBe('approve');
  });
});

describe('bad input is denied, and the engine keeps working', () => {
  it('denies a statement over the size limit without parsing it', async () => {
    const small = await createEngine({ bundle: await loadBundle(join(dir, 'bundle.tar.gz')), maxStatementBytes: 1000 });
    const v = small.decide(`SELECT '${'x'.repeat(2000)}'`, dba);
    expect(v.action).toBe('deny');
    expect(v.decisions[0]!.reasons[0]).toEqual({
      rule: 'engine.statement_too_large',
      message: 'the statement is 2009 bytes; the limit is 1000 bytes',
    });
    const big = engine.decide(`SELECT '${'x'.repeat(1024 * 1024)}'`, dba);
    expect(big.decisions[0]!.reasons[0]!.rule).toBe('engine.statement_too_large');
  });

  it('denies deeply nested SQL without crashing', () => {
    for (const depth of [300, 5000, 100_000]) {
      const v = engine.decide(`SELECT ${'('.repeat(depth)}1${')'.repeat(depth)}`, dba);
      expect(v.action).toBe('deny');
      expect(v.decisions[0]!.reasons[0]!.rule).toBe('guards.unparsed');
    }
    expect(engine.decide('SELECT id FROM visits WHERE id = 9', dba).action).toBe('allow');
  });

  it('denies unparseable SQL with the parser\'s message', () => {
    const v = engine.decide('SELEC * FROM patients', dba);
    expect(v.action).toBe('deny');
    expect(v.decisions[0]!.reasons[0]!.message).toContain('syntax error at or near "SELEC"');
  });

  it('denies an empty string', () => {
    expect(engine.decide('  ;  ', dba).action).toBe('deny');
  });
});

describe('fail closed', () => {
  it('denies everything when no bundle could be loaded', async () => {
    const e = await createEngine({ bundle: null, bundleError: 'no policy bundle at /nowhere' });
    const v = e.decide('SELECT 1', dba);
    expect(v.action).toBe('deny');
    expect(v.decisions[0]!.reasons).toEqual([{ rule: 'engine.no_bundle', message: 'no policy is loaded: no policy bundle at /nowhere' }]);
  });

  it('denies when the bundle lacks the entrypoint', async () => {
    const e = await engineFor('package other\n\nx := 1\n', 'other/x');
    const v = e.decide('SELECT 1', dba);
    expect(v.decisions[0]!.reasons[0]!.rule).toBe('engine.entrypoint_missing');
    expect(v.decisions[0]!.reasons[0]!.message).toContain('other/x');
  });

  it('denies a malformed decision, naming what is wrong', async () => {
    const e = await engineFor('package verdict\n\ndecision := {"action": "permit"}\n');
    const v = e.decide('SELECT 1', dba);
    expect(v.action).toBe('deny');
    expect(v.decisions[0]!.reasons[0]!.rule).toBe('engine.malformed_decision');
    expect(v.decisions[0]!.reasons[0]!.message).toContain('"permit"');
  });

  it('denies when the decision is undefined for the input', async () => {
    const e = await engineFor('package verdict\n\ndecision := {"action": "allow"} if input.nope\n');
    const v = e.decide('SELECT 1', dba);
    expect(v.decisions[0]!.reasons[0]!.message).toContain('no decision');
  });

  it('denies on an evaluation error', async () => {
    const e = await engineFor('package verdict\n\ndecision := {"action": "allow", "reasons": [{"rule": "x", "message": sprintf("%v", [time.clock(input.statement.text)])}]}\n');
    const v = e.decide('SELECT 1', dba);
    expect(v.action).toBe('deny');
    expect(v.decisions[0]!.reasons[0]!.rule).toBe('engine.evaluation_error');
  });

  it('supplies time from the decision clock, so a replay decides the same', async () => {
    const e = await engineFor(
      'package verdict\n\ndecision := {"action": "allow", "reasons": [{"rule": "clock", "message": sprintf("%d:%d:%d %s", array.concat(time.clock(time.now_ns()), [time.weekday(time.now_ns())]))}]}\n',
    );
    const v = e.decide('SELECT 1', { ...dba, now: new Date('2026-01-05T10:11:12Z') });
    expect(v.decisions[0]!.reasons[0]!.message).toBe('10:11:12 Monday');
  });
});

describe('analysis sanity', () => {
  it('is the same analysis the engine decided on', () => {
    const v = engine.decide('SELECT p.ssn FROM patients p', analyst);
    expect(v.statements).toEqual(analyzeSql('SELECT p.ssn FROM patients p'));
  });
});
