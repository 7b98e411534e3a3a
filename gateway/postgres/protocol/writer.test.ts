// BackendWriter: exact bytes on hand-built expectations, and every message decoded by node-postgres' own parser
// (pg-protocol), so a real client reads what we meant.
import { Readable } from 'node:stream';
import { parse } from 'pg-protocol';
import { describe, expect, it } from 'vitest';
import { insufficientPrivilege, ProtocolError, type ErrorFields } from './errors.ts';
import { BackendWriter } from './writer.ts';

/**
 * Backend messages as node-postgres decodes them, fed in the given chunks. The chunks are copied because
 * pg-protocol's Parser adopts a chunk as its own buffer and later writes the next chunk into it, which would
 * corrupt a caller's subarrays (harmless for socket chunks, not for our split-at-every-offset loop).
 */
async function clientSees(...chunks: Buffer[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  await parse(Readable.from(chunks.map((c) => Buffer.from(c))), (msg) =>
    // DatabaseError's `message` is an own but non-enumerable Error property, so spread alone would drop it.
    out.push(msg instanceof Error ? { ...msg, message: msg.message } : { ...msg }),
  );
  return out;
}
const hex = (b: Buffer): string => b.toString('hex');
/** Type byte + Int32 length + body, built by hand. */
function frame(code: string, body: number[] | Buffer = []): Buffer {
  const payload = Buffer.from(body);
  const head = Buffer.alloc(5);
  head.write(code, 0, 'latin1');
  head.writeInt32BE(payload.length + 4, 1);
  return Buffer.concat([head, payload]);
}
const int32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const cstr = (s: string): number[] => [...Buffer.from(s, 'utf8'), 0];

describe('constant messages', () => {
  it('writes the exact bytes', () => {
    const w = new BackendWriter();
    expect(hex(w.authenticationOk().flush())).toBe(hex(frame('R', int32(0))));
    expect(hex(w.authenticationCleartextPassword().flush())).toBe(hex(frame('R', int32(3))));
    expect(hex(w.parseComplete().flush())).toBe('3100000004');
    expect(hex(w.bindComplete().flush())).toBe('3200000004');
    expect(hex(w.closeComplete().flush())).toBe('3300000004');
    expect(hex(w.noData().flush())).toBe('6e00000004');
    expect(hex(w.emptyQueryResponse().flush())).toBe('4900000004');
    expect(hex(w.readyForQuery('I').flush())).toBe('5a0000000549');
    expect(hex(w.readyForQuery('T').flush())).toBe('5a0000000554');
    expect(hex(w.readyForQuery('E').flush())).toBe('5a0000000545');
  });

  it('are decoded by pg-protocol', async () => {
    const w = new BackendWriter();
    w.authenticationOk().authenticationCleartextPassword().parseComplete().bindComplete().closeComplete();
    w.noData().emptyQueryResponse().readyForQuery('I').readyForQuery('T').readyForQuery('E');
    expect(await clientSees(w.flush())).toEqual([
      { name: 'authenticationOk', length: 8 },
      { name: 'authenticationCleartextPassword', length: 8 },
      { name: 'parseComplete', length: 4 },
      { name: 'bindComplete', length: 4 },
      { name: 'closeComplete', length: 4 },
      { name: 'noData', length: 4 },
      { name: 'emptyQuery', length: 4 },
      { name: 'readyForQuery', length: 5, status: 'I' },
      { name: 'readyForQuery', length: 5, status: 'T' },
      { name: 'readyForQuery', length: 5, status: 'E' },
    ]);
  });

  it('are copied, not aliased: scribbling on a flushed buffer does not change later messages', () => {
    const w = new BackendWriter();
    w.readyForQuery('I').flush().fill(0);
    expect(hex(w.readyForQuery('I').flush())).toBe('5a0000000549');
  });
});

describe('authentication', () => {
  it('AuthenticationSASL lists mechanisms and ends with an empty one', async () => {
    const w = new BackendWriter();
    const bytes = w.authenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']).flush();
    expect(hex(bytes)).toBe(hex(frame('R', [...int32(10), ...cstr('SCRAM-SHA-256-PLUS'), ...cstr('SCRAM-SHA-256'), 0])));
    expect(await clientSees(bytes)).toEqual([
      { name: 'authenticationSASL', length: bytes.length - 1, mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] },
    ]);
  });

  it('AuthenticationSASLContinue and SASLFinal carry their data unterminated', async () => {
    const w = new BackendWriter();
    const cont = 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096';
    const fin = Buffer.from('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=');
    const bytes = w.authenticationSASLContinue(cont).authenticationSASLFinal(fin).flush();
    expect(hex(bytes)).toBe(hex(Buffer.concat([frame('R', [...int32(11), ...Buffer.from(cont)]), frame('R', [...int32(12), ...fin])])));
    expect(await clientSees(bytes)).toEqual([
      { name: 'authenticationSASLContinue', length: 4 + 4 + cont.length, data: cont },
      { name: 'authenticationSASLFinal', length: 4 + 4 + fin.length, data: fin.toString() },
    ]);
  });
});

