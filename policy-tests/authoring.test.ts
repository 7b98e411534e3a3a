// A policy author's everyday path: edits to the shipped data (policies/classification/data.yaml,
// policies/access/data.yaml: "edit data, not rules") break no Rego test and no decision fixture, under
// `opa test` and through WASM, because both judge against the pinned test data (policy-tests/testdata/); and
// a fixture that fails says which one and what differs, on both paths.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createEngine, type Engine } from '../engine/engine.ts';
import { loadBundle, type PolicyBundle } from '../engine/policy/bundle.ts';
import {
  assertFixture,
  decideFixture,
  fixtureDifferences,
  fixtureEngineOptions,
  loadFixtureParsers,
  loadFixtures,
  withFixtureData,
  type Fixture,
} from '../gateway/policy/fixtures.ts';
import { policiesDir, policyTestsDir, projectRoot } from '../gateway/policy/paths.ts';
import { policyBuild, writeFixtureData } from '../gateway/policy/toolchain.ts';
import { opaPath } from '../gateway/policy/tools.ts';

let tmp: string;
/** A copy of policies/ and policy-tests/ whose shipped data the test edits. */
let edited: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'verdict-authoring-'));
  edited = join(tmp, 'edited');
  cpSync(policiesDir, join(edited, 'policies'), { recursive: true });
  cpSync(policyTestsDir, join(edited, 'policy-tests'), { recursive: true });
  editShippedData(join(edited, 'policies'));
  await loadFixtureParsers();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** What an author does on an ordinary day, through the YAML files. */
function editShippedData(policies: string): void {
  const classificationFile = join(policies, 'classification/data.yaml');
  const classification = parse(readFileSync(classificationFile, 'utf8'));
  const phi = classification.phi;
  // A new PHI table with its columns, on both engines.
  phi['public.lab_results'] = { patient_id: 'identifier', result_text: 'clinical', ordered_by: 'name' };
  phi['CLINIC.PUBLIC.LAB_RESULTS'] = { PATIENT_ID: 'identifier', RESULT_TEXT: 'clinical' };
  // New PHI columns on a known table.
  phi['public.visits'].provider = 'name';
  // A column reclassified: SSNs are now an identifier (hashed, not last-4).
  phi['public.patients'].ssn = 'identifier';
  // A table no longer holding PHI.
  delete phi['public.claims'];
  writeFileSync(classificationFile, stringify(classification));

  const accessFile = join(policies, 'access/data.yaml');
  const access = parse(readFileSync(accessFile, 'utf8'));
  // A new group and role.
  access.roles_by_group.nurses = 'nurse';
  access.roles.nurse = { phi_types: ['name', 'date', 'clinical'], schemas: ['public'], snowflake_schemas: ['CLINIC.PUBLIC'] };
  // A role gains an entitlement, another group and role go away.
  access.roles.analyst.phi_types = ['date'];
  delete access.roles_by_group.contractors;
  delete access.roles.contractor;
  writeFileSync(accessFile, stringify(access));
}

