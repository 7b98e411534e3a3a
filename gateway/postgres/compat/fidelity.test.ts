// Clients see PostgreSQL: the same client code runs directly against PostgreSQL and through Verdict, and
// what it sees must match — startup settings, empty statements, a client that leaves before startup —
// except where the policy refuses (a startup setting it does not allow), which is refused by name.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../testing/stack.ts';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
let stack: TestStack;
let classes: string;

/** Where a client connects: directly to PostgreSQL, or through Verdict as bob. */
interface Target {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}
let direct: Target;
const through = async (): Promise<Target> => stack.client('bob');

beforeAll(async () => {
  stack = await startStack();
  direct = { host: stack.pg.host, port: stack.pg.port, user: stack.pg.user, password: stack.pg.password!, database: stack.pg.database };
  classes = mkdtempSync(join(tmpdir(), 'verdict-jdbc-'));
  await run('javac', ['-d', classes, join(here, 'JdbcFidelity.java')]);
}, 180_000);
afterAll(async () => {
  await stack?.stop();
  if (classes) rmSync(classes, { recursive: true, force: true });
});

/** Runs `fn` with a connected node-postgres client for `t` (and `extra` settings), ending it after. */
async function withPg<T>(t: Target, extra: pg.ClientConfig, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ ...t, ...extra });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** What a failed connect reports: its SQLSTATE and message, as a client would show it. */
async function connectError(t: Target, extra: pg.ClientConfig): Promise<{ code?: string; message: string } | null> {
  const c = new pg.Client({ ...t, ...extra });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.end();
    return null;
  } catch (err) {
    const e = err as pg.DatabaseError;
    return { ...(e.code ? { code: e.code } : {}), message: e.message };
  }
}

const SETTINGS = "SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt, current_setting('idle_in_transaction_session_timeout') AS iit, current_setting('default_transaction_isolation') AS iso";

describe('startup parameters', () => {
  const asked: pg.ClientConfig = {
    application_name: 'compat-app',
    statement_timeout: 1234,
    idle_in_transaction_session_timeout: 4321,
    options: '-c lock_timeout=777 --default-transaction-isolation=repeatable\\ read',
  };

  it('node-postgres: application_name, statement_timeout and options reach the server as directly', async () => {
    const want = await withPg(direct, asked, async (c) => (await c.query(SETTINGS)).rows[0]);
    const got = await withPg(await through(), asked, async (c) => (await c.query(SETTINGS)).rows[0]);
    expect(want).toEqual({ app: 'compat-app', st: '1234ms', lt: '777ms', iit: '4321ms', iso: 'repeatable read' });
    expect(got).toEqual(want);
  });

  it('node-postgres: no application_name is no application_name, as directly', async () => {
    const q = "SELECT current_setting('application_name') AS app";
    const want = await withPg(direct, {}, async (c) => (await c.query(q)).rows[0]);
    const got = await withPg(await through(), {}, async (c) => (await c.query(q)).rows[0]);
    expect(got).toEqual(want);
  });

  it('an invalid value is the server\'s own FATAL, as directly', async () => {
    const bad: pg.ClientConfig = { options: '-c statement_timeout=soon' };
    const want = await connectError(direct, bad);
    const got = await connectError(await through(), bad);
    expect(want?.code).toBe('22023');
    expect(got).toEqual(want);
  });

  it('a setting the policy does not list is refused with a FATAL naming it (direct: accepted)', async () => {
    const asking: pg.ClientConfig = { options: '-c work_mem=64MB' };
    expect(await connectError(direct, asking)).toBeNull();
    const got = await connectError(await through(), asking);
    expect(got?.code).toBe('42501');
    expect(got?.message).toContain('"work_mem"');
    expect(got?.message).toContain('the policy does not allow it');
  });

  it.each([
    ['search_path', { options: '-c search_path=evil,public' }],
    ['role', { options: '-crole=postgres' }],
    ['standard_conforming_strings', { options: '--standard-conforming-strings=off' }],
  ] as const)('%s is never passed through, listed or not', async (name, asking) => {
    const got = await connectError(await through(), asking);
    expect(got?.code).toBe('42501');
    expect(got?.message).toContain(`"${name}"`);
  });

  it('a startup option that is not a setting is refused by name', async () => {
    const got = await connectError(await through(), { options: '-e' });
    expect(got?.code).toBe('0A000');
    expect(got?.message).toContain('"-e"');
  });

  it('psql: PGOPTIONS and PGAPPNAME reach the server as directly', async () => {
    const psql = async (t: Target) => {
      const env = { ...process.env, PGHOST: t.host, PGPORT: String(t.port), PGUSER: t.user, PGPASSWORD: t.password, PGDATABASE: t.database, PGSSLMODE: 'disable', PGGSSENCMODE: 'disable', PGAPPNAME: 'compat-psql', PGOPTIONS: '-c statement_timeout=5s -c DateStyle=SQL,DMY' };
      const { stdout } = await run('psql', ['-XAt', '-c', "SELECT current_setting('application_name'), current_setting('statement_timeout'), current_setting('DateStyle')"], { env });
      return stdout;
    };
    const want = await psql(direct);
    expect(want.trim()).toBe('compat-psql|5s|SQL, DMY');
    expect(await psql(await through())).toBe(want);
  });

  it('psql: PGCLIENTENCODING=UTF8 (or SQL_ASCII) works as directly; another encoding is refused by name (direct: accepted)', async () => {
    const psql = async (t: Target, encoding: string) => {
      const env = { ...process.env, PGHOST: t.host, PGPORT: String(t.port), PGUSER: t.user, PGPASSWORD: t.password, PGDATABASE: t.database, PGSSLMODE: 'disable', PGGSSENCMODE: 'disable', PGCLIENTENCODING: encoding };
      return run('psql', ['-XAt', '-c', "SELECT 'ok'"], { env }).then(
        (r) => r.stdout.trim(),
        (e: { stderr: string }) => e.stderr,
      );
    };
    expect(await psql(direct, 'UTF8')).toBe('ok');
    expect(await psql(await through(), 'UTF8')).toBe('ok');
    expect(await psql(await through(), 'SQL_ASCII')).toBe('ok');
    expect(await psql(direct, 'LATIN1')).toBe('ok');
    const refused = await psql(await through(), 'LATIN1');
    expect(refused).toContain('Verdict serves sessions in UTF8 only; the client asked for client_encoding "LATIN1"');
    expect(refused).toContain('HINT:  set client_encoding (PGCLIENTENCODING) to UTF8');
  });

  it('psycopg2: options, application_name and statement_timeout behave as directly', async () => {
    const py = async (t: Target) => {
      const dsn = `host=${t.host} port=${t.port} dbname=${t.database} user=${t.user} password=${t.password} sslmode=disable gssencmode=disable application_name=compat-py options='-c statement_timeout=300 -c default_transaction_isolation=serializable'`;
      const { stdout } = await run('/usr/bin/python3', [join(here, 'psycopg2_fidelity.py'), dsn]);
      return JSON.parse(stdout) as { settings: string[]; timeout: string | null };
    };
    const want = await py(direct);
    expect(want.settings).toEqual(['compat-py', '300ms', 'serializable']);
    expect(want.timeout).toBe('57014');
    expect(await py(await through())).toEqual(want);
  });
});

