// The fixtures against a real PostgreSQL server: every statement the policy lets through (or sends for
// approval) is one PostgreSQL accepts on the demo schema, the one our parser rejects PostgreSQL rejects
// too, and the catalog read from the server drives `*` expansion and masking (with the fixtures' pinned test data).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../engine/engine.ts';
import { loadBundle } from '../engine/policy/bundle.ts';
import { normalizeConnection, normalizeIdentity } from '../engine/policy/input.ts';
import { loadParser } from '../engine/sql/postgres/analyze.ts';
import { loadFixtures, withFixtureData } from '../gateway/policy/fixtures.ts';
import { policyBuild } from '../gateway/policy/toolchain.ts';
import { loadCatalog } from '../gateway/postgres/catalog.ts';
import { startTestPostgres, type TestPostgres } from '../gateway/testing/postgres.ts';

const SCHEMA = `
CREATE SCHEMA billing;
CREATE TABLE patients (id serial PRIMARY KEY, name text, ssn text, email text, phone text,
  date_of_birth date, dob date, diagnosis text, address text, mrn text, created_at timestamptz DEFAULT now());
CREATE TABLE visits (id serial PRIMARY KEY, patient_id int REFERENCES patients(id), diagnosis text, notes text, visit_date date);
CREATE TABLE old_visits (id int);
CREATE TABLE "PATIENTS" ("SSN" text);
CREATE TABLE billing.invoices (id serial PRIMARY KEY, amount numeric);
INSERT INTO patients (name, ssn, email) VALUES ('Ada Lovelace', '123-45-6789', 'ada@example.com');
`;

let server: TestPostgres;
let client: pg.Client;
let dir: string;

beforeAll(async () => {
  await loadParser();
  server = await startTestPostgres();
  await server.exec(SCHEMA);
  client = new pg.Client({ connectionString: server.url });
  await client.connect();
  dir = mkdtempSync(join(tmpdir(), 'verdict-pg-fixtures-'));
});
afterAll(async () => {
  await client?.end();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('fixtures on a real PostgreSQL', () => {
  const runnable = loadFixtures().filter((f) => f.want.action !== 'deny' && f.engine !== 'snowflake');
  it.each(runnable.map((f) => [f.note, f] as const))('PostgreSQL accepts: %s', async (_n, f) => {
    await client.query('BEGIN');
    try {
      if (/^\s*COPY .* TO STDOUT/i.test(f.sql)) {
        await client.query(`EXPLAIN ${f.sql.replace(/^\s*COPY\s*\((.*)\)\s*TO STDOUT\s*$/is, '$1')}`);
      } else {
        await client.query(f.sql);
      }
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('rejects what our parser rejects, with the same complaint', async () => {
    const err = await client.query('SELEC ssn FROM patients').catch((e: { code: string; message: string }) => e);
    expect((err as { code: string }).code).toBe('42601');
    expect((err as { message: string }).message).toBe('syntax error at or near "SELEC"');
  });

  it('expands * with the catalog read from the server and masks what the server returns', async () => {
    const catalog = await loadCatalog(client);
    expect(catalog.tables['public.patients']).toEqual(['id', 'name', 'ssn', 'email', 'phone', 'date_of_birth', 'dob', 'diagnosis', 'address', 'mrn', 'created_at']);
    expect(catalog.tables['billing.invoices']).toEqual(['id', 'amount']);
    const { path } = policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'pg' });
    const engine = await createEngine({ bundle: withFixtureData(await loadBundle(path)), catalog });
    const v = engine.decide('SELECT * FROM patients', {
      identity: normalizeIdentity({ sub: 'alice', groups: ['clinicians'] }),
      connection: normalizeConnection({ front_door: 'postgres', database: server.database, purpose: 'treatment' }),
    });
    expect(v.action).toBe('mask');
    expect(v.decisions[0]!.masks.map((m) => m.column.column)).toEqual(['ssn']);
    const names = v.statements[0]!.result_columns.map((c) => c.name);
    const { fields } = await client.query('SELECT * FROM patients');
    expect(names).toEqual(fields.map((f) => f.name));
  });
});
