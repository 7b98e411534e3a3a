// UpstreamSession against a real PostgreSQL (fields, limits, tags, errors, transaction status, cancel,
// serialization, text round-trips) and against a scripted fake upstream (framing, protocol violations).
import type net from 'node:net';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestPostgres, type TestPostgres } from '../../testing/postgres.ts';
import { StatementError } from './errors.ts';
import { UpstreamSession } from './statement.ts';
import { cancelUpstream, connectUpstream, UpstreamError, type UpstreamConnection, type UpstreamTarget } from './upstream.ts';

let server: TestPostgres;
let target: UpstreamTarget;
const open: UpstreamSession[] = [];

beforeAll(async () => {
  server = await startTestPostgres();
  target = { name: 'test', host: server.host, port: server.port, database: server.database, user: server.user, tls: { mode: 'disable' } };
  await server.exec(`
    CREATE TABLE people (id int PRIMARY KEY, dropped int, name text, email text);
    ALTER TABLE people DROP COLUMN dropped;
    INSERT INTO people VALUES (1, 'Ada', 'ada@example.com'), (2, 'Grace', NULL), (3, 'Linus', 'linus@example.com');
    CREATE TABLE parent (id int PRIMARY KEY);
    CREATE TABLE child (parent_id int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);
    CREATE TABLE scratch (n int);
  `);
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function session(opts: ConstructorParameters<typeof UpstreamSession>[1] = {}): Promise<{ s: UpstreamSession; conn: UpstreamConnection }> {
  const conn = await connectUpstream(target);
  const s = new UpstreamSession(conn, opts);
  open.push(s);
  return { s, conn };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the statement to fail');
}

describe('results', () => {
  it('describes table columns with their table oid, attnum and type, and binds text parameters', async () => {
    const { s } = await session();
    const r = await s.run('SELECT email, id, name AS who, $2::int + 1 AS k FROM people WHERE id = $1', ['1', '41']);
    const catalog = await s.run(
      "SELECT attname, attrelid::oid::text, attnum::text, atttypid::oid::text FROM pg_attribute WHERE attrelid = 'people'::regclass AND attname IN ('id', 'name', 'email')",
      [],
    );
    const col = (name: string) => {
      const row = catalog.rows.find((x) => x[0] === name)!;
      return { tableOid: Number(row[1]), attnum: Number(row[2]), typeOid: Number(row[3]) };
    };
    expect(r.fields).toEqual([
      { name: 'email', ...col('email') },
      { name: 'id', ...col('id') },
      { name: 'who', ...col('name') },
      { name: 'k', tableOid: 0, attnum: 0, typeOid: 23 },
    ]);
    expect(col('email').attnum).toBe(4); // the dropped column keeps its number
    expect(r.rows).toEqual([['ada@example.com', '1', 'Ada', '42']]);
    expect(r).toMatchObject({ tag: 'SELECT 1', truncated: false, notices: [], status: 'I' });
  });

  it('returns NULL columns and NULL parameters as null', async () => {
    const { s } = await session();
    const r = await s.run('SELECT email, $1::text AS p, $2::text AS q FROM people WHERE id = 2', [null, '']);
    expect(r.rows).toEqual([[null, null, '']]);
  });

  it('leaves parameter types to the server unless `types` names them', async () => {
    const { s } = await session();
    expect((await s.run('SELECT $1 AS v', ['7'])).fields?.[0]?.typeOid).toBe(25); // unknown resolves to text
    const typed = await s.run('SELECT $1 AS v', ['7'], { types: [23] });
    expect(typed.fields?.[0]?.typeOid).toBe(23);
    expect(((await rejection(s.run('SELECT $1 AS v', ['seven'], { types: [23] }))) as StatementError).sqlstate).toBe('22P02');
  });

  it('cuts the result at maxRows with an empty tag, and not when exactly maxRows rows exist', async () => {
    const { s } = await session();
    const cut = await s.run('SELECT g FROM generate_series(1, 5) g', [], { maxRows: 2 });
    expect(cut).toMatchObject({ rows: [['1'], ['2']], tag: '', truncated: true, status: 'I' });
    const exact = await s.run('SELECT g FROM generate_series(1, 3) g', [], { maxRows: 3 });
    expect(exact).toMatchObject({ rows: [['1'], ['2'], ['3']], tag: 'SELECT 3', truncated: false });
    const oneMore = await s.run('SELECT g FROM generate_series(1, 4) g', [], { maxRows: 3 });
    expect(oneMore).toMatchObject({ rows: [['1'], ['2'], ['3']], tag: '', truncated: true });
    expect((await s.run('SELECT 1', [])).rows).toEqual([['1']]);
  });

  it('a row limit on INSERT … RETURNING still inserts every row', async () => {
    const { s } = await session();
    const r = await s.run('INSERT INTO scratch SELECT g FROM generate_series(101, 105) g RETURNING n', [], { maxRows: 2 });
    expect(r).toMatchObject({ rows: [['101'], ['102']], tag: '', truncated: true });
    expect((await s.run('DELETE FROM scratch WHERE n BETWEEN 101 AND 105', [])).tag).toBe('DELETE 5');
  });

  it('stops keeping rows at maxBytes (value bytes) but reads the statement to its end', async () => {
    const { s } = await session();
    const r = await s.run("SELECT repeat('é', 5), NULL FROM generate_series(1, 10)", [], { maxBytes: 35 }); // 10 bytes a row
    expect(r.rows).toEqual([['ééééé', null], ['ééééé', null], ['ééééé', null]]);
    expect(r).toMatchObject({ tag: 'SELECT 10', truncated: true, status: 'I' });
    expect((await s.run('SELECT 2', [], { maxBytes: 1 })).rows).toEqual([['2']]);
  });

  it('gives DML tags and null fields', async () => {
    const { s } = await session();
    const ins = await s.run('INSERT INTO scratch VALUES ($1), ($2)', ['7', '8']);
    expect(ins).toEqual({ fields: null, rows: [], tag: 'INSERT 0 2', truncated: false, notices: [], status: 'I' });
    expect(await s.run('DELETE FROM scratch WHERE n = $1', ['7'])).toMatchObject({ fields: null, tag: 'DELETE 1' });
    const upd = await s.run('UPDATE scratch SET n = 9 WHERE n = 8 RETURNING n', []);
    expect(upd).toMatchObject({ rows: [['9']], tag: 'UPDATE 1' });
    expect(upd.fields?.map((f) => f.name)).toEqual(['n']);
    await s.run('DELETE FROM scratch WHERE n = 9', []);
  });

  it('collects notices and treats an empty statement as no rows with an empty tag', async () => {
    const { s } = await session();
    const r = await s.run("DO $$BEGIN RAISE NOTICE 'first'; RAISE WARNING 'second'; END$$", []);
    expect(r).toMatchObject({ fields: null, tag: 'DO', notices: ['first', 'second'] });
    expect(await s.run('', [])).toMatchObject({ fields: null, rows: [], tag: '', truncated: false });
  });

  it('round-trips any text value through a parameter exactly', async () => {
    const { s } = await session();
    const char = fc.oneof(
      fc.constantFrom("'", "''", '"', '\\', '\\x00', '$1', ';', '\n', '\r', '\t', ' ', '%', '_', 'é', '😀', '\u200b', '\ufeff'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    );
    const text = fc.string({ unit: char, maxLength: 40 }).filter((v) => !v.includes('\0'));
    await fc.assert(
      fc.asyncProperty(text, async (v) => {
        const r = await s.run('SELECT $1::text, length($1::text)', [v]);
        expect(r.rows).toEqual([[v, String([...v].length)]]);
      }),
      { numRuns: 100, seed: 4242 },
    );
  });
});

describe('errors and transaction status', () => {
  it('rejects with the server error and stays usable', async () => {
    const { s } = await session();
    const zero = await rejection(s.run('SELECT 1 / $1::int', ['0']));
    expect(zero).toBeInstanceOf(StatementError);
    expect(zero).toMatchObject({ sqlstate: '22012', severity: 'ERROR', message: 'division by zero' });
    const missing = (await rejection(s.run('SELECT * FROM no_such_table', []))) as StatementError;
    expect(missing).toMatchObject({ sqlstate: '42P01', position: 15 });
    expect(s.status).toBe('I');
    expect((await s.run('SELECT $1::int * 2', ['21'])).rows).toEqual([['42']]);
  });

  it("refuses several commands in one string (42601), running none of them", async () => {
    const { s } = await session();
    const err = (await rejection(s.run('INSERT INTO scratch VALUES (1); DELETE FROM scratch', []))) as StatementError;
    expect(err).toBeInstanceOf(StatementError);
    expect(err.sqlstate).toBe('42601');
    expect((await s.run('SELECT count(*) FROM scratch WHERE n = 1', [])).rows).toEqual([['0']]);
  });

  it("refuses a NUL in the statement text before sending it (Parse's C string would cut it)", async () => {
    const { s } = await session();
    const err = (await rejection(s.run('SELECT 1\0; DROP TABLE people', []))) as StatementError;
    expect(err).toMatchObject({ sqlstate: '22021' });
    expect((await s.run('SELECT count(*) FROM people', [])).rows).toEqual([['3']]);
  });

  it("reports 'T' inside a transaction and 'E' after an error in it", async () => {
    const { s } = await session();
    expect(s.status).toBe('I');
    expect((await s.run('BEGIN', [])).status).toBe('T');
    expect(s.status).toBe('T');
    await rejection(s.run('SELECT 1/0', []));
    expect(s.status).toBe('E');
    expect(((await rejection(s.run('SELECT 1', []))) as StatementError).sqlstate).toBe('25P02');
    expect(await s.run('COMMIT', [])).toMatchObject({ tag: 'ROLLBACK', status: 'I' });
  });

  it('rejects when the implicit COMMIT at Sync fails after CommandComplete', async () => {
    const { s } = await session();
    const err = (await rejection(s.run('INSERT INTO child VALUES (99)', []))) as StatementError;
    expect(err.sqlstate).toBe('23503');
    expect((await s.run('SELECT count(*) FROM child', [])).rows).toEqual([['0']]);
  });
});

describe('session', () => {
  it('reports ParameterStatus changes', async () => {
    const seen: [string, string][] = [];
    const { s } = await session({ onParameterStatus: (name, value) => seen.push([name, value]) });
    await s.run("SET application_name = 'x'", []);
    expect(seen).toContainEqual(['application_name', 'x']);
  });

  it('fails closed when onParameterStatus throws', async () => {
    const { s } = await session({ onParameterStatus: () => { throw new Error('dangerous'); } });
    const err = await rejection(s.run("SET application_name = 'y'", []));
    expect(err).toMatchObject({ name: 'UpstreamError', code: 'PROTOCOL' });
    expect(s.closed).toBe(true);
  });

  it('serializes concurrent runs: each is sent after the previous one finished', async () => {
    const { s, conn } = await session();
    const log: string[] = [];
    const cork = conn.socket.cork.bind(conn.socket);
    conn.socket.cork = () => (log.push('send'), cork());
    const runs = [0, 1, 2, 3].map((i) =>
      s.run(i === 2 ? 'SELECT 1/0' : 'SELECT $1::int, pg_sleep(0.02)', i === 2 ? [] : [String(i)]).then(
        (r) => (log.push(`done ${i}`), r.rows[0]![0]),
        (e: StatementError) => (log.push(`done ${i}`), e.sqlstate),
      ),
    );
    expect(await Promise.all(runs)).toEqual(['0', '1', '22012', '3']);
    expect(log).toEqual(['send', 'done 0', 'send', 'done 1', 'send', 'done 2', 'send', 'done 3']);
  });

  it('rejects a running statement with UpstreamError when the socket closes, and later ones too', async () => {
    const { s, conn } = await session();
    const running = s.run('SELECT pg_sleep(10)', []);
    const queued = s.run('SELECT 1', []);
    setTimeout(() => conn.socket.destroy(), 50);
    const err = await rejection(running);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).code).toBe('CONNECT_FAILED');
    expect(s.closed).toBe(true);
    expect(await rejection(queued)).toBeInstanceOf(UpstreamError);
  });

  it('turns a FATAL before the close into SERVER_ERROR with its sqlstate', async () => {
    const { s } = await session();
    const err = (await rejection(s.run('SELECT pg_terminate_backend(pg_backend_pid())', []))) as UpstreamError;
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ code: 'SERVER_ERROR', sqlstate: '57P01' });
    expect(s.closed).toBe(true);
  });

  it('fails closed on COPY (a message outside the statement protocol)', async () => {
    const { s } = await session();
    const err = (await rejection(s.run('COPY people TO STDOUT', []))) as UpstreamError;
    expect(err).toMatchObject({ name: 'UpstreamError', code: 'PROTOCOL' });
    expect(err.message).toContain('copyOutResponse');
    expect(s.closed).toBe(true);
  });

  it('cancels on abort (57014) and the connection stays usable', async () => {
    const { s, conn } = await session({ cancel: () => cancelUpstream(target, conn.processId, conn.secretKey) });
    const started = Date.now();
    const err = (await rejection(s.run('SELECT pg_sleep(10)', [], { signal: AbortSignal.timeout(100) }))) as StatementError;
    expect(err).toBeInstanceOf(StatementError);
    expect(err.sqlstate).toBe('57014');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await s.run('SELECT 3', [])).rows).toEqual([['3']]);
  });

  it('closes the connection on abort without a cancel function', async () => {
    const { s } = await session();
    const err = (await rejection(s.run('SELECT pg_sleep(10)', [], { signal: AbortSignal.timeout(50) }))) as UpstreamError;
    expect(err).toMatchObject({ name: 'UpstreamError', code: 'CONNECT_FAILED' });
    expect(s.closed).toBe(true);
  });

  it('rejects an already aborted run with the reason and sends nothing', async () => {
    const { s } = await session();
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    expect((await rejection(s.run('INSERT INTO scratch VALUES (5)', [], { signal: ac.signal }))).message).toBe('gone');
    expect((await s.run('SELECT count(*) FROM scratch WHERE n = 5', [])).rows).toEqual([['0']]);
  });
});

