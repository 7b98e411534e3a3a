// Masked values keep their type valid: JSON, arrays and typed columns bob (a contractor) sees masked parse in
// node-postgres and psycopg2, in the text and the binary result format, and PostgreSQL's own input and receive
// functions accept every masked value. The types come from the catalog (pg_type.typsend), not a hand list;
// every byte the clients receive is scanned for the raw values.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXED_FORMS, knowsType } from '../../engine/masking/types.ts';
import { policiesDir } from '../policy/paths.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startStack, type TestStack } from '../testing/stack.ts';
import { Backend, connectDirect, connectGateway, frontend, type WireClient } from '../testing/wire-client.ts';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

/**
 * A distinctive sample per catalog type that can be a table column. A type the catalog lists with a send
 * function must be here or in NOT_COLUMNS, so a new core type fails this test until it has a masked form.
 */
const SAMPLES: Record<string, string> = {
  bool: 'true', bytea: '\\x5365637265742d4279746573', char: 'Q', name: 'Ada Lovelace', int8: '9876543210123', int2: '31337',
  int4: '987654321', regproc: 'pg_catalog.now', text: 'Ada Lovelace', oid: '987654321', tid: '(4242,17)', xid: '987654',
  cid: '4242', json: '{"ssn": "123-45-6789", "n": 987654321}', xml: '<p>Ada Lovelace</p>', point: '(12.5,98.25)',
  lseg: '[(1,2),(3,4)]', path: '((1,2),(3,4))', box: '(3,4),(1,2)', polygon: '((1,2),(3,4),(5,1))', line: '{1,2,3}',
  cidr: '10.11.12.0/24', float4: '98.7654', float8: '987654.321', circle: '<(1,2),3>', macaddr8: '08:00:2b:01:02:03:04:05',
  money: '1234.56', macaddr: '08:00:2b:01:02:03', inet: '10.11.12.13', bpchar: 'Ada Lovelace', varchar: 'Ada Lovelace',
  date: '1815-12-10', time: '13:37:42', timestamp: '1815-12-10 13:37:42', timestamptz: '1815-12-10 13:37:42+00',
  interval: '42 days 13:37:00', timetz: '13:37:42+02', bit: '10110', varbit: '1011001', numeric: '98765.4321',
  refcursor: 'Ada Lovelace', regprocedure: 'now()', regoper: '||/', regoperator: '+(integer,integer)', regclass: 'pg_class',
  regtype: 'integer', uuid: '6f1c0e55-1111-4222-8333-444455556666', txid_snapshot: '10:20:10,14,15', pg_lsn: '16/B374D848',
  tsvector: 'ada lovelace', tsquery: 'ada & lovelace', regconfig: 'english', regdictionary: 'simple',
  jsonb: '{"ssn": "123-45-6789", "n": 987654321}', int4range: '[10,20)', numrange: '[1.5,2.5)',
  tsrange: '[2010-01-01 14:30,2010-01-01 15:30)', tstzrange: '[2010-01-01 14:30+00,2010-01-01 15:30+00)',
  daterange: '[1815-12-10,1912-06-23)', int8range: '[10,20)', jsonpath: '$.ssn', regnamespace: 'pg_catalog',
  regrole: 'pg_monitor', regcollation: '"C"', int4multirange: '{[10,20)}', nummultirange: '{[1.5,2.5)}',
  tsmultirange: '{[2010-01-01 14:30,2010-01-01 15:30)}', tstzmultirange: '{[2010-01-01 14:30+00,2010-01-01 15:30+00)}',
  datemultirange: '{[1815-12-10,1912-06-23)}', int8multirange: '{[10,20)}', pg_snapshot: '10:20:10,14,15', xid8: '987654',
};
/** Catalog types with a send function that no table column can have, and why. */
const NOT_COLUMNS: Record<string, string> = {
  pg_ddl_command: 'pseudo-type, event triggers only', unknown: 'pseudo-type: a literal is text by the time it is stored',
  cstring: 'pseudo-type', void: 'pseudo-type', record: 'pseudo-type (anonymous rows: tested with ROW(...) below)',
  _record: 'pseudo-type', anyarray: 'pseudo-type', anycompatiblearray: 'pseudo-type', pg_node_tree: 'no input function: only the server makes one',
  pg_ndistinct: 'statistics, no input function', pg_dependencies: 'statistics, no input function',
  pg_mcv_list: 'statistics, no input function', pg_brin_bloom_summary: 'index summary, no input function',
  pg_brin_minmax_multi_summary: 'index summary, no input function',
};
/** Column type with its modifier where a sample needs one. */
const COLUMN_TYPE: Record<string, string> = { bit: 'bit(5)', bpchar: 'char(12)' };
const TYPES = Object.keys(SAMPLES);

