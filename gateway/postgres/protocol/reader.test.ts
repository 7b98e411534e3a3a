// FrontendReader on hand-built buffers and on node-postgres' own serializer output, split at every byte offset.
import { serialize } from 'pg-protocol';
import { describe, expect, it } from 'vitest';
import { ProtocolError, type ProtocolErrorCode } from './errors.ts';
import type { FrontendMessage } from './messages.ts';
import { FrontendReader, paramFormat, parseSASLInitialResponse } from './reader.ts';

// ---- hand-built frames -------------------------------------------------------------------------------------

const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');
const i16 = (v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
};
const i32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
/** A typed message: type byte, Int32 length (counting itself), body. */
function typed(code: string, ...body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  return Buffer.concat([Buffer.from(code, 'latin1'), i32(payload.length + 4), payload]);
}
/** A startup-phase packet: Int32 length (counting itself), Int32 code, body. */
function untyped(code: number, ...body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  return Buffer.concat([i32(payload.length + 8), i32(code), payload]);
}
const startupPairs = (...kv: string[]): Buffer => Buffer.concat([...kv.map(cstr), Buffer.from([0])]);

/** A reader already past startup. */
function typedReader(options?: ConstructorParameters<typeof FrontendReader>[0]): FrontendReader {
  const r = new FrontendReader(options);
  r.startupDone();
  return r;
}
function drain(r: FrontendReader): FrontendMessage[] {
  return [...r];
}
function decodeAll(bytes: Buffer, typedFromStart = true): FrontendMessage[] {
  const r = typedFromStart ? typedReader() : new FrontendReader();
  r.push(bytes);
  return drain(r);
}
function one(bytes: Buffer): FrontendMessage {
  const msgs = decodeAll(bytes);
  expect(msgs).toHaveLength(1);
  return msgs[0]!;
}
function errorOf(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return e as ProtocolError;
  }
  throw new Error('expected a ProtocolError, nothing was thrown');
}
function expectProtocolError(bytes: Buffer, code: ProtocolErrorCode, message: RegExp, typedFromStart = true): ProtocolError {
  const err = errorOf(() => decodeAll(bytes, typedFromStart));
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  return err;
}

// ---- startup phase ------------------------------------------------------------------------------------------

