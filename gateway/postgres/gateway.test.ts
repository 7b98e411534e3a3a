// The PostgreSQL gateway end to end: real PostgreSQL (SCRAM) behind it, real node-postgres and psql in
// front, tokens from the dev issuer. Covers masking, denials (and that they never reach the upstream),
// the extended protocol, transactions, identity failures and bad input.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../testing/stack.ts';

const run = promisify(execFile);
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

async function connect(user: string): Promise<pg.Client> {
  const c = new pg.Client(await stack.client(user));
  await c.connect();
  return c;
}

async function upstreamQuery(sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: stack.pg.url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

describe('masking and denial through the gateway (node-postgres)', () => {
  it('masks PHI by role; unmasked columns pass byte for byte', async () => {
    const alice = await connect('alice');
    const bob = await connect('bob');
    try {
      const a = await alice.query('SELECT id, name, ssn FROM patients ORDER BY id LIMIT 2');
      expect(a.rows).toEqual([
        { id: 1, name: 'Ada Lovelace', ssn: '***-**-6789' },
        { id: 2, name: 'Alan Turing', ssn: '***-**-7890' },
      ]);
      // A direct copy keeps the type's method (email: the domain); a value derived from it is masked whole.
      const b = await bob.query('SELECT id, name, email, upper(email) AS e, dob FROM patients WHERE id = 1');
      expect(b.rows[0]).toEqual({ id: 1, name: '[REDACTED]', email: '***@example.org', e: '[REDACTED]', dob: expect.any(Date) });
      expect((b.rows[0].dob as Date).getFullYear()).toBe(1815);
      expect((b.rows[0].dob as Date).getMonth()).toBe(0);
      // Extended protocol with a parameter masks the same way.
      const p = await bob.query('SELECT ssn FROM patients WHERE id = $1', [3]);
      expect(p.rows).toEqual([{ ssn: '***-**-8901' }]);
      // SELECT * is expanded from the upstream catalog: only PHI columns are masked.
      const star = await bob.query('SELECT * FROM patients WHERE id = 2');
      expect(star.rows[0]).toMatchObject({ id: 2, name: '[REDACTED]', ssn: '***-**-7890', diagnosis: '[REDACTED]' });
    } finally {
      await alice.end();
      await bob.end();
    }
  });

  it('denies with 42501, the rule and the decision id; the session keeps working', async () => {
    const c = await connect('alice');
    try {
      const err = await c.query("SELECT pg_read_file('/etc/passwd')").catch((e: pg.DatabaseError) => e);
      expect(err).toBeInstanceOf(Error);
      const e = err as pg.DatabaseError;
      expect(e.code).toBe('42501');
      expect(e.message).toContain('function pg_read_file is not allowed through the gateway [guards.dangerous_function]');
      expect(e.detail).toMatch(/^decision [0-9a-f-]{36}, policy test-stack$/);
      expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await c.end();
    }
  });

  it('runs nothing of a multi-statement string when one statement is denied', async () => {
    const before = (await upstreamQuery('SELECT count(*)::int AS n FROM visits')).rows[0].n;
    const c = await connect('alice');
    try {
      const err = await c
        .query("INSERT INTO visits (patient_id, visit_date) VALUES (1, '2026-03-01'); SELECT pg_ls_dir('.')")
        .catch((e: pg.DatabaseError) => e);
      expect((err as pg.DatabaseError).code).toBe('42501');
    } finally {
      await c.end();
    }
    expect((await upstreamQuery('SELECT count(*)::int AS n FROM visits')).rows[0].n).toBe(before);
  });

  it('a denial inside a transaction fails the transaction as PostgreSQL would; ROLLBACK recovers', async () => {
    const c = await connect('alice');
    try {
      await c.query('BEGIN');
      await c.query("INSERT INTO visits (patient_id, visit_date) VALUES (2, '2026-03-02')");
      await expect(c.query('GRANT SELECT ON patients TO PUBLIC')).rejects.toMatchObject({ code: '42501' });
      await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
      await c.query('ROLLBACK');
      expect((await c.query("SELECT count(*)::int AS n FROM visits WHERE visit_date = '2026-03-02'")).rows).toEqual([{ n: 0 }]);
    } finally {
      await c.end();
    }
    const grants = await upstreamQuery("SELECT has_table_privilege('public', 'patients', 'SELECT') AS g");
    expect(grants.rows[0].g).toBe(false);
  });

  it('denies a prepared statement at Parse and keeps the connection usable', async () => {
    const c = await connect('bob');
    try {
      await expect(c.query({ name: 'rf', text: 'SELECT pg_read_file($1)', values: ['/etc/hostname'] })).rejects.toMatchObject({ code: '42501' });
      expect((await c.query({ name: 'ok', text: 'SELECT $1::int + 1 AS x', values: [41] })).rows).toEqual([{ x: 42 }]);
      expect((await c.query({ name: 'ok', text: 'SELECT $1::int + 1 AS x', values: [1] })).rows).toEqual([{ x: 2 }]);
    } finally {
      await c.end();
    }
  });
});

describe('identity', () => {
  const attempt = async (cfg: pg.ClientConfig) => {
    const c = new pg.Client(cfg);
    return c.connect().then(
      async () => {
        await c.end();
        return null;
      },
      (e: pg.DatabaseError) => e,
    );
  };

  it('refuses a password that is not a token, a token for another user, an expired token', async () => {
    const base = await stack.client('alice');
    const notJwt = await attempt({ ...base, password: 'hunter2' });
    expect(notJwt?.code).toBe('28000');
    expect(notJwt?.message).toContain('not a JWT');
    const mismatch = await attempt({ ...base, password: await stack.issuer.mint('bob') });
    expect(mismatch?.code).toBe('28000');
    expect(mismatch?.message).toContain('does not match');
    const expired = await attempt({ ...base, password: await stack.issuer.mint('alice', { ttlSeconds: -120 }) });
    expect(expired?.code).toBe('28000');
    expect(expired?.message).toMatch(/expired/);
  });

  it('refuses unknown databases and replication connections', async () => {
    const base = await stack.client('alice');
    expect((await attempt({ ...base, database: 'nope' }))?.code).toBe('3D000');
    const repl = await attempt({ ...base, replication: 'database' } as pg.ClientConfig);
    expect(repl?.code).toBe('0A000');
  });
});

describe('bad input', () => {
  it('answers a malformed startup packet with 08P01 and keeps serving others', async () => {
    const reply = await new Promise<Buffer>((resolve) => {
      const s = net.connect(stack.gateway.address.port, '127.0.0.1', () => {
        const junk = Buffer.alloc(12);
        junk.writeUInt32BE(12, 0);
        junk.writeUInt32BE(0x00020000, 4); // protocol 2.0
        s.write(junk);
      });
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks)));
    });
    expect(reply[0]).toBe(0x45); // 'E'
    expect(reply.toString('latin1')).toMatch(/C(08P01|0A000)/);
    const c = await connect('alice');
    expect((await c.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    await c.end();
  });
});

describe('psql', () => {
  it('lists tables, describes a table and masks through psql', async () => {
    const url = await stack.url('bob');
    const env = { ...process.env, PGGSSENCMODE: 'disable', PGCONNECT_TIMEOUT: '10' };
    const dt = await run('psql', [url, '-X', '-A', '-t', '-c', '\\dt'], { env });
    expect(dt.stdout).toContain('public|patients|table|');
    const d = await run('psql', [url, '-X', '-c', '\\d patients'], { env });
    expect(d.stdout).toMatch(/ssn\s+\|\s+text/);
    const q = await run('psql', [url, '-X', '-A', '-t', '-c', 'SELECT name, ssn FROM patients WHERE id = 4'], { env });
    expect(q.stdout.trim()).toBe('[REDACTED]|***-**-9012');
    const denied = await run('psql', [url, '-X', '-c', "SELECT pg_read_file('/etc/passwd')"], { env }).catch((e: { stderr: string; code: number }) => e);
    expect((denied as { stderr: string }).stderr).toContain('ERROR:  Verdict denied this statement: function pg_read_file is not allowed');
    expect((denied as { stderr: string }).stderr).toMatch(/DETAIL:\s+decision [0-9a-f-]{36}/);
  });
});