describe('session setup', () => {
  it('ParameterStatus', async () => {
    const bytes = new BackendWriter().parameterStatus('application_name', 'psql ✓').flush();
    expect(hex(bytes)).toBe(hex(frame('S', [...cstr('application_name'), ...cstr('psql ✓')])));
    expect(await clientSees(bytes)).toEqual([
      { name: 'parameterStatus', length: bytes.length - 1, parameterName: 'application_name', parameterValue: 'psql ✓' },
    ]);
  });

  it('BackendKeyData with a 4-byte key (numbers may be given signed or unsigned)', async () => {
    const w = new BackendWriter();
    const bytes = w.backendKeyData(4242, 0x7eadbeef).backendKeyData(1, 0xdeadbeef).backendKeyData(2, -1).flush();
    expect(hex(bytes.subarray(0, 13))).toBe(hex(frame('K', [...int32(4242), ...int32(0x7eadbeef)])));
    expect(await clientSees(bytes)).toEqual([
      { name: 'backendKeyData', length: 12, processID: 4242, secretKey: 0x7eadbeef },
      { name: 'backendKeyData', length: 12, processID: 1, secretKey: 0xdeadbeef | 0 },
      { name: 'backendKeyData', length: 12, processID: 2, secretKey: -1 },
    ]);
  });

  it('BackendKeyData with a 32-byte key (protocol 3.2)', () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => 255 - i));
    const bytes = new BackendWriter().backendKeyData(99, key).flush();
    expect(hex(bytes)).toBe(hex(frame('K', [...int32(99), ...key])));
    expect(bytes.readInt32BE(1)).toBe(4 + 4 + 32);
  });

  it('NegotiateProtocolVersion sends the full version number and the unrecognized options', () => {
    const bytes = new BackendWriter().negotiateProtocolVersion(2, ['_pq_.compression', '_pq_.x']).flush();
    expect(hex(bytes)).toBe(hex(frame('v', [...int32(196610), ...int32(2), ...cstr('_pq_.compression'), ...cstr('_pq_.x')])));
    expect(hex(new BackendWriter().negotiateProtocolVersion(0, []).flush())).toBe(hex(frame('v', [...int32(196608), ...int32(0)])));
  });

  it('answers SSLRequest and GSSENCRequest with one unframed byte', () => {
    const w = new BackendWriter();
    expect(w.sslResponse(true).flush()).toEqual(Buffer.from('S'));
    expect(w.sslResponse(false).flush()).toEqual(Buffer.from('N'));
    expect(w.gssEncResponse(true).flush()).toEqual(Buffer.from('G'));
    expect(w.gssEncResponse(false).flush()).toEqual(Buffer.from('N'));
  });

  it('CommandComplete', async () => {
    const bytes = new BackendWriter().commandComplete('SELECT 0').flush();
    expect(hex(bytes)).toBe(hex(frame('C', cstr('SELECT 0'))));
    expect(await clientSees(bytes)).toEqual([{ name: 'commandComplete', length: 13, text: 'SELECT 0' }]);
  });
});

