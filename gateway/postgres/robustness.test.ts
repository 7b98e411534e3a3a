// Bad input and the session's lifecycle against a real PostgreSQL: TLS, limits, timeouts, garbage,
// forged tokens, token expiry mid-session, an upstream that goes away, COPY, FunctionCall, SET ROLE.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import pg from 'pg';
import { Parser } from 'pg-protocol/dist/parser.js';
import { serialize } from 'pg-protocol/dist/serializer.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../testing/stack.ts';

const run = promisify(execFile);
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({
    limits: { max_message_bytes: 64 * 1024, auth_timeout_ms: 800, max_connections: 50, shutdown_grace_ms: 2000 },
  });
});
afterAll(async () => stack?.stop());

const psqlEnv = { ...process.env, PGGSSENCMODE: 'disable', PGCONNECT_TIMEOUT: '10' };

async function connect(user: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const c = new pg.Client({ ...(await stack.client(user)), ...extra });
  await c.connect();
  return c;
}

/** A raw protocol session: authenticate, then send bytes and collect backend messages until close. */
async function rawSession(user: string, afterAuth: (s: net.Socket) => void): Promise<{ name: string; code?: string; message?: string }[]> {
  const c = await stack.client(user);
  const socket = net.connect(c.port, '127.0.0.1');
  const parser = new Parser();
  const messages: { name: string; code?: string; message?: string }[] = [];
  let authed = false;
  return new Promise((resolve) => {
    socket.on('connect', () => socket.write(serialize.startup({ user, database: 'clinic' })));
    socket.on('data', (d) =>
      parser.parse(d, (m) => {
        const msg = m as unknown as { name: string };
        messages.push(msg);
        if (msg.name === 'authenticationCleartextPassword') socket.write(serialize.password(c.password));
        if (msg.name === 'readyForQuery' && !authed) {
          authed = true;
          messages.length = 0;
          afterAuth(socket);
        }
      }),
    );
    socket.on('close', () => resolve(messages));
    socket.on('error', () => undefined);
    setTimeout(() => socket.destroy(), 8000);
  });
}

describe('limits and malformed input', () => {
  it('closes a session that sends an oversized message (08P01) and keeps serving others', async () => {
    const msgs = await rawSession('alice', (s) => s.write(serialize.query(`SELECT '${'x'.repeat(70 * 1024)}'`)));
    const err = msgs.find((m) => m.name === 'error');
    expect(err?.code).toBe('08P01');
    expect(err?.message).toMatch(/too large|limit/i);
    const c = await connect('alice');
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await c.end();
  });

  it('closes a session that sends garbage after startup (08P01)', async () => {
    const msgs = await rawSession('alice', (s) => s.write(Buffer.from([0x7a, 0, 0, 0, 8, 1, 2, 3, 4])));
    expect(msgs.find((m) => m.name === 'error')?.code).toBe('08P01');
  });

  it('times out a client that never authenticates (28000)', async () => {
    const reply = await new Promise<Buffer>((resolve) => {
      const s = net.connect(stack.gateway.address.port, '127.0.0.1', () => s.write(serialize.startup({ user: 'alice', database: 'clinic' })));
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks)));
    });
    expect(reply.toString('latin1')).toContain('C28000');
    expect(reply.toString('latin1')).toContain('authentication timed out');
  });

  it('refuses a token signed by a key the issuer does not publish', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = await new SignJWT({ preferred_username: 'alice', groups: ['dba'] })
      .setProtectedHeader({ alg: 'ES256', kid: 'attacker' })
      .setIssuer(stack.issuer.issuer)
      .setAudience('verdict')
      .setSubject('user:alice')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    const c = new pg.Client({ ...(await stack.client('alice')), password: forged });
    const err = await c.connect().catch((e: pg.DatabaseError) => e);
    expect((err as pg.DatabaseError).code).toBe('28000');
    expect((err as pg.DatabaseError).message).toContain('does not publish');
    expect((err as pg.DatabaseError).message).not.toContain(forged.slice(0, 20));
  });

  it('denies a FunctionCall message and keeps the session', async () => {
    const fn = Buffer.alloc(5 + 4 + 2 + 2 + 2);
    fn[0] = 0x46; // 'F'
    fn.writeUInt32BE(fn.length - 1, 1);
    fn.writeUInt32BE(2619, 5); // any function oid
    const msgs = await rawSession('alice', (s) => {
      s.write(fn);
      s.write(serialize.query('SELECT 1'));
      setTimeout(() => s.end(serialize.end()), 300);
    });
    expect(msgs.map((m) => m.name)).toEqual(['error', 'readyForQuery', 'rowDescription', 'dataRow', 'commandComplete', 'readyForQuery']);
    expect(msgs[0]).toMatchObject({ code: '42501' });
  });
});

