// Decision fixtures (policy-tests/decisions.yaml): parsed, validated, and turned into policy inputs
// by the engine's own SQL analysis, so `opa test` and the WASM replay judge the very same inputs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { buildInput } from '../../engine/engine.ts';
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
import { policyTestsDir } from './paths.ts';

export const FIXTURES_PATH = join(policyTestsDir, 'decisions.yaml');
/** Where a Snowflake fixture's unqualified names resolve unless it says otherwise (the demo's clinic). */
export const SNOWFLAKE_FIXTURE_DEFAULTS = { database: 'CLINIC', schema: 'PUBLIC' } as const;

/**
 * Loads the SQL grammars the fixtures need (PostgreSQL always; Snowflake when a fixture names it). fixtureInput is
 * synchronous, so callers await this first.
 */
export async function loadFixtureParsers(): Promise<void> {
  await loadPostgresParser();
  if (/^\s*engine:\s*snowflake\b/m.test(readFileSync(FIXTURES_PATH, 'utf8'))) await loadSnowflakeParser();
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

/** Compares a decision with a fixture's want; returns what differs (empty when it matches). */
export function fixtureMismatch(d: Pick<Decision, 'action' | 'reasons' | 'masks'>, want: Fixture['want']): string[] {
  const problems: string[] = [];
  if (d.action !== want.action) problems.push(`action ${d.action}, want ${want.action}`);
  const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);
  const rules = [...new Set(d.reasons.map((r) => r.rule))];
  if (want.rules && !sameSet(rules, want.rules)) problems.push(`rules [${rules}], want [${want.rules}]`);
  const masks = d.masks.map((m) => `${m.column.schema}.${m.column.table}.${m.column.column}:${m.method}`);
  if (want.masks && !sameSet(masks, want.masks)) problems.push(`masks [${masks}], want [${want.masks}]`);
  return problems;
}

/** Compares the per-result-column masks a decision gives (engine/masking/plan.ts) with a fixture's want.columns. */
export function fixtureColumnsMismatch(d: Pick<Decision, 'masks'>, columns: readonly ResultColumn[], want: Fixture['want']): string[] {
  if (!want.columns) return [];
  const got = planMasks(columns, d.masks).map((m) => m?.method ?? 'none');
  return got.length === want.columns.length && got.every((m, i) => m === want.columns![i]) ? [] : [`columns [${got}], want [${want.columns}]`];
}
