// scrubbed(): the withheld ErrorResponse/NoticeResponse, byte for byte as the encoding it replaced, on messages
// framed the way PostgreSQL frames them (and in the middle of a chunk).
import { describe, expect, it } from 'vitest';
import { BackendWriter, errorCode, errorField, ErrorField, errorSeverity, type ErrorFields, type NoticeFields } from './protocol/index.ts';
import { scrubbed } from './scrub.ts';

/** The encoding scrubbed() wrote by hand before it used BackendWriter: type byte, S, V, C, M, terminator. */
function handEncoded(type: number, severity: string, code: string): Buffer {
  const notice = ['NOTICE', 'WARNING', 'INFO', 'LOG', 'DEBUG'].includes(severity);
  const message = `${notice ? 'a notice' : 'an error'} (SQLSTATE ${code}) whose text Verdict withholds: this statement reads columns masked for you, and the text could contain their values`;
  const body = Buffer.concat([...[`S${severity}`, `V${severity}`, `C${code}`, `M${message}`].map((f) => Buffer.from(`${f}\0`, 'utf8')), Buffer.from([0])]);
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type;
  out.writeUInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

const error = (f: ErrorFields) => new BackendWriter().errorResponse(f).flush();
const notice = (f: NoticeFields) => new BackendWriter().noticeResponse(f).flush();
/** A message as raw fields, for shapes BackendWriter refuses to write (no 'V', no 'C'). */
function framed(type: string, fields: string[]): Buffer {
  const body = Buffer.concat([...fields.map((f) => Buffer.from(`${f}\0`, 'utf8')), Buffer.from([0])]);
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

describe('scrubbed', () => {
  const SSN = '123-45-6789';
  const cases: [string, Buffer, number, string, string][] = [
    ['a cast error quoting a value: class 22 → 22000', error({ severity: 'ERROR', code: '22P02', message: `invalid input syntax for type integer: "${SSN}"`, where: `SQL function "f" ${SSN}` }), 0x45, 'ERROR', '22000'],
    ['a unique violation printing its key: class 23 → 22000', error({ severity: 'ERROR', code: '23505', message: 'duplicate key', detail: `Key (ssn)=(${SSN}) already exists.`, schema: 'public', table: 'patients', constraint: 'patients_ssn_key' }), 0x45, 'ERROR', '22000'],
    ['an error of another class keeps its code', error({ severity: 'ERROR', code: '42P01', message: 'relation "x" does not exist', position: 15 }), 0x45, 'ERROR', '42P01'],
    ['a FATAL keeps its severity', error({ severity: 'FATAL', code: '57P01', message: 'terminating connection due to administrator command' }), 0x45, 'FATAL', '57P01'],
    ['a RAISE NOTICE echoing a value', notice({ severity: 'NOTICE', code: '00000', message: `ssn is ${SSN}`, where: 'PL/pgSQL function f() line 3 at RAISE' }), 0x4e, 'NOTICE', '00000'],
    ['a warning', notice({ severity: 'WARNING', code: '01000', message: SSN }), 0x4e, 'WARNING', '01000'],
    ['an error without a code → XX000', framed('E', ['SERROR', 'VERROR', `M${SSN}`]), 0x45, 'ERROR', 'XX000'],
    ['an error without V (before 9.6) → ERROR', framed('E', ['SFEHLER', 'C22012', `M${SSN}`]), 0x45, 'ERROR', '22000'],
  ];

  it.each(cases)('%s: the bytes the hand encoding wrote', (_, message, type, severity, code) => {
    const out = scrubbed(message, 0, message.length);
    expect(out.equals(handEncoded(type, severity, code))).toBe(true);
    expect(out.toString('latin1')).not.toContain(SSN);
    expect(errorCode(out, 0, out.length)).toBe(code);
    expect(errorSeverity(out, 0, out.length)).toBe(severity);
  });

  it('reads the message where it sits in a chunk, and hands out bytes that later calls leave alone', () => {
    const [, a] = cases[0]!;
    const [, b] = cases[4]!;
    const chunk = Buffer.concat([Buffer.from('1\0\0\0\x04'), a, b]);
    const first = scrubbed(chunk, 5, 5 + a.length);
    const copy = Buffer.from(first);
    const second = scrubbed(chunk, 5 + a.length, chunk.length);
    expect(first.equals(copy)).toBe(true);
    expect(first.equals(handEncoded(0x45, 'ERROR', '22000'))).toBe(true);
    expect(second.equals(handEncoded(0x4e, 'NOTICE', '00000'))).toBe(true);
  });

  it('a notice without V stays a NoticeResponse with severity NOTICE (the writer encodes only valid ones)', () => {
    const message = framed('N', ['SHINWEIS', 'C00000', `M${SSN}`]);
    const out = scrubbed(message, 0, message.length);
    expect(out[0]).toBe(0x4e);
    expect(errorSeverity(out, 0, out.length)).toBe('NOTICE');
    expect(errorField(out, 0, out.length, ErrorField.Message)).toMatch(/^a notice \(SQLSTATE 00000\)/);
  });

  it('a code that is no SQLSTATE is sent as XX000 rather than passed through', () => {
    const message = framed('E', ['SERROR', 'VERROR', 'C22', `M${SSN}`]);
    const out = scrubbed(message, 0, message.length);
    expect(out.equals(handEncoded(0x45, 'ERROR', 'XX000'))).toBe(true);
  });
});
