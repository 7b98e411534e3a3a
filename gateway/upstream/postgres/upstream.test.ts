// Upstream connections against real PostgreSQL clusters (trust, SCRAM, md5, TLS): authentication,
// TLS modes, timeouts, cancellation, and that the handed-over socket really carries queries.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { BackendMessage, DatabaseError, DataRowMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';
import { serialize } from 'pg-protocol/dist/serializer.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestPostgres, type TestPostgres } from '../../testing/postgres.ts';
import { cancelUpstream, connectUpstream, resolveSecret, UpstreamError, type UpstreamConnection, type UpstreamTarget } from './upstream.ts';

let trust: TestPostgres;
let scram: TestPostgres;
let md5: TestPostgres;
let ssl: TestPostgres;
let cleartext: TestPostgres;
const open: UpstreamConnection[] = [];

beforeAll(async () => {
  [trust, scram, md5, ssl, cleartext] = await Promise.all([
    startTestPostgres(),
    startTestPostgres({ auth: 'scram-sha-256' }),
    startTestPostgres({ auth: 'md5' }),
    startTestPostgres({ auth: 'scram-sha-256', ssl: true }),
    startTestPostgres({ auth: 'password' }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([trust, scram, md5, ssl, cleartext].map((s) => s?.stop()));
});

afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

function targetFor(server: TestPostgres, extra: Partial<UpstreamTarget> = {}): UpstreamTarget {
  return {
    name: 'test',
    host: server.host,
    port: server.port,
    database: server.database,
    user: server.user,
    ...(server.password === undefined ? {} : { password: { value: server.password } }),
    tls: { mode: 'disable' },
    ...extra,
  };
}

async function connect(target: UpstreamTarget, opts?: Parameters<typeof connectUpstream>[1]): Promise<UpstreamConnection> {
  const conn = await connectUpstream(target, opts);
  open.push(conn);
  return conn;
}

/** Rejects with the UpstreamError the promise fails with, so tests can assert on code/sqlstate/message. */
async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof UpstreamError) return err;
    throw err;
  }
  throw new Error('expected the connection to fail');
}

interface Result {
  rows: string[][];
  error?: DatabaseError;
}

/** Reads the raw socket the way the data path will: leftover bytes first, then pg-protocol's Parser. */
function reader(conn: UpstreamConnection): (onMessage: (m: BackendMessage) => void) => void {
  const parser = new Parser();
  let handler: (m: BackendMessage) => void = () => {};
  parser.parse(conn.leftover, (m) => handler(m));
  conn.socket.on('data', (chunk: Buffer) => parser.parse(chunk, (m) => handler(m)));
  conn.socket.resume();
  return (h) => (handler = h);
}

function simpleQuery(conn: UpstreamConnection, sql: string, listen = reader(conn)): Promise<Result> {
  return new Promise((resolve) => {
    const result: Result = { rows: [] };
    listen((m) => {
      if (m.name === 'dataRow') result.rows.push((m as DataRowMessage).fields as string[]);
      if (m.name === 'error') result.error = m as DatabaseError;
      if (m.name === 'readyForQuery') resolve(result);
    });
    conn.socket.write(serialize.query(sql));
  });
}