const col = (t: string) => `c_${t}`;
const arr = (t: string) => `a_${t}`;
const lit = (v: string) => `'${v.replace(/'/g, "''")}'`;

/** Values bob must never receive (text forms); binary forms are collected from the server itself. */
const SECRETS = ['123-45-6789', '234-56-7890', 'Ada Lovelace', 'Alan Turing', 'ada@example.org', '1815-12-10', '1912-06-23', 'asthma', 'diabetes'];

const SEED = `
CREATE TABLE typed_redact (id int, ${TYPES.map((t) => `${col(t)} ${COLUMN_TYPE[t] ?? t}, ${arr(t)} ${COLUMN_TYPE[t] ?? t}[]`).join(', ')});
INSERT INTO typed_redact VALUES (1, ${TYPES.map((t) => `${lit(SAMPLES[t]!)}, ARRAY[${lit(SAMPLES[t]!)}::${COLUMN_TYPE[t] ?? t}, NULL]`).join(', ')});
CREATE TABLE typed_year (id int, d date, ts timestamp, tstz timestamptz, ad date[], ats timestamp[], atstz timestamptz[], js jsonb);
INSERT INTO typed_year VALUES (1, '1815-12-10', '1912-06-23 13:37:42', '1906-12-09 13:37:42+00', '{1815-12-10,NULL}',
  '{"1912-06-23 13:37:42"}', '{"1906-12-09 13:37:42+00"}', '["1815-12-10", "x"]');
GRANT SELECT ON typed_redact, typed_year TO PUBLIC;
`;

let stack: TestStack;
let dir: string;
/** Every byte each client session through the gateway received. */
const received: Buffer[] = [];

beforeAll(async () => {
  // The default policy plus the typed tables' classification: every typed column is PHI bob sees masked.
  dir = mkdtempSync(join(tmpdir(), 'verdict-masked-types-'));
  const policies = join(dir, 'policies');
  cpSync(policiesDir, policies, { recursive: true });
  const cls = join(policies, 'classification', 'data.yaml');
  const redacted = TYPES.flatMap((t) => [`    ${col(t)}: clinical`, `    ${arr(t)}: clinical`]).join('\n');
  const years = ['d', 'ts', 'tstz', 'ad', 'ats', 'atstz', 'js'].map((c) => `    ${c}: date`).join('\n');
  writeFileSync(cls, readFileSync(cls, 'utf8').replace('phi:\n', `phi:\n  public.typed_redact:\n${redacted}\n  public.typed_year:\n${years}\n`));
  const { path: bundle } = policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'masked-types', source: policies });
  stack = await startStack({}, { seedSql: SEED, bundle });
}, 180_000);
afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A node-postgres client straight on PostgreSQL (superuser): the catalog, raw values, input/receive checks. */
async function direct(): Promise<pg.Client> {
  const c = new pg.Client({ host: stack.pg.host, port: stack.pg.port, user: stack.pg.user, database: stack.pg.database, password: stack.pg.password });
  await c.connect();
  return c;
}

/** The catalog's core types with a binary send function (arrays and composite catalog rows aside). */
async function catalogTypes(): Promise<{ oid: number; typname: string; typarray: number }[]> {
  const c = await direct();
  try {
    const r = await c.query(`SELECT oid::int, typname, typarray::int FROM pg_type
      WHERE typnamespace = 'pg_catalog'::regnamespace AND typsend <> 0 AND typtype IN ('b', 'r', 'm', 'p') AND typcategory <> 'A'
      ORDER BY oid`);
    return r.rows;
  } finally {
    await c.end();
  }
}

