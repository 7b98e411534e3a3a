// Every masking method on every Snowflake type the door emits, through the real drivers: a masked value must stay a
// value the driver parses (snowflake-sdk throws inside its row parser on a VARIANT that is not JSON, and the
// statement never completes), NULL stays NULL, and no raw value arrives. One table per method, one column per type,
// classified by a variant of the default policy in which each table's columns are PHI masked with that method.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import snowflake from 'snowflake-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { buildGoClient, runGoClient } from '../testing/snowflake/go-client.ts';
import { SF_ACCOUNT, startSnowflakeStack, type SnowflakeStack } from '../testing/snowflake-stack.ts';

snowflake.configure({ logLevel: 'OFF' });

const METHODS: Record<string, Record<string, unknown>> = {
  redact: {},
  null: {},
  partial: { keep_last: 4 },
  format_preserving: { keep_last: 4 },
  hash: { length: 16 },
  email: {},
  year: {},
};

/** Column → Snowflake type and the SQL of its one non-NULL value (binds: BINARY). */
const COLUMNS: Array<[string, string, string]> = [
  ['C_NUM', 'NUMBER(38,0)', '987654321'],
  ['C_DEC', 'NUMBER(10,2)', '4321.56'],
  ['C_FLOAT', 'FLOAT', '3.25'],
  ['C_TEXT', 'VARCHAR', "'secret-text-4321'"],
  ['C_BOOL', 'BOOLEAN', 'TRUE'],
  ['C_DATE', 'DATE', "'1984-07-14'::DATE"],
  ['C_TIME', 'TIME', "'13:45:10'::TIME"],
  ['C_NTZ', 'TIMESTAMP_NTZ', "'1984-07-14 13:45:10.123'::TIMESTAMP_NTZ"],
  ['C_LTZ', 'TIMESTAMP_LTZ', "'1984-07-14 13:45:10.123+00'::TIMESTAMP_LTZ"],
  ['C_BIN', 'BINARY', '?'],
  ['C_VARIANT', 'VARIANT', `PARSE_JSON('{"ssn":"987-65-4321","n":42}')`],
  ['C_OBJECT', 'OBJECT', `PARSE_JSON('{"name":"Secret Person"}')`],
  ['C_ARRAY', 'ARRAY', `PARSE_JSON('["secret-array-item", 7]')`],
];
/** Raw values that must not arrive masked, in the forms the drivers would print them. */
const RAW = ['987654321', '4321.56', 'secret-text-4321', '987-65-4321', 'Secret Person', 'secret-array-item', 'deadbeef', 'DEADBEEF', '13:45:10', '1984-07-14'];

const table = (method: string) => `TYPED_${method.toUpperCase()}`;

let stack: SnowflakeStack;
let policyDir: string;

beforeAll(async () => {
  // The default policy, plus: each TYPED_<METHOD> table's columns are PHI of type m_<method>, masked with <method>.
  policyDir = mkdtempSync(join(tmpdir(), 'verdict-sf-types-policy-'));
  cpSync(new URL('../../policies/', import.meta.url), policyDir, { recursive: true });
  const classification = parse(readFileSync(join(policyDir, 'classification/data.yaml'), 'utf8'));
  const access = parse(readFileSync(join(policyDir, 'access/data.yaml'), 'utf8'));
  for (const [method, params] of Object.entries(METHODS)) {
    classification.phi[`CLINIC.PUBLIC.${table(method)}`] = Object.fromEntries(COLUMNS.map(([c]) => [c, `m_${method}`]));
    access.masking[`m_${method}`] = { method, params };
  }
  writeFileSync(join(policyDir, 'classification/data.yaml'), stringify(classification));
  writeFileSync(join(policyDir, 'access/data.yaml'), stringify(access));
  const setup = Object.keys(METHODS).flatMap((method) => [
    `CREATE TABLE CLINIC.PUBLIC.${table(method)} (${COLUMNS.map(([c, t]) => `${c} ${t}`).join(', ')})`,
    { sql: `INSERT INTO CLINIC.PUBLIC.${table(method)} SELECT ${COLUMNS.map(([, , v]) => v).join(', ')}`, bindings: { '1': { type: 'BINARY', value: 'DEADBEEF' } } },
    `INSERT INTO CLINIC.PUBLIC.${table(method)} (C_NUM) VALUES (NULL)`,
  ]);
  stack = await startSnowflakeStack({}, { setup, policySource: policyDir });
}, 300_000);
afterAll(async () => {
  await stack?.stop();
  if (policyDir) rmSync(policyDir, { recursive: true, force: true });
});

async function connectAs(user: string): Promise<snowflake.Connection> {
  const conn = snowflake.createConnection({ account: SF_ACCOUNT, username: user, authenticator: 'OAUTH', token: await stack.issuer.mint(user), accessUrl: stack.url } as snowflake.ConnectionOptions);
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}