describe('session lifecycle', () => {
  it('ends the session with FATAL 28000 when the token expires', async () => {
    const c = new pg.Client({ ...(await stack.client('alice')), password: await stack.issuer.mint('alice', { ttlSeconds: 2 }) });
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await new Promise((r) => setTimeout(r, 2600));
    const err = (await c.query('SELECT 1').catch((e: Error) => e)) as Error & { code?: string };
    const seen = [err, ...errors].map((e) => `${(e as { code?: string }).code ?? ''} ${e.message}`).join(' | ');
    expect(seen).toMatch(/28000 your token expired at .*; reconnect with a new token|Connection terminated/);
    expect(errors.some((e) => (e as { code?: string }).code === '28000') || /28000/.test(seen)).toBe(true);
    await c.end().catch(() => undefined);
  });

  it('reports an upstream that goes away mid-query (57P01) and serves others', async () => {
    const victim = await connect('alice');
    victim.on('error', () => undefined);
    const running = victim.query('SELECT pg_sleep(20)').catch((e: pg.DatabaseError) => e);
    await new Promise((r) => setTimeout(r, 300));
    const admin = new pg.Client({ connectionString: stack.pg.url });
    await admin.connect();
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20)'");
    await admin.end();
    const err = (await running) as pg.DatabaseError;
    expect(err.code).toBe('57P01');
    const other = await connect('bob');
    expect((await other.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
    await other.end();
    await victim.end().catch(() => undefined);
  });
});

describe('COPY through psql', () => {
  it('\\copy FROM STDIN and TO STDOUT pass for an entitled role; masked columns are refused', async () => {
    const alice = await stack.url('alice');
    const file = join(stack.dir, 'visits.csv');
    writeFileSync(file, '1,2026-04-01,copied in\n2,2026-04-02,copied in\n');
    const copyIn = await run('psql', [alice, '-X', '-c', `\\copy visits (patient_id, visit_date, reason) FROM '${file}' WITH (FORMAT csv)`], { env: psqlEnv });
    expect(copyIn.stdout.trim()).toBe('COPY 2');
    const copyOut = await run('psql', [alice, '-X', '-c', "\\copy (SELECT reason FROM visits WHERE reason = 'copied in') TO STDOUT"], { env: psqlEnv });
    expect(copyOut.stdout.trim().split('\n')).toEqual(['copied in', 'copied in']);
    const bob = await stack.url('bob');
    const denied = await run('psql', [bob, '-X', '-c', '\\copy patients TO STDOUT'], { env: psqlEnv }).catch((e: { stderr: string }) => e);
    expect((denied as { stderr: string }).stderr).toContain('COPY of columns that must be masked is not supported');
  });
});

describe('TLS and roles', () => {
  it('serves TLS with a configured certificate and sets the upstream role per group', { timeout: 60_000 }, async () => {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(stack.dir, 'gw.key'), '-out', join(stack.dir, 'gw.crt')]);
    const tlsStack = await startStack(
      { tls: { cert: join(stack.dir, 'gw.crt'), key: join(stack.dir, 'gw.key'), require_for_tokens: true } },
      { roleByGroup: { contractors: 'verdict_contractor' } },
    );
    try {
      await tlsStack.pg.exec('CREATE ROLE verdict_contractor NOLOGIN; GRANT SELECT ON patients, visits TO verdict_contractor');
      const url = (await tlsStack.url('alice')).replace('sslmode=disable', 'sslmode=require');
      const { stdout } = await run('psql', [url, '-X', '-A', '-t', '-c', 'SHOW ssl'], { env: psqlEnv });
      expect(stdout.trim()).toBe('off'); // the upstream hop is plain in this test; the client hop is TLS:
      const c = new pg.Client({ ...(await tlsStack.client('bob')), ssl: { rejectUnauthorized: false } });
      await c.connect();
      expect((c as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted).toBe(true);
      expect((await c.query('SELECT current_user AS u')).rows).toEqual([{ u: 'verdict_contractor' }]);
      await c.end();
      const plain = await connect('alice');
      expect((await plain.query('SELECT current_user AS u')).rows).toEqual([{ u: 'postgres' }]);
      await plain.end();
    } finally {
      await tlsStack.stop();
    }
  });
});