describe('empty statements', () => {
  it('node-postgres: empty and comment-only statements, simple and extended, answer as directly', async () => {
    const probe = async (t: Target) =>
      withPg(t, {}, async (c) => {
        const out: unknown[] = [];
        for (const q of ['', '-- only a comment', '/* c */ ;']) {
          const simple = await c.query(q);
          const extended = await c.query({ text: q, values: [] });
          const named = await c.query({ name: `empty-${out.length}`, text: q, values: [] });
          out.push([simple.command, simple.rowCount, extended.command, extended.rowCount, named.command, named.rowCount]);
        }
        out.push((await c.query('SELECT 1 AS one')).rows);
        return out;
      });
    const want = await probe(direct);
    expect(await probe(await through())).toEqual(want);
  });

  it('JDBC: Connection.isValid() is true, empty statements run, startup settings arrive, metadata, read-only, arrays and fetch sizes work, as directly', async () => {
    const jdbc = async (t: Target) => {
      const url = `jdbc:postgresql://${t.host}:${t.port}/${t.database}?sslmode=disable&ApplicationName=compat-jdbc&options=-c%20statement_timeout%3D4000&prepareThreshold=1`;
      const { stdout } = await run('java', ['-cp', `/usr/share/java/postgresql.jar:${classes}`, 'JdbcFidelity', url, t.user, t.password]);
      return JSON.parse(stdout) as Record<string, unknown>;
    };
    const want = await jdbc(direct);
    expect(want.valid).toBe(true);
    expect(want.tables).toEqual(['patients', 'visits']);
    expect((want.settings as string[]).slice(0, 2)).toEqual(['compat-jdbc', '4s']);
    expect(await jdbc(await through())).toEqual(want);
  }, 60_000);
});