describe('startup phase', () => {
  it("decodes node-postgres' StartupMessage and switches to typed messages", () => {
    const bytes = serialize.startup({ user: 'alice', database: 'clinic', application_name: 'psql' });
    const r = new FrontendReader();
    expect(r.phase).toBe('startup');
    r.push(bytes);
    const msg = r.next();
    expect(msg).toEqual({
      type: 'startup',
      raw: bytes,
      major: 3,
      minor: 0,
      parameters: new Map([
        ['user', 'alice'],
        ['database', 'clinic'],
        ['application_name', 'psql'],
        ['client_encoding', 'UTF8'],
      ]),
      protocolOptions: new Map(),
      user: 'alice',
      database: 'clinic',
    });
    expect(r.phase).toBe('typed');
    expect(r.next()).toBeNull();
  });

  it('reports minor 3.2 and _pq_ options; database defaults to the user', () => {
    const bytes = untyped((3 << 16) | 2, startupPairs('user', 'bob', '_pq_.compression', 'on', 'options', '-c x=1'));
    const [msg] = decodeAll(bytes, false);
    expect(msg).toEqual({
      type: 'startup',
      raw: bytes,
      major: 3,
      minor: 2,
      parameters: new Map([
        ['user', 'bob'],
        ['options', '-c x=1'],
      ]),
      protocolOptions: new Map([['_pq_.compression', 'on']]),
      user: 'bob',
      database: 'bob',
    });
  });

  it('accepts an empty value and UTF-8 names', () => {
    const bytes = untyped(196608, startupPairs('user', 'zoë', 'application_name', ''));
    const [msg] = decodeAll(bytes, false);
    expect(msg).toMatchObject({ type: 'startup', user: 'zoë', database: 'zoë' });
    expect(msg?.type === 'startup' && [...msg.parameters]).toEqual([
      ['user', 'zoë'],
      ['application_name', ''],
    ]);
  });

  it('decodes SSLRequest and keeps the reader in the startup phase', () => {
    const ssl = serialize.requestSsl();
    const startup = serialize.startup({ user: 'alice' });
    const r = new FrontendReader();
    r.push(Buffer.concat([ssl, startup]));
    expect(r.next()).toEqual({ type: 'sslRequest', raw: ssl });
    expect(r.phase).toBe('startup');
    // Bytes that arrived with the SSLRequest were not encrypted: the server must see them and refuse (CVE-2021-23214).
    expect(r.buffered).toBe(startup.length);
    expect(r.next()).toMatchObject({ type: 'startup', user: 'alice' });
    expect(r.buffered).toBe(0);
  });

  it('decodes GSSENCRequest', () => {
    const bytes = untyped(80877104);
    expect(decodeAll(bytes, false)).toEqual([{ type: 'gssEncRequest', raw: bytes }]);
  });

  it("decodes node-postgres' CancelRequest (4-byte key, protocol 3.0)", () => {
    const bytes = serialize.cancel(4242, 0x01020304);
    expect(decodeAll(bytes, false)).toEqual([
      { type: 'cancelRequest', raw: bytes, processId: 4242, secretKey: Buffer.from([1, 2, 3, 4]) },
    ]);
  });

  it('decodes a 32-byte and a 256-byte cancel key (protocol 3.2)', () => {
    const key32 = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const key256 = Buffer.alloc(256, 0xab);
    const a = untyped(80877102, i32(77), key32);
    const b = untyped(80877102, i32(78), key256);
    expect(decodeAll(a, false)).toEqual([{ type: 'cancelRequest', raw: a, processId: 77, secretKey: key32 }]);
    expect(decodeAll(b, false)).toEqual([{ type: 'cancelRequest', raw: b, processId: 78, secretKey: key256 }]);
  });

  it('waits for the whole startup packet', () => {
    const bytes = serialize.startup({ user: 'alice' });
    const r = new FrontendReader();
    r.push(bytes.subarray(0, 3));
    expect(r.next()).toBeNull();
    r.push(bytes.subarray(3, bytes.length - 1));
    expect(r.next()).toBeNull();
    expect(r.buffered).toBe(bytes.length - 1);
    r.push(bytes.subarray(bytes.length - 1));
    expect(r.next()).toMatchObject({ type: 'startup', user: 'alice', database: 'alice' });
  });
});

// ---- typed messages -----------------------------------------------------------------------------------------