interface OpaTestRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `opa test` the way `npm run policy:check` runs it, over policies/ and policy-tests/ under `root`. */
function opaTest(root: string, fixturesData: string, ...flags: string[]): OpaTestRun {
  const r = spawnSync(opaPath(), ['test', 'policies', 'policy-tests', fixturesData, '--ignore', 'decisions.yaml', ...flags], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Test name → passed, from `opa test --format json`. */
function results(run: OpaTestRun): Map<string, boolean> {
  const list = JSON.parse(run.stdout) as { package: string; name: string; fail?: boolean; error?: unknown }[];
  return new Map(list.map((t) => [`${t.package}.${t.name}`, !t.fail && !t.error]));
}

async function enginesFor(bundle: PolicyBundle, fixtures: Fixture[]): Promise<Map<string, Engine>> {
  const engines = new Map<string, Engine>();
  for (const f of fixtures) {
    const key = JSON.stringify(fixtureEngineOptions(f));
    if (!engines.has(key)) engines.set(key, await createEngine({ bundle, cache: { maxEntries: 0 }, ...fixtureEngineOptions(f) }));
  }
  return engines;
}

const engineFor = (engines: Map<string, Engine>, f: Fixture) => engines.get(JSON.stringify(fixtureEngineOptions(f)))!;

describe('editing the shipped data', () => {
  it('breaks no Rego test and no fixture under opa test, and keeps the coverage', async () => {
    const fixturesData = join(tmp, 'fixtures');
    await writeFixtureData({ fixtures: join(edited, 'policy-tests/decisions.yaml'), out: fixturesData });

    const before = opaTest(projectRoot, fixturesData, '--format', 'json');
    const after = opaTest(edited, fixturesData, '--format', 'json');
    expect(before.status, before.stderr).toBe(0);
    expect(after.status, after.stdout.slice(0, 4000) + after.stderr).toBe(0);
    const want = results(before);
    expect(want.size).toBeGreaterThanOrEqual(60);
    expect(want.get('data.verdict.fixtures_test.test_decision_fixtures')).toBe(true);
    expect(results(after)).toEqual(want);

    const coverage = (root: string) => JSON.parse(opaTest(root, fixturesData, '--coverage', '--format', 'json').stdout).coverage as number;
    expect(coverage(edited)).toBe(coverage(projectRoot));
  });

  it('is not needed at all: without policies/*/data.yaml every Rego test and fixture still passes', async () => {
    const root = join(tmp, 'no-data');
    cpSync(policiesDir, join(root, 'policies'), { recursive: true, filter: (src) => !/data\.(ya?ml|json)$/.test(src) });
    cpSync(policyTestsDir, join(root, 'policy-tests'), { recursive: true });
    const fixturesData = join(tmp, 'fixtures-no-data');
    await writeFixtureData({ out: fixturesData });
    const run = opaTest(root, fixturesData, '--format', 'json');
    expect(run.status, run.stdout.slice(0, 4000) + run.stderr).toBe(0);
    const passed = results(run);
    expect(passed.size).toBeGreaterThanOrEqual(60);
    expect([...passed.values()].every(Boolean)).toBe(true);
  });

  it('changes no fixture through WASM, though the edited data alone would change several', async () => {
    const fixtures = loadFixtures(join(edited, 'policy-tests/decisions.yaml'));
    const { path } = policyBuild({ source: join(edited, 'policies'), out: join(tmp, 'edited.tar.gz'), revision: 'edited' });
    const shipped = await loadBundle(path);
    expect((shipped.data as { access: { roles_by_group: Record<string, string> } }).access.roles_by_group.nurses).toBe('nurse');

    const pinned = await enginesFor(withFixtureData(shipped, join(edited, 'policy-tests/testdata')), fixtures);
    for (const f of fixtures) assertFixture(engineFor(pinned, f), f);

    // Control: the same fixtures against the edited data itself. The edits reach cases the fixtures pin.
    const own = await enginesFor(shipped, fixtures);
    const changed = fixtures.filter((f) => {
      const v = decideFixture(engineFor(own, f), f);
      return fixtureDifferences(v.decisions[0]!, v.statements[0]!.result_columns, f.want).length > 0;
    });
    expect(changed.map((f) => f.note)).toContain('clinicians see SSNs partially masked');
    expect(changed.length).toBeGreaterThanOrEqual(5);
  });
});

describe('a data edit the policy would misread', () => {
  it('fails the shipped-data checks with what is wrong', async () => {
    const root = join(tmp, 'misread');
    cpSync(policiesDir, join(root, 'policies'), { recursive: true });
    cpSync(policyTestsDir, join(root, 'policy-tests'), { recursive: true });
    const accessFile = join(root, 'policies/access/data.yaml');
    const access = parse(readFileSync(accessFile, 'utf8'));
    access.roles_by_group.interns = 'intern'; // no role "intern"
    writeFileSync(accessFile, stringify(access));
    const classificationFile = join(root, 'policies/classification/data.yaml');
    const classification = parse(readFileSync(classificationFile, 'utf8'));
    classification.phi.lab_results = { result_text: 'clinical' }; // no schema: would never match a table
    writeFileSync(classificationFile, stringify(classification));

    const fixturesData = join(tmp, 'fixtures-misread');
    await writeFixtureData({ out: fixturesData });
    const run = opaTest(root, fixturesData);
    expect(run.status).not.toBe(0);
    expect(run.stdout).toMatch(/data\.verdict\.shipped_data_test\.test_every_group_maps_to_a_defined_role: FAIL/);
    expect(run.stdout).toContain('roles_by_group names roles that roles does not define: {"interns: intern"}');
    expect(run.stdout).toMatch(/data\.verdict\.shipped_data_test\.test_classified_tables_are_qualified: FAIL/);
    expect(run.stdout).toContain('phi keys that are not schema.table or DATABASE.SCHEMA.TABLE: {"lab_results"}');
    expect(run.stdout).toContain('FAIL: 2/');
  });
});

describe('a failing fixture', () => {
  let broken: string;
  let fixtures: Fixture[];
  const note = 'clinicians see SSNs partially masked';
  const derivedNote = 'an expression over PHI is masked by its source, fully (partial applies only to a direct copy)';

  beforeAll(() => {
    // A copy of decisions.yaml with two wrong wants: the first case's, and one case's per-column masks.
    const doc = parse(readFileSync(join(policyTestsDir, 'decisions.yaml'), 'utf8'));
    const first = doc.cases.find((c: Fixture) => c.note === note);
    first.want = { action: 'allow', rules: ['verdict.allow'], masks: [] };
    const derived = doc.cases.find((c: Fixture) => c.note === derivedNote);
    derived.want.columns = ['partial'];
    broken = join(tmp, 'broken-decisions.yaml');
    writeFileSync(broken, stringify(doc));
    fixtures = loadFixtures(broken);
  });

  const report = [
    `fixture "${note}"`,
    '  sql: SELECT ssn FROM patients',
    '  action: want allow, got mask',
    '  rules missing: verdict.allow',
    '  rules extra: masking.phi',
    '  masks extra: public.patients.ssn:partial',
    '  reason given: masking.phi: public.patients.ssn is PHI (ssn) and your roles are not entitled to it',
  ].join('\n');

  it('under opa test names the fixture and prints the lines that differ', async () => {
    const fixturesData = join(tmp, 'broken-fixtures');
    const n = await writeFixtureData({ fixtures: broken, out: fixturesData });
    const run = opaTest(projectRoot, fixturesData);
    expect(run.status).not.toBe(0);
    expect(run.stdout).toContain(`1 of ${n} decision fixtures (policy-tests/decisions.yaml) differ:`);
    // opa test indents what a failing test prints by two spaces.
    expect(run.stdout).toContain(report.replace(/^/gm, '  '));
    expect(run.stdout).toMatch(/data\.verdict\.fixtures_test\.test_decision_fixtures: FAIL/);
  });

  it('through WASM throws the same report, with per-column masks too', async () => {
    const { path } = policyBuild({ out: join(tmp, 'bundle.tar.gz'), revision: 'broken' });
    const engines = await enginesFor(withFixtureData(await loadBundle(path)), fixtures);
    const failures: string[] = [];
    for (const f of fixtures) {
      try {
        assertFixture(engineFor(engines, f), f);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    expect(failures).toEqual([
      report,
      [`fixture "${derivedNote}"`, '  sql: SELECT upper(ssn) AS x FROM patients', '  column 1 (x): want partial, got redact'].join('\n'),
    ]);
  });
});
