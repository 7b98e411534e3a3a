// Decision fixtures (policy-tests/decisions.yaml): parsed, validated, and turned into policy inputs
// by the engine's own SQL analysis, so `opa test` and the WASM replay judge the very same inputs, against
// the same pinned test data (policy-tests/testdata/) in place of the shipped policies/*/data.yaml.
import { cpSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parse } from 'yaml';
import { buildInput, type Engine, type Verdict } from '../../engine/engine.ts';
import type { PolicyBundle } from '../../engine/policy/bundle.ts';
import type { Action, Decision } from '../../engine/decision/decision.ts';
import { normalizeConnection, normalizeIdentity, type ApprovalInput, type PolicyInput } from '../../engine/policy/input.ts';
import { analyzeSql } from '../../engine/sql/postgres/analyze.ts';
import { planMasks } from '../../engine/masking/plan.ts';
import type { BlastRadius, ResultColumn } from '../../engine/sql/types.ts';
import { fingerprint } from '../../engine/sql/postgres/fingerprint.ts';
import { analyzeSnowflake } from '../../engine/sql/snowflake/analyze.ts';
import { fingerprint as snowflakeFingerprint } from '../../engine/sql/snowflake/fingerprint.ts';
import { loadParser as loadPostgresParser } from '../../engine/sql/postgres/analyze.ts';
import { loadParser as loadSnowflakeParser } from '../../engine/sql/snowflake/parser.ts';
import type { DialectName } from '../../engine/sql/dialect.ts';
import { policiesDir, policyTestsDir } from './paths.ts';

export const FIXTURES_PATH = join(policyTestsDir, 'decisions.yaml');
/**
 * The pinned test data the fixtures and the Rego tests are written against, laid out like policies/
 * (classification/data.yaml, access/data.yaml). `opa test` loads it as data.testdata; the tests put it in place
 * of data.classification and data.access with `with`.
 */
export const FIXTURE_DATA_DIR = join(policyTestsDir, 'testdata');
/** Where a Snowflake fixture's unqualified names resolve unless it says otherwise (the demo's clinic). */
export const SNOWFLAKE_FIXTURE_DEFAULTS = { database: 'CLINIC', schema: 'PUBLIC' } as const;

/**
 * Loads the SQL grammars the fixtures need (PostgreSQL always; Snowflake when a fixture names it). fixtureInput is
 * synchronous, so callers await this first.
 */
export async function loadFixtureParsers(path = FIXTURES_PATH): Promise<void> {
  await loadPostgresParser();
  if (/^\s*engine:\s*snowflake\b/m.test(readFileSync(path, 'utf8'))) await loadSnowflakeParser();
}
/** Every fixture is decided at this instant unless it says otherwise, so results never depend on the clock. */
export const FIXTURE_NOW = new Date('2026-01-05T10:00:00Z');

export interface Fixture {
  note: string;
  sql: string;
  identity: { sub: string; groups: string[]; email?: string };
  /** The upstream's engine (default postgres): snowflake analyzes `sql` with the Snowflake dialect. */
  engine?: DialectName;
  /** Snowflake only: the current database and schema unqualified names resolve in (default CLINIC.PUBLIC). */
  database?: string;
  schema?: string;
  approval?: ApprovalInput;
  /** The declared purpose of use (connection.purpose); default treatment, null for none. */
  purpose?: string | null;
  /** What the gateway measured for the write (decision.measure), e.g. {method: count, rows: 1, table_rows: 6, error: null}. */
  blast_radius?: BlastRadius;
  /**
   * columns: per result column, the method it is masked with once the gateway maps the decision's masks to
   * it (engine/masking/plan.ts), or "none" when it is shown as it is.
   */
  want: { action: Action; rules?: string[]; masks?: string[]; columns?: string[] };
}

/** Loads and checks the fixture file; a malformed case names its index and note. */
export function loadFixtures(path = FIXTURES_PATH): Fixture[] {
  const doc = parse(readFileSync(path, 'utf8')) as { cases?: unknown };
  if (!doc || !Array.isArray(doc.cases)) throw new Error(`${path}: expected a top-level "cases:" list`);
  return doc.cases.map((c: Record<string, any>, i: number) => {
    const where = `${path}: cases[${i}]${c?.note ? ` (${c.note})` : ''}`;
    if (typeof c?.note !== 'string' || typeof c.sql !== 'string') throw new Error(`${where}: needs note and sql strings`);
    if (typeof c.identity?.sub !== 'string' || !Array.isArray(c.identity.groups)) {
      throw new Error(`${where}: identity needs sub and groups`);
    }
    if (!['allow', 'mask', 'approve', 'deny'].includes(c.want?.action)) throw new Error(`${where}: want.action is required`);
    if (c.engine !== undefined && !['postgres', 'snowflake'].includes(c.engine)) throw new Error(`${where}: engine must be postgres or snowflake`);
    if ((c.database !== undefined || c.schema !== undefined) && c.engine !== 'snowflake') throw new Error(`${where}: database and schema need engine: snowflake`);
    for (const k of ['database', 'schema']) if (c[k] !== undefined && typeof c[k] !== 'string') throw new Error(`${where}: ${k} must be a string`);
    return c as Fixture;
  });
}