describe('typed messages (cross-checked with pg-protocol serialize)', () => {
  it('Query', () => {
    const bytes = serialize.query("select 'é' as x");
    expect(one(bytes)).toEqual({ type: 'query', code: 0x51, raw: bytes, sql: "select 'é' as x" });
  });

  it('Query with the empty string', () => {
    const bytes = serialize.query('');
    expect(one(bytes)).toEqual({ type: 'query', code: 0x51, raw: bytes, sql: '' });
  });

  it('Parse with a name and parameter types', () => {
    const bytes = serialize.parse({ name: 's1', text: 'select $1::int, $2', types: [23, 25] });
    expect(one(bytes)).toEqual({
      type: 'parse',
      code: 0x50,
      raw: bytes,
      statement: 's1',
      sql: 'select $1::int, $2',
      paramTypes: [23, 25],
    });
  });

  it('Parse reads OIDs as unsigned', () => {
    const bytes = typed('P', cstr(''), cstr('select $1'), i16(1), Buffer.from([0xff, 0xff, 0xff, 0xfe]));
    expect(one(bytes)).toMatchObject({ type: 'parse', statement: '', paramTypes: [0xfffffffe] });
  });

  it('Bind with text, NULL and binary values', () => {
    const bytes = serialize.bind({ portal: 'p1', statement: 's1', values: ['42', null, Buffer.from([0, 1, 2])], binary: true });
    expect(one(bytes)).toEqual({
      type: 'bind',
      code: 0x42,
      raw: bytes,
      portal: 'p1',
      statement: 's1',
      paramFormats: [0, 0, 1],
      params: [Buffer.from('42'), null, Buffer.from([0, 1, 2])],
      resultFormats: [1],
    });
  });

  it('Bind parameter values are slices of raw (no copy)', () => {
    const bytes = serialize.bind({ values: ['abc'] });
    const msg = one(bytes);
    if (msg.type !== 'bind') throw new Error(msg.type);
    const value = msg.params[0]!;
    expect(value.buffer).toBe(msg.raw.buffer);
    expect(value.byteOffset - msg.raw.byteOffset).toBe(bytes.indexOf('abc'));
  });

  it('Bind with no parameters and no formats', () => {
    const bytes = typed('B', cstr(''), cstr(''), i16(0), i16(0), i16(0));
    expect(one(bytes)).toEqual({
      type: 'bind',
      code: 0x42,
      raw: bytes,
      portal: '',
      statement: '',
      paramFormats: [],
      params: [],
      resultFormats: [],
    });
  });

  it('Bind with one format code for all parameters and an empty (not NULL) value', () => {
    const bytes = typed('B', cstr(''), cstr('s'), i16(1), i16(1), i16(2), i32(0), i32(1), Buffer.from([7]), i16(0));
    const msg = one(bytes);
    expect(msg).toMatchObject({ paramFormats: [1], params: [Buffer.alloc(0), Buffer.from([7])], resultFormats: [] });
    if (msg.type !== 'bind') throw new Error(msg.type);
    expect(paramFormat(msg, 0)).toBe(1);
    expect(paramFormat(msg, 1)).toBe(1);
  });

  it('paramFormat applies the protocol shorthand', () => {
    expect(paramFormat({ paramFormats: [] }, 3)).toBe(0);
    expect(paramFormat({ paramFormats: [1] }, 3)).toBe(1);
    expect(paramFormat({ paramFormats: [0, 1] }, 1)).toBe(1);
    expect(paramFormat({ paramFormats: [0, 1] }, 0)).toBe(0);
  });

  it('Describe statement and portal', () => {
    const s = serialize.describe({ type: 'S', name: 's1' });
    const p = serialize.describe({ type: 'P' });
    expect(decodeAll(Buffer.concat([s, p]))).toEqual([
      { type: 'describe', code: 0x44, raw: s, target: 'S', name: 's1' },
      { type: 'describe', code: 0x44, raw: p, target: 'P', name: '' },
    ]);
  });

  it('Execute with and without a row limit', () => {
    const a = serialize.execute({ portal: 'c1', rows: 100 });
    const b = serialize.execute();
    expect(decodeAll(Buffer.concat([a, b]))).toEqual([
      { type: 'execute', code: 0x45, raw: a, portal: 'c1', maxRows: 100 },
      { type: 'execute', code: 0x45, raw: b, portal: '', maxRows: 0 },
    ]);
  });

  it('Close statement and portal', () => {
    const s = serialize.close({ type: 'S', name: 's1' });
    const p = serialize.close({ type: 'P', name: 'c1' });
    expect(decodeAll(Buffer.concat([s, p]))).toEqual([
      { type: 'close', code: 0x43, raw: s, target: 'S', name: 's1' },
      { type: 'close', code: 0x43, raw: p, target: 'P', name: 'c1' },
    ]);
  });

  it('PasswordMessage: text and payload', () => {
    const bytes = serialize.password('s3cret-tøken');
    expect(one(bytes)).toEqual({
      type: 'password',
      code: 0x70,
      raw: bytes,
      payload: Buffer.from('s3cret-tøken\0'),
      text: 's3cret-tøken',
    });
  });

  it('SASLInitialResponse and SASLResponse share p; the payload splits with parseSASLInitialResponse', () => {
    const first = serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=*,r=abc');
    const final = serialize.sendSCRAMClientFinalMessage('c=biws,r=abcdef,p=xyz');
    const [a, b] = decodeAll(Buffer.concat([first, final]));
    if (a?.type !== 'password' || b?.type !== 'password') throw new Error('expected two password messages');
    expect(parseSASLInitialResponse(a.payload)).toEqual({ mechanism: 'SCRAM-SHA-256', data: Buffer.from('n,,n=*,r=abc') });
    expect(b.payload).toEqual(Buffer.from('c=biws,r=abcdef,p=xyz'));
    expect(b.text).toBe('c=biws,r=abcdef,p=xyz');
  });

  it('parseSASLInitialResponse: length -1 means no initial response; overruns are malformed', () => {
    expect(parseSASLInitialResponse(Buffer.concat([cstr('SCRAM-SHA-256'), i32(-1)]))).toEqual({ mechanism: 'SCRAM-SHA-256', data: null });
    const err = errorOf(() => parseSASLInitialResponse(Buffer.concat([cstr('SCRAM-SHA-256'), i32(10), Buffer.from('abc')])));
    expect(err.code).toBe('MALFORMED_MESSAGE');
    expect(err.message).toBe('invalid SASLInitialResponse message: it ends inside the response (10 bytes needed at offset 18, 3 left)');
  });

  it('passes Sync, Flush, Terminate and the COPY messages through as raw bytes', () => {
    const parts = [
      serialize.sync(),
      serialize.flush(),
      serialize.copyData(Buffer.from('1\tx\n')),
      serialize.copyDone(),
      serialize.copyFail('client gave up'),
      serialize.end(),
    ];
    expect(decodeAll(Buffer.concat(parts))).toEqual([
      { type: 'sync', code: 0x53, raw: parts[0] },
      { type: 'flush', code: 0x48, raw: parts[1] },
      { type: 'copyData', code: 0x64, raw: parts[2] },
      { type: 'copyDone', code: 0x63, raw: parts[3] },
      { type: 'copyFail', code: 0x66, raw: parts[4] },
      { type: 'terminate', code: 0x58, raw: parts[5] },
    ]);
  });

  it('passes FunctionCall through', () => {
    const bytes = typed('F', i32(1598), i16(0), i16(0), i16(0));
    expect(one(bytes)).toEqual({ type: 'functionCall', code: 0x46, raw: bytes });
  });

  it('startupDone() is idempotent and the iterator stops at an incomplete message', () => {
    const r = new FrontendReader();
    r.startupDone();
    r.startupDone();
    expect(r.phase).toBe('typed');
    const q = serialize.query('select 1');
    r.push(Buffer.concat([q, q.subarray(0, 4)]));
    expect([...r].map((m) => m.type)).toEqual(['query']);
    expect(r.buffered).toBe(4);
  });
});