describe('authentication', () => {
  it('connects with trust and collects the ParameterStatus values', async () => {
    const conn = await connect(targetFor(trust, { tls: { mode: 'prefer' } }));
    expect(conn.parameters.get('server_version')).toMatch(/^\d+/);
    expect(conn.parameters.get('client_encoding')).toBe('UTF8');
    expect(conn.socket).not.toBeInstanceOf(tls.TLSSocket); // prefer fell back: this cluster has no TLS
  });

  it('authenticates with SCRAM-SHA-256 and hands over a socket that runs queries', async () => {
    const conn = await connect(targetFor(scram));
    expect(conn.processId).toBeGreaterThan(0);
    expect(conn.secretKey.length).toBe(4);
    expect(conn.parameters.get('server_version')).toMatch(/^\d+/);
    expect(conn.leftover.length).toBe(0);
    const r = await simpleQuery(conn, 'SELECT 40 + 2, pg_backend_pid(), current_user');
    expect(r.error).toBeUndefined();
    expect(r.rows).toEqual([['42', String(conn.processId), scram.user]]);
  });

  it('fails with AUTH_FAILED / 28P01 on a wrong password and never echoes it', async () => {
    const wrong = 'not-the-Password-42';
    const err = await failure(connectUpstream(targetFor(scram, { password: { value: wrong } })));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.sqlstate).toBe('28P01');
    expect(err.message).toContain('password authentication failed');
    expect(err.message).toContain('upstream "test"');
    expect(err.message).not.toContain(wrong);
    expect(JSON.stringify(err)).not.toContain(wrong);
  });

  it('fails with AUTH_FAILED when the server wants a password and none is configured', async () => {
    const { password: _, ...noPassword } = targetFor(scram);
    const err = await failure(connectUpstream(noPassword));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.message).toContain('none is configured');
  });

  it('authenticates with md5 (against a real md5 verifier) using a password from the environment', async () => {
    process.env.VERDICT_TEST_MD5_PASSWORD = md5.password;
    try {
      const conn = await connect(targetFor(md5, { password: { env: 'VERDICT_TEST_MD5_PASSWORD' } }));
      const r = await simpleQuery(conn, "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = current_user");
      expect(r.rows).toEqual([['md5']]); // so the server really ran the md5 exchange, not SCRAM
    } finally {
      delete process.env.VERDICT_TEST_MD5_PASSWORD;
    }
  });

  it('answers a cleartext password request over loopback (where nothing crosses the network)', async () => {
    const conn = await connect(targetFor(cleartext));
    expect((await simpleQuery(conn, 'SELECT current_user')).rows).toEqual([[cleartext.user]]);
    const err = await failure(connectUpstream(targetFor(cleartext, { password: { value: 'wrong-one' } })));
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.sqlstate).toBe('28P01');
  });

  it('reports a missing database as SERVER_ERROR with its SQLSTATE', async () => {
    const err = await failure(connectUpstream(targetFor(trust, { database: 'no_such_db' })));
    expect(err.code).toBe('SERVER_ERROR');
    expect(err.sqlstate).toBe('3D000');
    expect(err.message).toContain('no_such_db');
  });

  it('passes extra startup parameters but keeps the gateway-owned user and refuses replication', async () => {
    const conn = await connect(targetFor(scram, { applicationName: 'verdict' }), {
      extraStartup: { user: 'intruder', DateStyle: 'German', application_name: 'from-client' },
    });
    const r = await simpleQuery(conn, "SELECT current_user, current_setting('DateStyle'), current_setting('application_name')");
    expect(r.rows).toEqual([[scram.user, 'German, DMY', 'verdict']]);
    const err = await failure(connectUpstream(targetFor(scram), { extraStartup: { replication: 'database' } }));
    expect(err.code).toBe('PROTOCOL');
  });

  it('refuses a NUL inside a startup value or key: it would smuggle in parameters (database, options) no check saw', async () => {
    const smuggled: Record<string, string>[] = [{ application_name: 'agent\0database\0postgres' }, { 'a\0options': '-c search_path=evil' }];
    for (const extra of smuggled) {
      const err = await failure(connectUpstream(targetFor(scram), { extraStartup: extra }));
      expect(err.code).toBe('PROTOCOL');
      expect(err.message).toMatch(/NUL/);
    }
  });
});

describe('TLS', () => {
  it('encrypts with mode require', async () => {
    const conn = await connect(targetFor(ssl, { tls: { mode: 'require' } }));
    expect(conn.socket).toBeInstanceOf(tls.TLSSocket);
    const r = await simpleQuery(conn, 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(r.rows).toEqual([['t']]);
  });

  it('verify-full succeeds with the right CA and host name', async () => {
    const conn = await connect(targetFor(ssl, { tls: { mode: 'verify-full', ca: ssl.ca! } }));
    expect((conn.socket as tls.TLSSocket).authorized).toBe(true);
    const viaName = await connect(targetFor(ssl, { tls: { mode: 'verify-full', ca: ssl.ca!, servername: 'localhost' } }));
    expect((viaName.socket as tls.TLSSocket).authorized).toBe(true);
  });

  it('verify-full fails on a wrong server name or without the CA', async () => {
    const wrongName = await failure(connectUpstream(targetFor(ssl, { tls: { mode: 'verify-full', ca: ssl.ca!, servername: 'db.example.com' } })));
    expect(wrongName.code).toBe('TLS_FAILED');
    expect(wrongName.message).toMatch(/db\.example\.com/);
    const unknownCa = await failure(connectUpstream(targetFor(ssl, { tls: { mode: 'verify-full' } })));
    expect(unknownCa.code).toBe('TLS_FAILED');
  });

  it('fails with TLS_FAILED when TLS is required but the server has none', async () => {
    const err = await failure(connectUpstream(targetFor(scram, { tls: { mode: 'require' } })));
    expect(err.code).toBe('TLS_FAILED');
    expect(err.message).toContain('does not support TLS');
  });
});

describe('timeouts, aborts and refusals', () => {
  let blackhole: net.Server;
  const held: net.Socket[] = [];
  beforeAll(async () => {
    // Accepts and never answers: what a hung server or a half-open path looks like.
    blackhole = net.createServer((s) => held.push(s));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((resolve) => blackhole.close(resolve));
  });
  const port = () => (blackhole.address() as net.AddressInfo).port;

  it('gives up after connectTimeoutMs with TIMEOUT', async () => {
    const started = Date.now();
    const err = await failure(connectUpstream({ name: 'hole', host: '127.0.0.1', port: port(), database: 'x', user: 'x', connectTimeoutMs: 300 }));
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toContain('300 ms');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('stops when the caller aborts', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const err = await failure(connectUpstream({ name: 'hole', host: '127.0.0.1', port: port(), database: 'x', user: 'x', tls: { mode: 'disable' } }, { signal: ac.signal }));
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.message).toContain('aborted');
  });

  it('reports a refused connection as CONNECT_FAILED', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const p = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await failure(connectUpstream({ name: 'gone', host: '127.0.0.1', port: p, database: 'x', user: 'x' }));
    expect(err.code).toBe('CONNECT_FAILED');
    expect(err.message).toContain('ECONNREFUSED');
  });
});