/**
 * The engine options a fixture is decided with (dialect, and for Snowflake the current database and schema).
 * @example await createEngine({ bundle, ...fixtureEngineOptions(f) })
 */
export function fixtureEngineOptions(f: Pick<Fixture, 'engine' | 'database' | 'schema'>): { dialect: DialectName; database?: string; schema?: string } {
  if (f.engine !== 'snowflake') return { dialect: 'postgres' };
  return { dialect: 'snowflake', database: f.database ?? SNOWFLAKE_FIXTURE_DEFAULTS.database, schema: f.schema ?? SNOWFLAKE_FIXTURE_DEFAULTS.schema };
}

/** The policy input of a single-statement fixture, exactly as the engine builds it. */
export function fixtureInput(f: Fixture): PolicyInput {
  const o = fixtureEngineOptions(f);
  const snowflake = o.dialect === 'snowflake';
  const statements = snowflake ? analyzeSnowflake(f.sql, { database: o.database, schema: o.schema }) : analyzeSql(f.sql);
  if (statements.length !== 1) throw new Error(`fixture "${f.note}": expected one statement, got ${statements.length}`);
  return buildInput(
    statements[0]!,
    snowflake ? snowflakeFingerprint(f.sql) : fingerprint(f.sql),
    0,
    1,
    {
      identity: normalizeIdentity({ ...f.identity, issuer: 'https://idp.example.test' }),
      connection: snowflake
        ? normalizeConnection({ engine: 'snowflake', database: o.database, front_door: 'snowflake', purpose: f.purpose === undefined ? 'treatment' : f.purpose })
        : normalizeConnection({ database: 'clinic', front_door: 'postgres', purpose: f.purpose === undefined ? 'treatment' : f.purpose }),
      approval: f.approval ?? null,
      ...(f.blast_radius ? { blast_radius: [f.blast_radius] } : {}),
    },
    FIXTURE_NOW,
  );
}

/**
 * The pinned test data as one data document, each `data.yaml` / `data.json` at its folder's path, as OPA loads
 * a data directory: {classification: {...}, access: {...}}.
 *
 * @example loadFixtureData().access.roles_by_group.dba // 'dba'
 * @throws Error when the folder holds no data file, or a file does not parse
 */