/** Runs one statement through the gateway as bob over the extended protocol with result formats `formats`. */
async function bobExtended(sql: string, formats: number[]): Promise<{ types: number[]; row: (Buffer | null)[]; names: string[] }> {
  const c: WireClient = await connectGateway(await stack.client('bob'));
  try {
    c.write(frontend.parse('', sql), frontend.bind('', '', [], formats), frontend.describe('P', ''), frontend.execute('', 0), frontend.sync());
    expect(await c.until((m) => m.type === Backend.ReadyForQuery, 20_000)).toBe('matched');
    received.push(...c.received);
    const err = c.messages.find((m) => m.type === Backend.ErrorResponse);
    if (err) throw new Error(`${err.sqlstate} ${err.message}`);
    const desc = c.messages.find((m) => m.type === Backend.RowDescription)!;
    const types: number[] = [];
    let p = 7;
    for (let i = 0; i < desc.raw.readUInt16BE(5); i++) {
      p = desc.raw.indexOf(0, p) + 1;
      types.push(desc.raw.readUInt32BE(p + 6));
      p += 18;
    }
    const row = c.messages.find((m) => m.type === Backend.DataRow)!.columns!;
    return { types, row, names: desc.fields!.map((f) => f.name) };
  } finally {
    c.close();
  }
}

/** The same statement directly on PostgreSQL in binary: the raw values the masked bytes must not contain. */
async function rawBinary(sql: string): Promise<(Buffer | null)[]> {
  const c = await connectDirect({ host: stack.pg.host, port: stack.pg.port, user: stack.pg.user, database: stack.pg.database, ...(stack.pg.password ? { password: stack.pg.password } : {}) });
  try {
    c.write(frontend.parse('', sql), frontend.bind('', '', [], [1]), frontend.execute('', 0), frontend.sync());
    await c.until((m) => m.type === Backend.ReadyForQuery, 20_000);
    return c.messages.find((m) => m.type === Backend.DataRow)!.columns!.map((b) => (b ? Buffer.from(b) : null));
  } finally {
    c.close();
  }
}

describe('the type list comes from the catalog', () => {
  it('every core type with a send function has a masked form, or is one no column can have', async () => {
    const missing: string[] = [];
    for (const t of await catalogTypes()) {
      if (NOT_COLUMNS[t.typname]) continue;
      if (!SAMPLES[t.typname]) missing.push(`${t.typname} (no sample)`);
      if (!knowsType(t.oid)) missing.push(`${t.typname} (no masked form)`);
      if (t.typarray !== 0 && !knowsType(t.typarray)) missing.push(`${t.typname}[] (no masked form)`);
    }
    expect(missing).toEqual([]);
  });
});