/** Backend message: type byte, Int32 length, body. */
function msg(type: string, ...parts: (string | number[] | Buffer)[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(`${p}\0`) : Buffer.from(p))));
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const int16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const int32 = (n: number) => [...Buffer.from(new Int32Array([n]).buffer).reverse()];

/** An UpstreamConnection over a scripted in-memory socket; `push` plays backend bytes. */
function fakeConnection(leftover: Buffer = Buffer.alloc(0)) {
  const written: Buffer[] = [];
  const socket = new Duplex({ read() {}, write(chunk: Buffer, _enc, cb) { written.push(chunk); cb(); } });
  const conn: UpstreamConnection = { socket: socket as unknown as net.Socket, processId: 1, secretKey: Buffer.alloc(4), parameters: new Map(), leftover, close: () => socket.destroy() };
  return { conn, written, push: (b: Buffer) => socket.push(b) };
}

describe('framing and protocol violations (scripted upstream)', () => {
  const head = Buffer.concat([msg('1'), msg('2')]);
  const rowDesc = msg('T', int16(1), 'v', int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0));
  const reply = Buffer.concat([
    head, rowDesc,
    msg('D', int16(1), int32(3), Buffer.from('a\u00e9')), // 'aé' is 3 bytes
    msg('S', 'TimeZone', 'UTC'),
    msg('N', 'SNOTICE', 'C00000', 'Mhello', [0]),
    msg('A', int32(7), 'chan', 'payload'),
    msg('C', 'SELECT 1'), msg('Z', 'T'),
  ]);

  const expected = { fields: [{ name: 'v', tableOid: 0, attnum: 0, typeOid: 25 }], rows: [['aé']], tag: 'SELECT 1', truncated: false, notices: ['hello'], status: 'T' };

  it('parses a reply delivered one byte at a time, after leftover bytes', async () => {
    const seen: string[] = [];
    const { conn, push, written } = fakeConnection(msg('S', 'is_superuser', 'off'));
    const s = new UpstreamSession(conn, { onParameterStatus: (n, v) => seen.push(`${n}=${v}`) });
    const p = s.run('SELECT $1', ['x']);
    for (const byte of reply) push(Buffer.of(byte));
    expect(await p).toEqual(expected);
    expect(seen).toEqual(['is_superuser=off', 'TimeZone=UTC']);
    expect(Buffer.concat(written).toString('latin1', 0, 1)).toBe('P');
    s.close();
  });

  it('parses a reply split in two at every offset', async () => {
    for (let at = 0; at <= reply.length; at++) {
      const { conn, push } = fakeConnection();
      const s = new UpstreamSession(conn);
      const p = s.run('SELECT $1', ['x']);
      // Copies: pg-protocol's Parser may reuse a chunk it was given as its buffer and write into it.
      push(Buffer.from(reply.subarray(0, at)));
      push(Buffer.from(reply.subarray(at)));
      expect(await p).toEqual(expected);
      s.close();
    }
  });

  const violations: [string, Buffer][] = [
    ['a DataRow before RowDescription', Buffer.concat([head, msg('D', int16(0)), msg('C', 'SELECT 1'), msg('Z', 'I')])],
    ['CopyInResponse', Buffer.concat([head, msg('n'), msg('G', [0], int16(0))])],
    ['an unknown message type', Buffer.concat([head, msg('X')])],
    ['ReadyForQuery before the statement finished', Buffer.concat([head, msg('Z', 'I')])],
    ['a bad transaction status', Buffer.concat([head, msg('n'), msg('C', 'SET'), msg('Z', 'Q')])],
  ];
  for (const [what, bytes] of violations) {
    it(`fails closed on ${what}`, async () => {
      const { conn, push } = fakeConnection();
      const s = new UpstreamSession(conn);
      const p = s.run('SELECT 1', []);
      push(bytes);
      const err = (await rejection(p)) as UpstreamError;
      expect(err).toBeInstanceOf(UpstreamError);
      expect(err.code).toBe('PROTOCOL');
      expect(s.closed).toBe(true);
    });
  }

  it('fails closed on a statement reply that arrives between statements', async () => {
    const { conn, push } = fakeConnection();
    const s = new UpstreamSession(conn);
    push(msg('D', int16(0)));
    await new Promise((r) => setImmediate(r));
    expect(s.closed).toBe(true);
    expect(await rejection(s.run('SELECT 1', []))).toBeInstanceOf(UpstreamError);
  });
});