export function loadFixtureData(dir = FIXTURE_DATA_DIR): Record<string, any> {
  const data: Record<string, any> = {};
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && /^data\.(ya?ml|json)$/.test(e.name));
  if (files.length === 0) throw new Error(`${dir}: no data.yaml or data.json`);
  for (const e of files) {
    const file = join(e.parentPath, e.name);
    let doc: unknown;
    try {
      doc = e.name.endsWith('.json') ? JSON.parse(readFileSync(file, 'utf8')) : parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`, { cause: err });
    }
    const path = relative(dir, e.parentPath).split(sep).filter(Boolean);
    let node = data;
    for (const k of path) node = node[k] ??= {};
    Object.assign(node, doc);
  }
  return data;
}

/**
 * The bundle with the pinned test data in place of the data it was built with: the same compiled policy, judged
 * against the data the fixtures assume.
 *
 * @example await createEngine({ bundle: withFixtureData(await loadBundle(path)) })
 */
export function withFixtureData(bundle: PolicyBundle, dir = FIXTURE_DATA_DIR): PolicyBundle {
  return { ...bundle, data: loadFixtureData(dir) };
}

/**
 * Writes a policy source folder for `opa build` (policyBuild({ source })): the Rego of policies/ with the pinned
 * test data in place of the shipped data, for tests that need a bundle file judged against the test data.
 * Returns `out`.
 *
 * @example policyBuild({ source: fixturePolicySource(join(tmp, 'policies')), out: join(tmp, 'bundle.tar.gz') })
 */
export function fixturePolicySource(out: string, from: { policies?: string; data?: string } = {}): string {
  cpSync(from.policies ?? policiesDir, out, { recursive: true, filter: (src) => statSync(src).isDirectory() || src.endsWith('.rego') });
  cpSync(from.data ?? FIXTURE_DATA_DIR, out, { recursive: true });
  return out;
}

/**
 * Decides a fixture through an engine (built with fixtureEngineOptions(f) over a withFixtureData bundle), with
 * the identity, connection, approval, blast radius and instant fixtureInput uses.
 */
export function decideFixture(engine: Engine, f: Fixture): Verdict {
  const input = fixtureInput(f);
  return engine.decide(f.sql, {
    identity: input.identity,
    connection: input.connection,
    approval: f.approval ?? null,
    ...(f.blast_radius ? { blast_radius: [f.blast_radius] } : {}),
    now: FIXTURE_NOW,
  });
}

/**
 * What differs between a decision and a fixture's want, one line each (empty when they match), in the words
 * policy-tests/fixtures_test.rego prints under `opa test`: "action: want mask, got deny", "rules missing: …",
 * "rules extra: …", "masks missing: …", "masks extra: …", then per result column "column 1 (x): want partial,
 * got redact", and the policy's reasons ("reason given: rule: message") when the action or the rules differ.
 * Only what the want names is compared.
 */
export function fixtureDifferences(d: Pick<Decision, 'action' | 'reasons' | 'masks'>, columns: readonly ResultColumn[], want: Fixture['want']): string[] {
  const lines: string[] = [];
  if (d.action !== want.action) lines.push(`action: want ${want.action}, got ${d.action}`);
  lines.push(...setDifferences('rules', d.reasons.map((r) => r.rule), want.rules));
  const ruleLines = lines.length;
  lines.push(...setDifferences('masks', d.masks.map((m) => `${m.column.schema}.${m.column.table}.${m.column.column}:${m.method}`), want.masks));
  lines.push(...columnDifferences(d, columns, want));
  if (ruleLines > 0) lines.push(...d.reasons.map((r) => `reason given: ${r.rule}: ${r.message}`));
  return lines;
}

function setDifferences(key: string, got: readonly string[], want: readonly string[] | undefined): string[] {
  if (!want) return [];
  const g = new Set(got);
  const w = new Set(want);
  const missing = [...w].filter((x) => !g.has(x)).sort();
  const extra = [...g].filter((x) => !w.has(x)).sort();
  return [...(missing.length ? [`${key} missing: ${missing.join(', ')}`] : []), ...(extra.length ? [`${key} extra: ${extra.join(', ')}`] : [])];
}

function columnDifferences(d: Pick<Decision, 'masks'>, columns: readonly ResultColumn[], want: Fixture['want']): string[] {
  if (!want.columns) return [];
  const got = planMasks(columns, d.masks).map((m) => m?.method ?? 'none');
  if (got.length !== want.columns.length) {
    return [`columns: want ${want.columns.length} (${want.columns.join(', ')}), got ${got.length} (${columns.map((c, i) => `${c.name} ${got[i]}`).join(', ')})`];
  }
  return got.flatMap((m, i) => (m === want.columns![i] ? [] : [`column ${i + 1} (${columns[i]!.name}): want ${want.columns![i]}, got ${m}`]));
}

/**
 * A failing fixture's report, as `opa test` prints it: its note, its SQL and the difference lines.
 *
 * @example
 * fixtureReport(f, ['action: want mask, got allow'])
 * // 'fixture "clinicians see SSNs partially masked"\n  sql: SELECT ssn FROM patients\n  action: want mask, got allow'
 */
export function fixtureReport(f: Pick<Fixture, 'note' | 'sql'>, differences: readonly string[]): string {
  return [`fixture ${JSON.stringify(f.note)}`, `  sql: ${f.sql}`, ...differences.map((l) => `  ${l}`)].join('\n');
}

/**
 * Decides a fixture and throws its readable report when the decision differs from its want.
 *
 * @throws Error whose message is fixtureReport(f, differences)
 */
export function assertFixture(engine: Engine, f: Fixture): Verdict {
  const v = decideFixture(engine, f);
  if (v.decisions.length !== 1) throw new Error(fixtureReport(f, [`statements: want 1, got ${v.decisions.length}`]));
  const differences = fixtureDifferences(v.decisions[0]!, v.statements[0]!.result_columns, f.want);
  if (differences.length > 0) throw new Error(fixtureReport(f, differences));
  return v;
}
