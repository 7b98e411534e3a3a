// Reading ErrorResponse / NoticeResponse fields in place, on messages framed as PostgreSQL frames them, inside a
// larger buffer (the tracker reads them at an offset of an upstream chunk).
import { describe, expect, it } from 'vitest';
import { ErrorField } from './constants.ts';
import { eachErrorField, errorCode, errorField, errorSeverity } from './error-fields.ts';

/** An ErrorResponse with these fields, as PostgreSQL writes them. */
function errorResponse(fields: [string, string][]): Buffer {
  const body = Buffer.from(`${fields.map(([f, v]) => `${f}${v}\0`).join('')}\0`, 'utf8');
  const head = Buffer.alloc(5);
  head[0] = 0x45; // 'E'
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

describe('error fields', () => {
  const msg = errorResponse([['S', 'ERROR'], ['V', 'ERROR'], ['C', '42P01'], ['M', 'relation "x" does not exist']]);
  const framed = Buffer.concat([Buffer.from('garbage'), msg, Buffer.from('Z\0\0\0\x05I')]);
  const start = 7;
  const end = start + msg.length;

  it('reads fields at an offset, within the message only', () => {
    expect(errorField(framed, start, end, ErrorField.Message)).toBe('relation "x" does not exist');
    expect(errorField(framed, start, end, ErrorField.Detail)).toBeNull();
    expect(errorCode(framed, start, end)).toBe('42P01');
    expect(errorSeverity(framed, start, end)).toBe('ERROR');
  });

  it('walks every field in order and stops when asked', () => {
    const seen: string[] = [];
    eachErrorField(framed, start, end, (letter, value) => {
      seen.push(`${String.fromCharCode(letter)}=${value}`);
      return letter === ErrorField.Code;
    });
    expect(seen).toEqual(['S=ERROR', 'V=ERROR', 'C=42P01']);
  });

  it('falls back to the localized severity, and to XX000 without a SQLSTATE', () => {
    const old = errorResponse([['S', 'FATAL'], ['M', 'no code']]);
    expect(errorSeverity(old, 0, old.length)).toBe('FATAL');
    expect(errorCode(old, 0, old.length)).toBe('XX000');
  });

  it('stops at a value whose NUL lies outside the message', () => {
    const cut = msg.subarray(0, msg.length - 6); // the message's last value loses its NUL
    const seen: string[] = [];
    eachErrorField(cut, 0, cut.length, (_letter, value) => void seen.push(value));
    expect(seen).toEqual(['ERROR', 'ERROR', '42P01']);
    expect(errorField(cut, 0, cut.length, ErrorField.Message)).toBeNull();
  });
});