describe('ErrorResponse and NoticeResponse', () => {
  it('writes S, V, C, M then the optional fields with their letters, ending in NUL', () => {
    const bytes = new BackendWriter()
      .errorResponse({ severity: 'ERROR', code: '42501', message: 'denied', detail: 'rule r1', hint: 'ask', position: 15 })
      .flush();
    const body = [
      ...[0x53, ...cstr('ERROR')],
      ...[0x56, ...cstr('ERROR')],
      ...[0x43, ...cstr('42501')],
      ...[0x4d, ...cstr('denied')],
      ...[0x44, ...cstr('rule r1')],
      ...[0x48, ...cstr('ask')],
      ...[0x50, ...cstr('15')],
      0,
    ];
    expect(hex(bytes)).toBe(hex(frame('E', body)));
  });

  it('every field round-trips through pg-protocol', async () => {
    const fields: ErrorFields = {
      severity: 'FATAL',
      code: '23505',
      message: 'duplicate key value violates unique constraint "patients_pkey"',
      detail: 'Key (id)=(7) already exists.',
      hint: 'Use ON CONFLICT.',
      position: 42,
      internalPosition: 3,
      internalQuery: 'select 1',
      where: 'SQL function "f"',
      schema: 'public',
      table: 'patients',
      column: 'id',
      dataType: 'int4',
      constraint: 'patients_pkey',
      file: 'nbtinsert.c',
      line: 666,
      routine: '_bt_check_unique',
    };
    const bytes = new BackendWriter().errorResponse(fields).flush();
    const [err] = await clientSees(bytes);
    expect(err).toMatchObject({
      name: 'error',
      length: bytes.length - 1,
      message: fields.message,
      severity: 'FATAL',
      code: '23505',
      detail: fields.detail,
      hint: fields.hint,
      position: '42',
      internalPosition: '3',
      internalQuery: 'select 1',
      where: fields.where,
      schema: 'public',
      table: 'patients',
      column: 'id',
      dataType: 'int4',
      constraint: 'patients_pkey',
      file: 'nbtinsert.c',
      line: '666',
      routine: '_bt_check_unique',
    });
  });

  it('a policy denial from insufficientPrivilege reaches the client intact', async () => {
    const denial = insufficientPrivilege('policy denied SELECT on patients.ssn', 'rule hipaa.phi, decision d-42', 'https://github.com/acme/policies/pull/7');
    const bytes = new BackendWriter().errorResponse(denial).readyForQuery('I').flush();
    const [err, ready] = await clientSees(bytes);
    expect(err).toMatchObject({
      name: 'error',
      severity: 'ERROR',
      code: '42501',
      message: 'policy denied SELECT on patients.ssn',
      detail: 'rule hipaa.phi, decision d-42',
      hint: 'https://github.com/acme/policies/pull/7',
    });
    expect(ready).toEqual({ name: 'readyForQuery', length: 5, status: 'I' });
  });

  it('NoticeResponse', async () => {
    const bytes = new BackendWriter().noticeResponse({ severity: 'WARNING', code: '01000', message: 'column ssn is masked' }).flush();
    expect(bytes[0]).toBe(0x4e);
    const [notice] = await clientSees(bytes);
    expect(notice).toMatchObject({ name: 'notice', severity: 'WARNING', code: '01000', message: 'column ssn is masked' });
  });
});