describe('cancelUpstream', () => {
  it.each([
    ['plain', () => targetFor(scram)],
    ['over TLS', () => targetFor(ssl, { tls: { mode: 'verify-full' as const, ca: ssl.ca! } })],
  ])('cancels a running pg_sleep (%s)', async (_, target) => {
    const t = target();
    const conn = await connect(t);
    const listen = reader(conn);
    const started = Date.now();
    const running = simpleQuery(conn, 'SELECT pg_sleep(10)', listen);
    // Cancel only once the backend is really inside pg_sleep, else the request could race the query.
    const watcher = await connect(t);
    for (let i = 0; i < 100; i++) {
      const r = await simpleQuery(watcher, `SELECT state FROM pg_stat_activity WHERE pid = ${conn.processId}`);
      if (r.rows[0]?.[0] === 'active') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await cancelUpstream(t, conn.processId, conn.secretKey);
    const result = await running;
    expect(result.error?.code).toBe('57014');
    expect(Date.now() - started).toBeLessThan(5000);
    // The session survives the cancel.
    expect((await simpleQuery(conn, 'SELECT 1', listen)).rows).toEqual([['1']]);
  });
});

describe('resolveSecret', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'verdict-secret-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    delete process.env.VERDICT_TEST_SECRET;
  });

  it('reads an environment variable', () => {
    process.env.VERDICT_TEST_SECRET = 's3cret';
    expect(resolveSecret({ env: 'VERDICT_TEST_SECRET' })).toBe('s3cret');
  });

  it('reads a file and drops the trailing newline only', () => {
    const file = join(dir, 'pw');
    writeFileSync(file, ' pass word \n');
    expect(resolveSecret({ file })).toBe(' pass word ');
    writeFileSync(file, 'crlf\r\n');
    expect(resolveSecret({ file })).toBe('crlf');
  });

  it('returns an inline value', () => {
    expect(resolveSecret({ value: 'dev-only' })).toBe('dev-only');
  });

  it('names the missing or empty variable', () => {
    expect(() => resolveSecret({ env: 'VERDICT_TEST_SECRET' })).toThrow(/VERDICT_TEST_SECRET is not set/);
    process.env.VERDICT_TEST_SECRET = '';
    expect(() => resolveSecret({ env: 'VERDICT_TEST_SECRET' })).toThrow(/VERDICT_TEST_SECRET is empty/);
    try {
      resolveSecret({ env: 'VERDICT_TEST_SECRET' });
    } catch (e) {
      expect(e).toBeInstanceOf(UpstreamError);
      expect((e as UpstreamError).code).toBe('SECRET_MISSING');
    }
  });

  it('names the missing or empty file, never its content', () => {
    const missing = join(dir, 'nope');
    expect(() => resolveSecret({ file: missing })).toThrow(new RegExp(`${missing}.*ENOENT`));
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    expect(() => resolveSecret({ file: empty })).toThrow(/is empty/);
  });

  it('fails a connection with SECRET_MISSING when the referenced secret is absent', async () => {
    const err = await failure(connectUpstream(targetFor(scram, { password: { env: 'VERDICT_TEST_SECRET' } })));
    expect(err.code).toBe('SECRET_MISSING');
    expect(err.message).toContain('VERDICT_TEST_SECRET');
  });
});
