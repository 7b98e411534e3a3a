// The masking bypass regression suite: each attempt runs through the gateway against a real PostgreSQL as
// bob (a contractor, who sees PHI masked), through a tap that records every byte the client received —
// rows, notices, errors, COPY data, notifications — and any seeded raw value in those bytes fails the test.
// Keep adding attempts: every way around masking someone thinks of belongs here.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../testing/stack.ts';

const run = promisify(execFile);

/** Raw values seeded by gateway/demo/clinic.sql that bob must never receive. */
const SECRETS = [
  '123-45-6789', '234-56-7890', '345-67-8901', '456-78-9012', '567-89-0123', '678-90-1234',
  '123456789', '234567890', // digits only (a cast or replace() could strip the dashes)
  'Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Lovelace',
  'ada@example.org', 'alan@example.org',
  'J45.909', 'asthma', 'E11.9', 'diabetes', 'hypertension',
  '1815-12-10', '1912-06-23', '1906-12-09',
];

const SEED = `
CREATE VIEW patient_view AS SELECT id, name, ssn FROM patients;
CREATE FUNCTION get_ssn(pid int) RETURNS text LANGUAGE sql AS 'SELECT ssn FROM patients WHERE id = pid';
CREATE FUNCTION leak_plpgsql(pid int) RETURNS text LANGUAGE plpgsql AS $$ DECLARE s text; BEGIN SELECT ssn INTO s FROM patients WHERE id = pid; RETURN s; END $$;
CREATE FUNCTION noisy(pid int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'value %', (SELECT ssn FROM patients WHERE id = pid); RETURN 1; END $$;
CREATE FUNCTION open_cursor() RETURNS refcursor LANGUAGE plpgsql AS $$ DECLARE c refcursor := 'leaky'; BEGIN OPEN c FOR SELECT ssn FROM patients; RETURN c; END $$;
GRANT SELECT ON patient_view TO PUBLIC;
`;

let stack: TestStack;
let tap: net.Server;
let tapPort: number;
let received: Buffer[] = [];