// ---- pipelining and splitting --------------------------------------------------------------------------------

/** A realistic session: startup, then an extended-protocol round trip, a simple query and Terminate. */
function session(): Buffer {
  return Buffer.concat([
    serialize.startup({ user: 'alice', database: 'clinic' }),
    serialize.parse({ name: 'q1', text: 'select name from patients where id = $1 and note = $2', types: [23, 0] }),
    serialize.bind({ portal: '', statement: 'q1', values: ['7', null] }),
    serialize.describe({ type: 'P' }),
    serialize.execute({ portal: '', rows: 50 }),
    serialize.sync(),
    serialize.query('select now(); select 1'),
    serialize.end(),
  ]);
}
/** Messages with raw copied out, so equality compares values, not the backing memory. */
function snapshot(msgs: FrontendMessage[]): unknown[] {
  return msgs.map((m) => ({ ...m, raw: Buffer.from(m.raw) }));
}

describe('pipelining', () => {
  const stream = session();
  const expected = snapshot(decodeAll(stream, false));

  it('decodes the whole session from one chunk', () => {
    expect(expected.map((m) => (m as FrontendMessage).type)).toEqual([
      'startup',
      'parse',
      'bind',
      'describe',
      'execute',
      'sync',
      'query',
      'terminate',
    ]);
    expect(expected[2]).toMatchObject({ statement: 'q1', params: [Buffer.from('7'), null] });
    expect(expected[4]).toMatchObject({ maxRows: 50 });
  });

  it('decodes identically when split into two chunks at every byte offset', () => {
    for (let i = 0; i <= stream.length; i++) {
      const r = new FrontendReader({ initialCapacity: 16 });
      r.push(stream.subarray(0, i));
      const got = drain(r);
      r.push(stream.subarray(i));
      got.push(...drain(r));
      expect(snapshot(got), `split at ${i}`).toEqual(expected);
      expect(r.buffered).toBe(0);
    }
  });

  it('decodes identically when fed one byte at a time', () => {
    const r = new FrontendReader({ initialCapacity: 16 });
    const got: FrontendMessage[] = [];
    for (let i = 0; i < stream.length; i++) {
      r.push(stream.subarray(i, i + 1));
      got.push(...drain(r));
    }
    expect(snapshot(got)).toEqual(expected);
  });

  it('decodes identically for pseudo-random chunkings', () => {
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 200; round++) {
      const r = new FrontendReader({ initialCapacity: 16 });
      const got: FrontendMessage[] = [];
      for (let at = 0; at < stream.length; ) {
        const n = 1 + Math.floor(rand() * 40);
        r.push(stream.subarray(at, at + n));
        got.push(...drain(r));
        at += n;
      }
      expect(snapshot(got), `round ${round}`).toEqual(expected);
    }
  });

  it('decodes 1000 Bind/Execute/Sync triples from one chunk, in order', () => {
    const triples = Array.from({ length: 1000 }, (_, i) =>
      Buffer.concat([serialize.bind({ statement: 'q1', values: [String(i)] }), serialize.execute(), serialize.sync()]),
    );
    const msgs = decodeAll(Buffer.concat(triples));
    expect(msgs).toHaveLength(3000);
    expect(msgs.filter((m) => m.type === 'bind').map((m) => (m.type === 'bind' ? m.params[0]?.toString() : ''))).toEqual(
      Array.from({ length: 1000 }, (_, i) => String(i)),
    );
    expect(msgs[2999]).toMatchObject({ type: 'sync' });
  });

  it('reads a Buffer that is a slice of a larger ArrayBuffer (byteOffset ≠ 0)', () => {
    const backing = new ArrayBuffer(stream.length + 100);
    new Uint8Array(backing).fill(0xee);
    new Uint8Array(backing, 37, stream.length).set(stream);
    const asBuffer = Buffer.from(backing, 37, stream.length);
    const asView = new Uint8Array(backing, 37, stream.length);
    expect(asBuffer.byteOffset).toBe(37);
    expect(snapshot(decodeAll(asBuffer, false))).toEqual(expected);
    const r = new FrontendReader();
    r.push(asView.subarray(0, 50));
    r.push(asView.subarray(50));
    expect(snapshot(drain(r))).toEqual(expected);
  });
});