describe('buffering and ownership', () => {
  it('several messages in one flush, read by the client split at every byte offset', async () => {
    const w = new BackendWriter(16);
    w.authenticationOk().parameterStatus('server_version', '17.2').backendKeyData(7, 8).readyForQuery('I');
    w.parseComplete().bindComplete().commandComplete('INSERT 0 1').readyForQuery('T');
    const bytes = w.flush();
    const whole = await clientSees(bytes);
    expect(whole.map((m) => m.name)).toEqual([
      'authenticationOk',
      'parameterStatus',
      'backendKeyData',
      'readyForQuery',
      'parseComplete',
      'bindComplete',
      'commandComplete',
      'readyForQuery',
    ]);
    for (let i = 1; i < bytes.length; i++) {
      expect(await clientSees(bytes.subarray(0, i), bytes.subarray(i)), `split at ${i}`).toEqual(whole);
    }
  });

  it('flushed buffers are never overwritten by later writes, even across buffer growth', () => {
    const w = new BackendWriter(16);
    const first = w.commandComplete('SELECT 1').flush();
    const firstCopy = Buffer.from(first);
    w.commandComplete('SELECT 2'); // fills the tail of the same 16-byte buffer
    w.commandComplete(`SELECT ${'9'.repeat(100)}`); // forces a fresh, larger buffer
    const second = w.flush();
    expect(first).toEqual(firstCopy);
    expect(hex(second)).toBe(hex(Buffer.concat([frame('C', cstr('SELECT 2')), frame('C', cstr(`SELECT ${'9'.repeat(100)}`))])));
    expect(w.length).toBe(0);
    expect(w.flush()).toEqual(Buffer.alloc(0));
  });

  it('back-fills the length of a message larger than the buffer', () => {
    const tag = 'x'.repeat(100_000);
    const bytes = new BackendWriter(16).commandComplete(tag).flush();
    expect(bytes.length).toBe(1 + 4 + 100_001);
    expect(bytes.readInt32BE(1)).toBe(4 + 100_001);
    expect(bytes.toString('latin1', 5, bytes.length - 1)).toBe(tag);
  });

  it('measures UTF-8, not UTF-16, lengths', () => {
    const bytes = new BackendWriter().commandComplete('é😀').flush();
    expect(bytes.readInt32BE(1)).toBe(4 + 2 + 4 + 1);
  });

  it('raw() appends forwarded bytes in order with the writer’s own messages', async () => {
    const upstream = frame('C', cstr('SELECT 3'));
    const bytes = new BackendWriter().raw(upstream).readyForQuery('I').flush();
    expect(hex(bytes)).toBe(hex(Buffer.concat([upstream, Buffer.from('5a0000000549', 'hex')])));
    expect((await clientSees(bytes)).map((m) => m.name)).toEqual(['commandComplete', 'readyForQuery']);
  });
});

describe('invalid arguments', () => {
  const cases: [string, (w: BackendWriter) => unknown, RegExp][] = [
    ['a NUL in a string', (w) => w.parameterStatus('a\0b', 'x'), /^parameter name contains a NUL character/],
    ['a NUL in an error field', (w) => w.errorResponse({ severity: 'ERROR', code: '42501', message: 'm', detail: 'd\0' }), /^error field detail contains a NUL/],
    ['a bad SQLSTATE', (w) => w.errorResponse({ severity: 'ERROR', code: '4250', message: 'm' }), /^SQLSTATE must be five digits or capital letters, got "4250"$/],
    ['a notice severity on an error', (w) => w.errorResponse({ severity: 'WARNING' as 'ERROR', code: '01000', message: 'm' }), /^severity "WARNING" is not one of ERROR, FATAL, PANIC$/],
    ['a bad transaction status', (w) => w.readyForQuery('X' as 'I'), /^transaction status must be 'I', 'T' or 'E', got "X"$/],
    ['a 3-byte cancel key', (w) => w.backendKeyData(1, Buffer.alloc(3)), /^secret key must be 4 to 256 bytes, got 3$/],
    ['a non-integer pid', (w) => w.backendKeyData(1.5, 1), /^process id must be a 32-bit integer, got 1.5$/],
    ['a bad minor version', (w) => w.negotiateProtocolVersion(-1, []), /^minor protocol version must be 0 to 65535/],
  ];
  it.each(cases)('refuses %s with INVALID_ARGUMENT and writes nothing', (_, call, message) => {
    const w = new BackendWriter();
    w.readyForQuery('I');
    let err: unknown;
    try {
      call(w);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe('INVALID_ARGUMENT');
    expect((err as ProtocolError).message).toMatch(message);
    expect(hex(w.flush())).toBe('5a0000000549');
  });
});