/** Rows parsed by snowflake-sdk into native values (numbers, Dates, Buffers, parsed JSON), or why not — within 20 s. */
function parsedRows(conn: snowflake.Connection, sqlText: string): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('snowflake-sdk never completed the statement (its row parser failed?)')), 20_000);
    conn.execute({
      sqlText,
      complete: (err, _stmt, rows) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve((rows ?? []) as Array<Record<string, unknown>>);
      },
    });
  });
}

const shown = (v: unknown): string => (v instanceof Date ? v.toISOString() : Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'object' && v !== null && 'toJSON' in v ? JSON.stringify(v) : JSON.stringify(v));

describe('masked values of every Snowflake type parse in the drivers', () => {
  let bob: snowflake.Connection;
  beforeAll(async () => {
    bob = await connectAs('bob');
  });
  afterAll(async () => {
    if (bob) await new Promise<void>((r) => bob.destroy(() => r()));
  });

  it('the values are there to mask (read on the local Snowflake directly)', async () => {
    const raw = await stack.sf.exec(`SELECT * FROM CLINIC.PUBLIC.${table('redact')}`);
    const text = JSON.stringify(raw.rows);
    for (const r of ['987654321', 'secret-text-4321', '987-65-4321', 'Secret Person', 'DEADBEEF']) expect(text).toContain(r);
  });

  it.each(Object.keys(METHODS))('%s: snowflake-sdk parses every column, NULL stays NULL, nothing raw arrives', async (method) => {
    for (const sql of [`SELECT * FROM ${table(method)}`]) {
      const rows = await parsedRows(bob, sql);
      rows.sort((a, b) => (a.C_NUM === null ? 1 : 0) - (b.C_NUM === null ? 1 : 0));
      expect(rows).toHaveLength(2);
      const [masked, nulls] = rows as [Record<string, unknown>, Record<string, unknown>];
      for (const [c] of COLUMNS) expect(nulls[c], c).toBeNull();
      const text = COLUMNS.map(([c]) => shown(masked[c])).join(' ');
      for (const r of RAW) expect(text, `${method}: ${text}`).not.toContain(r);
      if (method === 'null') {
        for (const [c] of COLUMNS) expect(masked[c], c).toBeNull();
        continue;
      }
      // Each value is one of its type: what a driver would give for a real value of the column.
      expect(typeof masked.C_NUM).toBe('number');
      expect(typeof masked.C_DEC).toBe('number');
      expect(typeof masked.C_FLOAT).toBe('number');
      // `year` keeps a date's year; on text that is no date it gives NULL.
      if (method === 'year') expect(masked.C_TEXT).toBeNull();
      else expect(typeof masked.C_TEXT).toBe('string');
      expect(typeof masked.C_BOOL).toBe('boolean');
      for (const c of ['C_DATE', 'C_NTZ', 'C_LTZ']) expect(Number.isNaN(new Date(masked[c] as Date).getTime()), c).toBe(false);
      expect(Buffer.isBuffer(masked.C_BIN)).toBe(true);
      for (const c of ['C_VARIANT', 'C_OBJECT', 'C_ARRAY']) expect(typeof masked[c] === 'object' || typeof masked[c] === 'string' || masked[c] === null, c).toBe(true);
      if (method === 'year') {
        expect(shown(masked.C_DATE)).toMatch(/^"?1984-01-01/);
        expect(shown(masked.C_NTZ)).toMatch(/1984-01-01/);
      }
    }
  });

  it('structure of masked JSON stays: keys and array length kept where they carry no value, strings masked', async () => {
    const all = await parsedRows(bob, `SELECT C_VARIANT, C_ARRAY FROM ${table('redact')}`);
    const v = all.find((r) => r.C_VARIANT !== null)!;
    expect(Array.isArray(v.C_ARRAY)).toBe(true);
    expect((v.C_ARRAY as unknown[]).length).toBe(2);
    expect(v.C_ARRAY).toEqual(['[REDACTED]', 0]);
  });

  it('gosnowflake scans every column of every method', async () => {
    const bin = await buildGoClient();
    const steps = Object.keys(METHODS).map((m) => ({ op: 'query' as const, sql: `SELECT * FROM ${table(m)}` }));
    const report = await runGoClient(bin, {
      config: { account: SF_ACCOUNT, user: 'bob', authenticator: 'oauth', token: await stack.issuer.mint('bob'), host: new URL(stack.url).hostname, port: Number(new URL(stack.url).port), protocol: 'http' },
      steps,
    });
    expect(report.fatal).toBeUndefined();
    for (const [i, m] of Object.keys(METHODS).entries()) {
      const o = report.steps[i]!;
      expect(o.error, `${m}: ${JSON.stringify(o.error)}`).toBeUndefined();
      expect(o.rows).toHaveLength(2);
      expect(o.rows!.filter((r) => r.every((v) => v === null))).toHaveLength(m === 'null' ? 2 : 1);
      const text = JSON.stringify(o.rows);
      for (const r of RAW) expect(text, `${m}: ${text}`).not.toContain(r);
    }
  }, 240_000);
});
