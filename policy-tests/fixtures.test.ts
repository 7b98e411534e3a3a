// Replays policy-tests/decisions.yaml through the compiled WASM bundle (the same cases `opa test`
// judges in fixtures_test.rego), so the Rego and the WASM the gateway runs cannot drift apart.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, inputHash, type Engine } from '../engine/engine.ts';
import { loadBundle } from '../engine/policy/bundle.ts';
import { FIXTURE_NOW, loadFixtureParsers, fixtureColumnsMismatch, fixtureEngineOptions, fixtureInput, fixtureMismatch, loadFixtures, type Fixture } from '../gateway/policy/fixtures.ts';
import { policyBuild, writeFixtureData } from '../gateway/policy/toolchain.ts';
import { opaPath } from '../gateway/policy/tools.ts';
import { execFileSync } from 'node:child_process';
import { projectRoot } from '../gateway/policy/paths.ts';

let dir: string;
// One engine per dialect (and Snowflake database/schema) the fixtures are written for.
const engines = new Map<string, Engine>();
const fixtures = loadFixtures();
const engineKey = (f: Fixture) => JSON.stringify(fixtureEngineOptions(f));
const engineFor = (f: Fixture) => engines.get(engineKey(f))!;

beforeAll(async () => {
  await loadFixtureParsers();
  dir = mkdtempSync(join(tmpdir(), 'verdict-fixtures-'));
  const { path } = policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'fixtures' });
  const bundle = await loadBundle(path);
  for (const f of fixtures) {
    if (!engines.has(engineKey(f))) engines.set(engineKey(f), await createEngine({ bundle, cache: { maxEntries: 0 }, ...fixtureEngineOptions(f) }));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('decision fixtures through WASM', () => {
  it('has a meaningful corpus covering every action', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(25);
    expect(new Set(fixtures.map((f) => f.want.action))).toEqual(new Set(['allow', 'mask', 'approve', 'deny']));
  });

  it('has Snowflake cases judged with the Snowflake dialect and connection.engine snowflake', () => {
    const sf = fixtures.filter((f) => f.engine === 'snowflake');
    expect(sf.length).toBeGreaterThanOrEqual(10);
    const input = fixtureInput(sf[0]!);
    expect(input.connection.engine).toBe('snowflake');
    expect(input.statement.reads.every((t) => t.schema === 'CLINIC.PUBLIC')).toBe(true);
    expect(fixtureInput(fixtures.find((f) => f.engine === undefined)!).connection.engine).toBe('postgres');
  });

  it.each(fixtures.map((f) => [f.note, f] as const))('%s', (_note, f) => {
    const input = fixtureInput(f);
    const v = engineFor(f).decide(f.sql, { identity: input.identity, connection: input.connection, approval: f.approval ?? null, ...(f.blast_radius ? { blast_radius: [f.blast_radius] } : {}), now: FIXTURE_NOW });
    expect(v.decisions).toHaveLength(1);
    expect(fixtureMismatch(v.decisions[0]!, f.want)).toEqual([]);
    expect(fixtureColumnsMismatch(v.decisions[0]!, v.statements[0]!.result_columns, f.want)).toEqual([]);
    // Same input as the one opa test judged (written by policy:check from fixtureInput).
    expect(v.decisions[0]!.input_hash).toBe(inputHash(input));
  });

  it('the WASM decision equals the Rego decision (`opa eval`) field for field, messages included', async () => {
    await writeFixtureData();
    // As a rule, not a query: `opa eval` drops the `with` inside a query-level comprehension.
    const replay = join(dir, 'replay.rego');
    writeFileSync(replay, 'package verdict_replay\n\ndecisions := [d | some c in data.verdict_fixtures.cases; d := data.verdict.decision with input as c.input]\n');
    const args = ['eval', '--format', 'json', '-d', 'policies', '-d', '.build/fixtures/data.json', '-d', replay, 'data.verdict_replay.decisions'];
    const out = execFileSync(opaPath(), args, {
      cwd: projectRoot,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    const rego = JSON.parse(out).result[0].expressions[0].value as Record<string, unknown>[];
    expect(rego).toHaveLength(fixtures.length);
    fixtures.forEach((f, i) => {
      const input = fixtureInput(f);
      const v = engineFor(f).decide(f.sql, { identity: input.identity, connection: input.connection, approval: f.approval ?? null, ...(f.blast_radius ? { blast_radius: [f.blast_radius] } : {}), now: FIXTURE_NOW });
      const { action, reasons, masks, approval, cacheable, measure, sensitive_parameters, capture_rows, unmasked_phi } = v.decisions[0]!;
      const wasm = {
        action,
        reasons,
        masks,
        ...(approval ? { approval } : {}),
        ...(cacheable ? {} : { cacheable }),
        ...(measure.length ? { measure } : {}),
        ...(sensitive_parameters === 'all' || sensitive_parameters.length ? { sensitive_parameters } : {}),
        ...(capture_rows ? { capture_rows } : {}),
        ...(unmasked_phi.length ? { unmasked_phi } : {}),
      };
      expect(wasm, f.note).toEqual(rego[i]);
    });
  });

  it('fixtureMismatch reports differences (the comparison can fail)', () => {
    const d = { action: 'mask' as const, reasons: [{ rule: 'masking.phi', message: '' }], masks: [] };
    expect(fixtureMismatch(d, { action: 'allow', rules: ['verdict.allow'], masks: ['public.t.c:redact'] })).toEqual([
      'action mask, want allow',
      'rules [masking.phi], want [verdict.allow]',
      'masks [], want [public.t.c:redact]',
    ]);
    const ssn = { schema: 'public', table: 't', column: 'c' };
    const rc = [{ name: 'c', sources: [ssn], derived: true }];
    expect(fixtureColumnsMismatch({ masks: [{ column: ssn, method: 'partial', params: {} }] }, rc, { action: 'mask', columns: ['partial'] })).toEqual([
      'columns [redact], want [partial]',
    ]);
  });
});