describe('everyday client features', () => {
  it('node-postgres: pools, row modes, field metadata, timeouts, multi-statement strings, savepoints, parameters', async () => {
    const probe = async (t: Target) => {
      const out: Record<string, unknown> = {};
      const pool = new pg.Pool({ ...t, max: 2 });
      const step = async (name: string, f: () => Promise<unknown>) => {
        try {
          out[name] = await f();
        } catch (e) {
          out[name] = { code: (e as pg.DatabaseError).code, message: (e as Error).message };
        }
      };
      const client = async <T,>(extra: pg.ClientConfig, f: (c: pg.Client) => Promise<T>) => withPg(t, extra, f);
      await step('rowModeArray', async () => (await pool.query({ text: 'SELECT 1 AS a, 2 AS b', rowMode: 'array' })).rows);
      await step('fields', async () => (await pool.query('SELECT id, visit_date FROM visits LIMIT 1')).fields.map((f) => [f.name, f.dataTypeID, f.tableID !== 0, f.columnID, f.format]));
      await step('queryTimeout', async () => client({ query_timeout: 200 } as pg.ClientConfig, (c) => c.query('SELECT pg_sleep(1)')));
      await step('statementTimeout', async () => client({ statement_timeout: 100 }, (c) => c.query('SELECT pg_sleep(1)')));
      await step('multi', async () => ((await pool.query('SELECT 1 AS a; SELECT 2 AS b')) as unknown as pg.QueryResult[]).map((r) => r.rows));
      await step('savepoint', async () => {
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          await c.query('SAVEPOINT s');
          await c.query('SELECT 1/0').catch(() => undefined);
          await c.query('ROLLBACK TO s');
          const r = await c.query('SELECT 2 AS x');
          await c.query('COMMIT');
          return r.rows;
        } finally {
          c.release();
        }
      });
      await step('params', async () => (await pool.query('SELECT $1::int + $2::int AS s, $3::text AS t, $4::jsonb AS j', [1, 2, null, { a: 1 }])).rows);
      await step('parallel', async () => (await Promise.all([1, 2, 3, 4].map((i) => pool.query('SELECT $1::int AS i', [i])))).map((r) => r.rows[0].i));
      await step('undefinedTable', async () => pool.query('SELECT * FROM no_such_table'));
      await pool.end();
      return out;
    };
    const want = await probe(direct);
    expect(want.statementTimeout).toMatchObject({ code: '57014' });
    expect(await probe(await through())).toEqual(want);
  });

  it('psycopg2: read-only sessions, named cursors, COPY TO STDOUT, execute_values, notices, errors', async () => {
    const py = async (t: Target) => {
      const dsn = `host=${t.host} port=${t.port} dbname=${t.database} user=${t.user} password=${t.password} sslmode=disable gssencmode=disable`;
      return JSON.parse((await run('/usr/bin/python3', [join(here, 'psycopg2_everyday.py'), dsn])).stdout) as Record<string, unknown>;
    };
    const want = await py(direct);
    expect(want.named_cursor).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await py(await through())).toEqual(want);
  });
});

describe('a client that leaves early', () => {
  /** Sends `bytes` on a fresh connection, half-closes, and returns everything the server says before closing. */
  const answer = (port: number, bytes: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = net.connect({ host: '127.0.0.1', port }, () => s.end(bytes));
      s.on('data', (c) => chunks.push(c));
      s.on('error', reject);
      s.on('close', () => resolve(Buffer.concat(chunks)));
    });

  it.each([
    ['a Terminate instead of a startup packet', Buffer.from([0x58, 0, 0, 0, 4])],
    ['nothing at all', Buffer.alloc(0)],
    ['half a startup packet', Buffer.from([0, 0, 0, 40, 0, 3, 0, 0])],
  ])('%s: closed without a word, as directly', async (_what, bytes) => {
    const want = await answer(direct.port, bytes);
    expect(want.length).toBe(0);
    expect((await answer(stack.gateway.address.port, bytes)).length).toBe(0);
  });

  it('a startup packet then a Terminate instead of the password: 08P01, as directly', async () => {
    const startup = (user: string, database: string) => {
      const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`);
      const head = Buffer.alloc(8);
      head.writeInt32BE(8 + body.length, 0);
      head.writeInt32BE(196608, 4);
      return Buffer.concat([head, body, Buffer.from([0x58, 0, 0, 0, 4])]);
    };
    const errorCode = (reply: Buffer) => {
      const at = reply.indexOf(0x45); // 'E' after the authentication request
      return /C([0-9A-Z]{5})\0/.exec(reply.subarray(at).toString('latin1'))?.[1];
    };
    expect(errorCode(await answer(direct.port, startup(direct.user, direct.database)))).toBe('08P01');
    expect(errorCode(await answer(stack.gateway.address.port, startup('bob', 'clinic')))).toBe('08P01');
  });

  it('node-postgres connect() then end() at once: no error, as directly', async () => {
    const leave = async (t: Target) => {
      const errors: string[] = [];
      const c = new pg.Client(t);
      c.on('error', (e) => errors.push(e.message));
      const connected = c.connect().then(
        () => 'connected',
        (e: Error) => `failed: ${e.message}`,
      );
      await c.end();
      await new Promise((r) => setTimeout(r, 200));
      return { errors, connected: await Promise.race([connected, new Promise((r) => setTimeout(() => r('pending'), 500))]) };
    };
    const want = await leave(direct);
    expect(want.errors).toEqual([]);
    expect(await leave(await through())).toEqual(want);
  });
});
