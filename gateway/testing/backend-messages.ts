// Hand-built backend messages for tests of the gateway's response handling: DataRow, RowDescription,
// CommandComplete, ReadyForQuery, ErrorResponse, framed as PostgreSQL frames them
// (https://www.postgresql.org/docs/current/protocol-message-formats.html).
import { Parser } from 'pg-protocol/dist/parser.js';

/** One framed message: type byte, Int32 length, body. */
export function msg(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeUInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

export const i16 = (v: number): Buffer => Buffer.from([(v >> 8) & 255, v & 255]);
export function i32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0);
  return b;
}
export const cstr = (s: string): Buffer => Buffer.from(`${s}\0`);

/** DataRow 'D' of text (or raw) values; null = SQL NULL. */
export function dataRow(values: readonly (Buffer | string | null)[]): Buffer {
  const parts: Buffer[] = [i16(values.length)];
  for (const v of values) {
    if (v === null) parts.push(i32(-1));
    else {
      const b = Buffer.from(v);
      parts.push(i32(b.length), b);
    }
  }
  return msg('D', Buffer.concat(parts));
}

/** RowDescription 'T': one column per type OID (named c0, c1, …), no origin, all in `format`. */
export function rowDescription(types: readonly number[], format = 0): Buffer {
  const parts = [i16(types.length)];
  for (const [i, t] of types.entries()) {
    const meta = Buffer.alloc(18);
    meta.writeUInt32BE(t, 6);
    meta.writeInt16BE(-1, 10);
    meta.writeInt32BE(-1, 12);
    meta.writeInt16BE(format, 16);
    parts.push(Buffer.from(`c${i}\0`), meta);
  }
  return msg('T', Buffer.concat(parts));
}

export const commandComplete = (tag: string): Buffer => msg('C', cstr(tag));
export const ready = (status: 'I' | 'T' | 'E'): Buffer => msg('Z', Buffer.from(status));
export const errorResponse = (code: string, message: string): Buffer =>
  msg('E', Buffer.concat([cstr('SERROR'), cstr(`C${code}`), cstr(`M${message}`), Buffer.from([0])]));

/** Every message of a stream as node-postgres's parser (pg-protocol) reads it. */
export function parseAll(buf: Buffer): { name: string; fields?: unknown[]; message?: string; code?: string; status?: string }[] {
  const out: { name: string }[] = [];
  new Parser().parse(Buffer.from(buf), (m) => out.push(m as unknown as { name: string }));
  return out as never;
}