describe('buffer ownership', () => {
  it('keeps earlier raw slices and decoded strings intact through later pushes and reallocations', () => {
    const r = typedReader({ initialCapacity: 32 });
    const first = serialize.query('select 1'); // 14 bytes: fits the first buffer with room to spare
    r.push(first);
    const msg = r.next();
    if (msg?.type !== 'query') throw new Error('expected a query');
    const rawBefore = Buffer.from(msg.raw);
    const firstBacking = msg.raw.buffer;

    // A second message lands in the tail of the same buffer, then a split one and a large one force fresh buffers.
    const second = serialize.query('select 2');
    r.push(second);
    const third = serialize.query(`select '${'x'.repeat(500)}'`);
    r.push(third.subarray(0, 7));
    const got = drain(r);
    r.push(third.subarray(7));
    got.push(...drain(r));

    expect(got.map((m) => (m.type === 'query' ? m.sql.slice(0, 9) : m.type))).toEqual(['select 2', "select 'x"]);
    expect(got[1]!.raw.buffer).not.toBe(firstBacking); // the reader moved on to a new buffer…
    expect(msg.raw).toEqual(rawBefore); // …and never wrote over what it had handed out
    expect(msg.sql).toBe('select 1');
    expect(got[0]!.raw).toEqual(second);
    expect(got[1]!.raw).toEqual(third);
  });

  it('copies pushed bytes: changing the chunk afterwards does not change messages', () => {
    const r = typedReader();
    const chunk = Buffer.from(serialize.query('select 1'));
    r.push(chunk);
    chunk.fill(0);
    expect(r.next()).toMatchObject({ type: 'query', sql: 'select 1', raw: serialize.query('select 1') });
  });

  it('sizes the buffer for a large message from its length word instead of doubling past it', () => {
    const r = typedReader({ initialCapacity: 1024 });
    const big = serialize.query('x'.repeat(100_000));
    r.push(big.subarray(0, 10));
    expect(r.next()).toBeNull();
    r.push(big.subarray(10));
    const msg = r.next();
    expect(msg?.raw.length).toBe(big.length);
    expect(msg?.raw.buffer.byteLength).toBe(big.length); // exactly the announced size, not 128 KiB
  });
});