beforeAll(async () => {
  stack = await startStack({}, { seedSql: SEED });
  // A TCP tap in front of the gateway: it records every byte the gateway sends to the client.
  tap = net.createServer((client) => {
    const upstream = net.connect(stack.gateway.address.port, '127.0.0.1');
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      received.push(Buffer.from(d));
      client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => tap.listen(0, '127.0.0.1', () => r()));
  tapPort = (tap.address() as net.AddressInfo).port;
}, 120_000);
afterAll(async () => {
  tap?.close();
  await stack?.stop();
});

function leaks(): string[] {
  const all = Buffer.concat(received).toString('latin1');
  return SECRETS.filter((s) => all.includes(s));
}

async function attempt(steps: (c: pg.Client) => Promise<unknown>, config: Partial<pg.ClientConfig> = {}): Promise<string[]> {
  received = [];
  const c = new pg.Client({ ...(await stack.client('bob')), port: tapPort, ...config });
  c.on('error', () => undefined);
  c.on('notice', () => undefined);
  await c.connect();
  try {
    await steps(c).catch(() => undefined); // denials are fine; only what arrived counts
  } finally {
    await c.end().catch(() => undefined);
  }
  return leaks();
}

const single = (sql: string) => (c: pg.Client) => c.query(sql);

const ATTEMPTS: [string, (c: pg.Client) => Promise<unknown>][] = [
  ['plain column', single('SELECT ssn, name, email, dob, diagnosis FROM patients')],
  ['alias', single('SELECT ssn AS x, name AS y FROM patients')],
  ['functions', single('SELECT upper(ssn), lower(name), initcap(email) FROM patients')],
  ['concatenation', single("SELECT ssn || '', '' || name FROM patients")],
  ['substrings', single('SELECT substr(ssn, 1, 3) || substr(ssn, 4) FROM patients')],
  ['replace', single("SELECT replace(ssn, '-', '') FROM patients")],
  ['casts', single('SELECT ssn::varchar, name::bytea, dob::text FROM patients')],
  ['format', single("SELECT format('%s %s', ssn, name) FROM patients")],
  ['string_agg', single("SELECT string_agg(ssn, ',') FROM patients")],
  ['array_agg', single('SELECT array_agg(name) FROM patients')],
  ['scalar subquery', single('SELECT (SELECT ssn FROM patients LIMIT 1)')],
  ['cte', single('WITH t AS (SELECT ssn FROM patients) SELECT * FROM t')],
  ['derived table', single('SELECT * FROM (SELECT ssn AS s FROM patients) sub')],
  ['lateral', single('SELECT x FROM patients, LATERAL (SELECT ssn AS x) l')],
  ['union arms', single("SELECT 'x' UNION ALL SELECT ssn FROM patients")],
  ['composite field', single('SELECT (p).ssn FROM patients p')],
  ['whole row', single('SELECT p FROM patients p')],
  ['row_to_json', single('SELECT row_to_json(p) FROM patients p')],
  ['to_jsonb', single('SELECT to_jsonb(p) FROM patients p')],
  ['row cast to text', single('SELECT p::text FROM patients p')],
  ['json_agg', single('SELECT json_agg(p) FROM patients p')],
  ['array constructor', single('SELECT ARRAY[ssn, name] FROM patients')],
  ['jsonb_build_object', single("SELECT jsonb_build_object('a', ssn) FROM patients")],
  ['case', single('SELECT CASE WHEN true THEN ssn END FROM patients')],
  ['coalesce', single('SELECT coalesce(null, ssn) FROM patients')],
  ['view', single('SELECT ssn, name FROM patient_view')],
  ['view star', single('SELECT * FROM patient_view')],
  ['sql function', single('SELECT get_ssn(1), get_ssn(2)')],
  ['plpgsql function', single('SELECT leak_plpgsql(1)')],
  ['RAISE NOTICE in a function', single('SELECT noisy(1)')],
  ['DO block notice', single("DO $$ BEGIN RAISE NOTICE '%', (SELECT ssn FROM patients LIMIT 1); END $$")],
  ['cast error quoting the value', single('SELECT ssn::int FROM patients')],
  ['date cast error', single('SELECT name::date FROM patients')],
  ['filter inference', single("SELECT id FROM patients WHERE ssn LIKE '123%'")],
  ['order by', single('SELECT id FROM patients ORDER BY ssn')],
  ['group by', single('SELECT count(*) FROM patients GROUP BY name')],
  ['query_to_xml', single("SELECT query_to_xml('SELECT ssn FROM patients', true, false, '')")],
  ['pg_notify side channel', async (c) => {
    await c.query('LISTEN leak');
    await c.query("SELECT pg_notify('leak', ssn) FROM patients");
    await new Promise((r) => setTimeout(r, 200));
  }],
  ['COPY table TO STDOUT', single('COPY patients TO STDOUT')],
  ['COPY query TO STDOUT', single('COPY (SELECT ssn FROM patients) TO STDOUT')],
  ['SQL cursor', async (c) => {
    await c.query('BEGIN');
    await c.query('DECLARE cur CURSOR FOR SELECT ssn, name FROM patients');
    await c.query('FETCH ALL FROM cur');
    await c.query('COMMIT');
  }],
  ['cursor in one string', single('BEGIN; DECLARE c2 CURSOR FOR SELECT ssn FROM patients; FETCH ALL FROM c2; COMMIT')],
  ['binary cursor', async (c) => {
    await c.query('BEGIN');
    await c.query('DECLARE bc BINARY CURSOR FOR SELECT ssn FROM patients');
    await c.query('FETCH ALL FROM bc');
    await c.query('COMMIT');
  }],
  ['refcursor from a function', async (c) => {
    await c.query('BEGIN');
    await c.query('SELECT open_cursor()');
    await c.query('FETCH ALL FROM leaky');
    await c.query('COMMIT');
  }],
  ['SQL PREPARE/EXECUTE', async (c) => {
    await c.query('PREPARE ps AS SELECT ssn FROM patients');
    await c.query('EXECUTE ps');
  }],
  ['extended protocol with parameters', (c) => c.query('SELECT ssn, name FROM patients WHERE id = $1', [1])],
  ['named prepared statement reused', async (c) => {
    await c.query({ name: 'q1', text: 'SELECT ssn FROM patients WHERE id = $1', values: [1] });
    await c.query({ name: 'q1', text: 'SELECT ssn FROM patients WHERE id = $1', values: [2] });
  }],
  ['binary result format', (c) => c.query('SELECT ssn, name, dob FROM patients')],
  ['RETURNING', single("UPDATE patients SET email = email WHERE id = 1 RETURNING ssn, name")],
  ['INSERT … SELECT laundering', single("INSERT INTO visits (patient_id, visit_date, reason) SELECT id, now(), ssn FROM patients RETURNING reason")],
  ['temp table laundering', async (c) => {
    await c.query('CREATE TEMP TABLE t AS SELECT ssn FROM patients');
    await c.query('SELECT * FROM t');
  }],
  ['EXPLAIN ANALYZE VERBOSE', single('EXPLAIN (ANALYZE, VERBOSE) SELECT ssn FROM patients')],
  ['set_config side channel', single("SELECT set_config('application_name', ssn, false) FROM patients")],
  ['unique violation detail', single("INSERT INTO patients (id, name, ssn, dob) VALUES (1, 'x', 'y', '2000-01-01')")],
];

describe('masking bypass regression suite (bob, every byte scanned)', () => {
  it('the suite can see a leak (the tap and scan work)', async () => {
    received = [];
    const c = new pg.Client({ ...(await stack.client('alice')), port: tapPort });
    await c.connect();
    await c.query('SELECT name FROM patients WHERE id = 1'); // alice may see names
    await c.end();
    expect(leaks()).toContain('Ada Lovelace');
  });

  it.each(ATTEMPTS)('%s leaks nothing', async (name, steps) => {
    const binary = name === 'binary result format';
    expect(await attempt(steps, binary ? { binary: true } as Partial<pg.ClientConfig> : {})).toEqual([]);
  });

  it('psql \\copy and a pipelined psql script leak nothing', async () => {
    received = [];
    const c = await stack.client('bob');
    const url = `postgresql://bob:${encodeURIComponent(c.password)}@127.0.0.1:${tapPort}/clinic?sslmode=disable`;
    const env = { ...process.env, PGGSSENCMODE: 'disable' };
    await run('psql', [url, '-X', '-c', '\\copy patients TO STDOUT'], { env }).catch(() => undefined);
    await run('psql', [url, '-X', '-c', 'SELECT ssn FROM patients', '-c', 'SELECT row_to_json(p) FROM patients p'], { env }).catch(() => undefined);
    expect(leaks()).toEqual([]);
  });
});
