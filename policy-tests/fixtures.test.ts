// Replays policy-tests/decisions.yaml through the compiled WASM bundle (the same cases `opa test`
// judges in fixtures_test.rego), so the Rego and the WASM the gateway runs cannot drift apart. Both judge
// against the pinned test data (policy-tests/testdata/), not the shipped policies/*/data.yaml.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, inputHash, type Engine } from '../engine/engine.ts';
import { loadBundle } from '../engine/policy/bundle.ts';
import {
  assertFixture,
  decideFixture,
  fixtureDifferences,
  fixtureEngineOptions,
  fixtureInput,
  fixturePolicySource,
  loadFixtureData,
  loadFixtureParsers,
  loadFixtures,
  withFixtureData,
  type Fixture,
} from '../gateway/policy/fixtures.ts';
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
  const bundle = withFixtureData(await loadBundle(path));
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

  it('judges against the pinned test data, not the data the bundle was built with', () => {
    const pinned = loadFixtureData();
    expect(Object.keys(pinned).sort()).toEqual(['access', 'classification', 'session']);
    const f = fixtures.find((x) => x.engine === undefined)!;
    expect(engineFor(f).phiTypes('public', 'patients')).toEqual(pinned.classification.phi['public.patients']);
  });

  it('a bundle built with the pinned data holds exactly what loadFixtureData reads (OPA parses the YAML alike)', async () => {
    const source = fixturePolicySource(join(dir, 'pinned-source'));
    const built = await loadBundle(policyBuild({ source, out: join(dir, 'pinned.tar.gz'), revision: 'pinned' }).path);
    expect(built.data).toEqual(loadFixtureData());
    const f = fixtures.find((x) => x.engine === undefined)!;
    const engine = await createEngine({ bundle: built, cache: { maxEntries: 0 }, ...fixtureEngineOptions(f) });
    expect(() => assertFixture(engine, f)).not.toThrow();
  });

  it.each(fixtures.map((f) => [f.note, f] as const))('%s', (_note, f) => {
    const v = assertFixture(engineFor(f), f);
    // Same input as the one opa test judged (written by policy:check from fixtureInput).
    expect(v.decisions[0]!.input_hash).toBe(inputHash(fixtureInput(f)));
  });

  it('the WASM decision equals the Rego decision (`opa eval`) field for field, messages included', async () => {
    await writeFixtureData({ out: join(dir, 'fixtures') });
    // As a rule, not a query: `opa eval` drops the `with` inside a query-level comprehension.
    const replay = join(dir, 'replay.rego');
    writeFileSync(
      replay,
      'package verdict_replay\n\ndecisions := [d | some c in data.verdict_fixtures.cases; d := data.verdict.decision with input as c.input with data.classification as data.testdata.classification with data.access as data.testdata.access]\n',
    );
    const data = ['-d', 'policies', '-d', 'testdata:policy-tests/testdata', '-d', join(dir, 'fixtures', 'data.json'), '-d', replay];
    const out = execFileSync(opaPath(), ['eval', '--format', 'json', ...data, 'data.verdict_replay.decisions'], {
      cwd: projectRoot,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    const rego = JSON.parse(out).result[0].expressions[0].value as Record<string, unknown>[];
    expect(rego).toHaveLength(fixtures.length);
    fixtures.forEach((f, i) => {
      const v = decideFixture(engineFor(f), f);
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

  it('fixtureDifferences names what differs, line by line (the comparison can fail)', () => {
    const ssn = { schema: 'public', table: 't', column: 'c' };
    const d = { action: 'mask' as const, reasons: [{ rule: 'masking.phi', message: 'public.t.c is PHI (ssn) and your roles are not entitled to it' }], masks: [{ column: ssn, method: 'partial' as const, params: {} }] };
    const rc = [{ name: 'id', sources: [], derived: false }, { name: 'c', sources: [ssn], derived: true }];
    expect(fixtureDifferences(d, rc, { action: 'allow', rules: ['verdict.allow'], masks: ['public.t.d:redact'], columns: ['none', 'partial'] })).toEqual([
      'action: want allow, got mask',
      'rules missing: verdict.allow',
      'rules extra: masking.phi',
      'masks missing: public.t.d:redact',
      'masks extra: public.t.c:partial',
      'column 2 (c): want partial, got redact',
      'reason given: masking.phi: public.t.c is PHI (ssn) and your roles are not entitled to it',
    ]);
    expect(fixtureDifferences(d, rc, { action: 'mask', columns: ['none'] })).toEqual(['columns: want 1 (none), got 2 (id none, c redact)']);
    // Only what the want names is compared.
    expect(fixtureDifferences(d, rc, { action: 'mask' })).toEqual([]);
    expect(fixtureDifferences(d, rc, { action: 'mask', rules: ['masking.phi'], masks: ['public.t.c:partial'], columns: ['none', 'redact'] })).toEqual([]);
  });
});