// ---- malformed input ----------------------------------------------------------------------------------------

describe('malformed input → ProtocolError', () => {
  it('MESSAGE_TOO_LARGE: refuses a Query over maxMessageBytes from its header alone', () => {
    const r = typedReader({ maxMessageBytes: 1024 });
    r.push(Buffer.concat([Buffer.from('Q'), i32(1025)]));
    const err = errorOf(() => r.next());
    expect(err.code).toBe('MESSAGE_TOO_LARGE');
    expect(err.message).toBe("Query ('Q') message of 1025 bytes exceeds the limit of 1024 bytes");
    expect(err.sqlstate).toBe('08P01');
  });

  it('MESSAGE_TOO_LARGE: small messages have PostgreSQL’s 10 000-byte limit, password messages 65 535', () => {
    expectProtocolError(Buffer.concat([Buffer.from('S'), i32(10_001)]), 'MESSAGE_TOO_LARGE', /^Sync \('S'\) message of 10001 bytes exceeds the limit of 10000 bytes$/);
    expectProtocolError(Buffer.concat([Buffer.from('p'), i32(65_536)]), 'MESSAGE_TOO_LARGE', /^PasswordMessage \('p'\) message of 65536 bytes/);
  });

  it('MESSAGE_TOO_LARGE: a startup packet over 10 000 bytes, e.g. a TLS ClientHello sent without SSLRequest', () => {
    expectProtocolError(untyped(196608, Buffer.alloc(9_993)), 'MESSAGE_TOO_LARGE', /^startup packet of 10001 bytes exceeds the limit of 10000 bytes/, false);
    const clientHello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]);
    expectProtocolError(clientHello, 'MESSAGE_TOO_LARGE', /TLS without an SSLRequest/, false);
  });

  it('MALFORMED_MESSAGE: length word below 4 / startup length below 8', () => {
    expectProtocolError(Buffer.concat([Buffer.from('Q'), i32(3)]), 'MALFORMED_MESSAGE', /^invalid message length 3 in Query \('Q'\) message: it must be at least 4$/);
    expectProtocolError(Buffer.concat([Buffer.from('S'), i32(-1)]), 'MALFORMED_MESSAGE', /^invalid message length -1/);
    expectProtocolError(i32(7), 'MALFORMED_MESSAGE', /^invalid startup packet length 7: it must be at least 8$/, false);
  });

  it('MALFORMED_MESSAGE: strings without their NUL terminator', () => {
    expectProtocolError(typed('Q', Buffer.from('select 1')), 'MALFORMED_MESSAGE', /^invalid Query \('Q'\) message: the query string at offset 5 has no NUL terminator$/);
    expectProtocolError(typed('P', cstr('s1'), Buffer.from('select')), 'MALFORMED_MESSAGE', /^invalid Parse \('P'\) message: the query string at offset 8 has no NUL terminator$/);
    expectProtocolError(typed('E', Buffer.from('c1')), 'MALFORMED_MESSAGE', /portal name at offset 5 has no NUL/);
  });

  it('MALFORMED_MESSAGE: fields that overrun or bytes left after the last field', () => {
    expectProtocolError(typed('Q', cstr('select 1'), Buffer.from([1])), 'MALFORMED_MESSAGE', /^invalid Query \('Q'\) message: 1 unexpected bytes after the last field$/);
    expectProtocolError(typed('P', cstr(''), cstr('select $1'), i16(2), i32(23)), 'MALFORMED_MESSAGE', /ends inside the parameter type OID \(4 bytes needed at offset 22, 0 left\)/);
    expectProtocolError(typed('E', cstr('')), 'MALFORMED_MESSAGE', /ends inside the row limit/);
    expectProtocolError(typed('S', Buffer.from([0])), 'MALFORMED_MESSAGE', /^invalid Sync \('S'\) message: it has no body, but its length is 5 instead of 4$/);
  });

  it('MALFORMED_MESSAGE: Bind inconsistencies', () => {
    const head = [cstr(''), cstr('')];
    expectProtocolError(typed('B', ...head, i16(2), i16(0), i16(0), i16(3)), 'MALFORMED_MESSAGE', /it has 2 parameter formats but 3 parameters/);
    expectProtocolError(typed('B', ...head, i16(1), i16(2)), 'MALFORMED_MESSAGE', /parameter format code 2 is neither 0 \(text\) nor 1 \(binary\)/);
    expectProtocolError(typed('B', ...head, i16(0), i16(1), i32(-2), i16(0)), 'MALFORMED_MESSAGE', /parameter 1 has invalid length -2/);
    expectProtocolError(typed('B', ...head, i16(0), i16(1), i32(100), Buffer.from('abc')), 'MALFORMED_MESSAGE', /ends inside the parameter 1 \(100 bytes needed at offset \d+, 3 left\)/);
  });

  it('MALFORMED_MESSAGE: Describe/Close target other than S or P', () => {
    expectProtocolError(typed('D', Buffer.from('X'), cstr('')), 'MALFORMED_MESSAGE', /^invalid Describe \('D'\) message: target 0x58 \('X'\) is neither 'S' \(statement\) nor 'P' \(portal\)$/);
    expectProtocolError(typed('C'), 'MALFORMED_MESSAGE', /^invalid Close \('C'\) message: it ends inside the target byte/);
  });

  it('MALFORMED_MESSAGE: startup key/value layout', () => {
    // A key without a value (odd count): the key's NUL is the last byte, so there is no value and no terminator.
    expectProtocolError(untyped(196608, cstr('user')), 'MALFORMED_MESSAGE', /^invalid StartupMessage message: parameter "user" has no value$/, false);
    // Pairs without the final empty name.
    expectProtocolError(untyped(196608, cstr('user'), cstr('alice')), 'MALFORMED_MESSAGE', /does not end with an empty name/, false);
    // A value missing its NUL.
    expectProtocolError(untyped(196608, cstr('user'), Buffer.from('alice')), 'MALFORMED_MESSAGE', /value of parameter "user" at offset 13 has no NUL terminator/, false);
    // Bytes after the terminator.
    expectProtocolError(untyped(196608, startupPairs('user', 'alice'), Buffer.from('x')), 'MALFORMED_MESSAGE', /1 unexpected bytes after the last field/, false);
    // Duplicates: PostgreSQL would take the last `user`, so judging the first one would be wrong.
    expectProtocolError(untyped(196608, startupPairs('user', 'alice', 'user', 'postgres')), 'MALFORMED_MESSAGE', /parameter "user" appears more than once/, false);
  });

  it('MALFORMED_MESSAGE: SSLRequest and CancelRequest lengths', () => {
    expectProtocolError(untyped(80877103, i32(0)), 'MALFORMED_MESSAGE', /^invalid SSLRequest length 12: it must be 8$/, false);
    expectProtocolError(untyped(80877102, i32(1), Buffer.alloc(3)), 'MALFORMED_MESSAGE', /secret key must be 4 to 256 bytes, got 3/, false);
    expectProtocolError(untyped(80877102, i32(1), Buffer.alloc(257)), 'MALFORMED_MESSAGE', /secret key must be 4 to 256 bytes, got 257/, false);
  });

  it('UNKNOWN_MESSAGE: a type byte no client sends, refused from the first byte', () => {
    const r = typedReader();
    r.push(Buffer.from('Z'));
    const err = errorOf(() => r.next());
    expect(err.code).toBe('UNKNOWN_MESSAGE');
    expect(err.message).toBe("invalid frontend message type 0x5a ('Z'): the client is not speaking protocol v3 or lost message boundaries");
    expectProtocolError(Buffer.from([0x00, 0, 0, 0, 4]), 'UNKNOWN_MESSAGE', /^invalid frontend message type 0x00: /);
  });

  it('UNSUPPORTED_PROTOCOL: major versions other than 3, and unknown 1234.x request codes', () => {
    const v2 = expectProtocolError(untyped(2 << 16, startupPairs('user', 'a')), 'UNSUPPORTED_PROTOCOL', /^unsupported frontend protocol 2\.0: Verdict supports protocol 3\.x only/, false);
    expect(v2.sqlstate).toBe('0A000');
    expectProtocolError(untyped((4 << 16) | 1, startupPairs('user', 'a')), 'UNSUPPORTED_PROTOCOL', /^unsupported frontend protocol 4\.1/, false);
    expectProtocolError(untyped((1234 << 16) | 9999), 'UNSUPPORTED_PROTOCOL', /^unknown startup request code 1234\.9999/, false);
  });

  it('MISSING_USER: no user, or an empty one', () => {
    const err = expectProtocolError(untyped(196608, startupPairs('database', 'clinic')), 'MISSING_USER', /^no PostgreSQL user name specified in startup packet/, false);
    expect(err.sqlstate).toBe('28000');
    expectProtocolError(untyped(196608, startupPairs('user', '')), 'MISSING_USER', /no PostgreSQL user name/, false);
  });

  it('INVALID_UTF8: SQL and names must be valid UTF-8', () => {
    expectProtocolError(typed('Q', Buffer.from([0x73, 0xff, 0x00])), 'INVALID_UTF8', /^invalid Query \('Q'\) message: the query string is not valid UTF-8 \(Verdict requires client_encoding UTF8\)$/);
    expectProtocolError(typed('P', Buffer.from([0x61, 0xc3, 0x00]), cstr('select 1'), i16(0)), 'INVALID_UTF8', /the statement name is not valid UTF-8/);
    expectProtocolError(untyped(196608, Buffer.from('user\0'), Buffer.from([0xe9, 0]), Buffer.from([0])), 'INVALID_UTF8', /value of parameter "user" is not valid UTF-8/, false);
  });

  it('INVALID_UTF8: long strings take the native check, valid long UTF-8 passes', () => {
    const longBad = Buffer.concat([Buffer.from('select '.repeat(20)), Buffer.from([0xc3, 0x28, 0])]);
    expectProtocolError(typed('Q', longBad), 'INVALID_UTF8', /the query string is not valid UTF-8/);
    const longGood = `select '${'ü'.repeat(100)}'`;
    expect(one(serialize.query(longGood))).toMatchObject({ type: 'query', sql: longGood });
  });

  it('READER_FAILED: after an error the reader refuses to continue and stops buffering', () => {
    const r = typedReader();
    r.push(Buffer.concat([Buffer.from('Z'), serialize.sync()]));
    const first = errorOf(() => r.next());
    r.push(Buffer.alloc(1000));
    expect(r.buffered).toBe(6);
    const second = errorOf(() => r.next());
    expect(second.code).toBe('READER_FAILED');
    expect(second.cause).toBe(first);
    expect(second.message).toBe(`the client stream is unusable after an earlier error: ${first.message}`);
  });

  it('rejects invalid options', () => {
    expect(() => new FrontendReader({ maxMessageBytes: 3 })).toThrow(RangeError);
    expect(() => new FrontendReader({ initialCapacity: 0 })).toThrow('initialCapacity must be an integer of at least 16, got 0');
  });
});