describe('binary result format: type-aware forms instead of NULL', () => {
  it('every catalog type and its array: a binary value PostgreSQL\'s receive function accepts, no raw bytes', async () => {
    const catalog = (await catalogTypes()).filter((t) => SAMPLES[t.typname]);
    expect(catalog.length).toBeGreaterThan(60);
    const cols = catalog.flatMap((t) => [col(t.typname), arr(t.typname)]);
    const sql = `SELECT ${cols.join(', ')} FROM typed_redact`;
    const { types, row } = await bobExtended(sql, [1]);
    const raw = await rawBinary(sql);
    const d = await direct();
    try {
      const formatted = (await d.query(`SELECT attname, format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'typed_redact'::regclass AND attnum > 0`)).rows as { attname: string; t: string }[];
      const typeOf = new Map(formatted.map((r) => [r.attname, r.t]));
      const failures: string[] = [];
      for (const [i, name] of cols.entries()) {
        const v = row[i];
        if (v === null || v === undefined) {
          failures.push(`${name}: NULL`);
          continue;
        }
        if (raw[i] && v.equals(raw[i]!)) failures.push(`${name}: raw value`);
        // PostgreSQL's own receive function must accept the masked bytes (a binary parameter of the type).
        try {
          await d.query({ text: `SELECT $1::${typeOf.get(name)} IS NOT NULL AS ok`, values: [v] });
        } catch (e) {
          failures.push(`${name} (oid ${types[i]}): ${(e as Error).message}`);
        }
      }
      expect(failures).toEqual([]);
      // The receive check is real: a truncated int4 is refused.
      await expect(d.query({ text: 'SELECT $1::int4', values: [Buffer.from([0, 0, 1])] })).rejects.toThrow(/insufficient data|invalid/);
    } finally {
      await d.end();
    }
    const all = Buffer.concat(received);
    for (const r of raw) if (r && r.length >= 6) expect(all.includes(r), `raw bytes ${r.toString('hex')}`).toBe(false);
    // reg* samples name catalog objects (public, and words like 'integer' occur in ParameterStatus)
    const samples = Object.entries(SAMPLES).filter(([t, v]) => !t.startsWith('reg') && v.length >= 6).map(([, v]) => v);
    for (const s of [...SECRETS, ...samples]) expect(all.includes(s), s).toBe(false);
  });

  it('year keeps the year in binary too, and anonymous records mask field by field', async () => {
    const { row } = await bobExtended('SELECT d, ts, tstz, ad FROM typed_year', [1]);
    const pgEpochDays = (y: number, mo: number, da: number) => Math.round((Date.UTC(y, mo, da) - Date.UTC(2000, 0, 1)) / 86400000);
    expect(row[0]!.readInt32BE(0)).toBe(pgEpochDays(1815, 0, 1));
    expect(Number(row[1]!.readBigInt64BE(0) / 86_400_000_000n)).toBe(pgEpochDays(1912, 0, 1));
    expect(Number(row[2]!.readBigInt64BE(0) / 86_400_000_000n)).toBe(pgEpochDays(1906, 0, 1));
    const rec = await bobExtended("SELECT ROW(id, name, ssn, dob) FROM patients WHERE id = 1", [1]);
    const v = rec.row[0];
    expect(v).not.toBeNull();
    expect(v!.readInt32BE(0)).toBe(4); // four fields kept
    const d = await direct();
    try {
      await d.query({ text: 'SELECT $1::record IS NOT NULL', values: [v] }).catch(() => undefined); // record_recv needs a known row type
      expect(v!.includes('Ada Lovelace')).toBe(false);
      expect(v!.includes('123-45-6789')).toBe(false);
    } finally {
      await d.end();
    }
  });
});

describe('text result format: node-postgres parses every masked value', () => {
  it('typed columns and arrays parse, and PostgreSQL\'s input functions accept each masked text', async () => {
    const bob = new pg.Client(await stack.client('bob'));
    await bob.connect();
    const d = await direct();
    try {
      const r = await bob.query('SELECT * FROM typed_redact');
      expect(r.rows).toHaveLength(1);
      const row = r.rows[0] as Record<string, unknown>;
      expect(row.c_int4).toBe(0);
      expect(row.c_bool).toBe(false);
      expect(row.c_uuid).toBe('00000000-0000-0000-0000-000000000000');
      expect(row.c_json).toEqual({ '[REDACTED]': 0 });
      expect(row.a_int4).toEqual([0, null]);
      expect(row.a_text).toEqual(['[REDACTED]', null]);
      // Every value, as text, goes back into PostgreSQL's input function of the column's type.
      const rawText = await bob.query({ text: 'SELECT * FROM typed_redact', rowMode: 'array', types: { getTypeParser: () => (v: string) => v } as never });
      const formatted = (await d.query(`SELECT attname, format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'typed_redact'::regclass AND attnum > 0 ORDER BY attnum`)).rows as { attname: string; t: string }[];
      const failures: string[] = [];
      for (const [i, f] of formatted.entries()) {
        const v = (rawText.rows[0] as (string | null)[])[i];
        if (f.attname === 'id') continue;
        if (v === null) {
          failures.push(`${f.attname}: NULL`);
          continue;
        }
        try {
          await d.query({ text: `SELECT $1::${f.t} IS NOT NULL`, values: [v] });
        } catch (e) {
          failures.push(`${f.attname} = ${JSON.stringify(v)}: ${(e as Error).message}`);
        }
        if (FIXED_FORMS.has(r.fields[i]!.dataTypeID) && !['json', 'jsonb'].includes(f.attname.slice(2))) {
          expect(v, f.attname).toBe(FIXED_FORMS.get(r.fields[i]!.dataTypeID)!.text);
        }
      }
      expect(failures).toEqual([]);
    } finally {
      await bob.end();
      await d.end();
    }
  });

  it('JSON built from masked columns stays JSON (row_to_json, json_agg, to_jsonb of an array) and arrays stay arrays', async () => {
    const bob = new pg.Client(await stack.client('bob'));
    await bob.connect();
    try {
      const r = await bob.query(`SELECT row_to_json(p) AS r, to_jsonb(p) AS jb, to_jsonb(array[name, ssn]) AS ja,
        json_build_object('name', name, 'ssn', ssn) AS jo, array[name, ssn] AS arr, array[dob] AS dobs
        FROM patients p ORDER BY id LIMIT 2`);
      const agg = await bob.query('SELECT json_agg(p) AS j, jsonb_agg(ssn) AS s, array_agg(dob) AS d FROM patients p');
      for (const row of [...r.rows, ...agg.rows]) for (const v of Object.values(row)) expect(v).not.toBeUndefined();
      const first = r.rows[0] as Record<string, unknown>;
      expect(typeof first.r).toBe('object');
      // A whole row serialized to JSON keeps its keys; each value is masked as its own column (or not at all).
      expect(first.r).toMatchObject({ id: 1, name: '[REDACTED]', ssn: '***-**-6789', dob: '1815-01-01', email: '***@example.org', diagnosis: '[REDACTED]' });
      expect(first.jb).toMatchObject({ id: 1, name: '[REDACTED]', ssn: '***-**-6789' });
      expect(((agg.rows[0] as { j: Record<string, unknown>[] }).j)[0]).toMatchObject({ id: 1, ssn: '***-**-6789' });
      // Renamed columns keep their own masks: the value under "name" is the SSN.
      const swapped = await bob.query('SELECT to_jsonb(s) AS j FROM (SELECT ssn AS name, name AS ssn FROM patients) s LIMIT 1');
      expect((swapped.rows[0] as { j: Record<string, string> }).j.name).toMatch(/^\*\*\*-\*\*-\d{4}$/);
      expect((swapped.rows[0] as { j: Record<string, string> }).j.ssn).toBe('[REDACTED]');
      expect(Array.isArray(first.ja)).toBe(true);
      expect(Array.isArray(first.arr)).toBe(true);
      expect(Array.isArray((agg.rows[0] as { j: unknown }).j)).toBe(true);
      const y = await bob.query('SELECT d, ts, tstz, ad, js FROM typed_year');
      const yr = y.rows[0] as { d: Date; ad: Date[]; js: unknown };
      expect(yr.d.getFullYear()).toBe(1815);
      expect(yr.d.getMonth()).toBe(0);
      expect(yr.ad[0]!.getFullYear()).toBe(1815);
      expect(yr.js).toEqual(['1815-01-01', null]);
      const bin = await bob.query({ text: 'SELECT c_int4, c_float8, c_bool, c_timestamptz, a_int4, c_bytea FROM typed_redact', binary: true } as pg.QueryConfig);
      expect(bin.rows[0]).toMatchObject({ c_int4: 0, c_float8: 0, c_bool: false, a_int4: [0, null] });
    } finally {
      await bob.end();
    }
  });
});

describe('psycopg2 parses masked JSON, arrays and typed values', () => {
  it('through the gateway as bob', async () => {
    const c = await stack.client('bob');
    const dsn = `host=127.0.0.1 port=${c.port} dbname=clinic user=bob password=${c.password} sslmode=disable gssencmode=disable`;
    const { stdout } = await run('/usr/bin/python3', [join(here, 'compat', 'psycopg2_masked_types.py'), dsn]) // Debian's python3-psycopg2, as compat.test.ts;
    const out = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(out.errors).toEqual([]);
    expect(out.json_type).toBe('dict');
    expect(out.json_agg_type).toBe('list');
    expect(out.array_type).toBe('list');
    expect(out.int4).toBe(0);
    expect(out.uuid).toBe('00000000-0000-0000-0000-000000000000');
    expect(out.year).toBe('1815-01-01');
    for (const s of SECRETS) expect(stdout.includes(s), s).toBe(false);
  });
});
