// Frontend messages the gateway writes to the upstream itself: stand-ins for refused messages, and the
// statements it runs on the client's session (measuring counts). pg-protocol's serializer where it can
// express the message; Bind by hand, because its serializer cannot carry per-parameter format codes with
// raw values. Formats: https://www.postgresql.org/docs/current/protocol-message-formats.html
import { serialize } from 'pg-protocol/dist/serializer.js';
import { FrontendCode } from '../../postgres/protocol/constants.ts';

/** Query 'Q'. */
export const queryMessage = (sql: string): Buffer => serialize.query(sql);

/** Parse 'P' of `sql` as statement `name`, with parameter type OIDs (0 = let the server infer). */
export const parseMessage = (name: string, sql: string, paramTypes: readonly number[] = []): Buffer =>
  serialize.parse({ name, text: sql, types: [...paramTypes] });

/** Execute 'E' of `portal`; rows 0 = no limit. */
export const executeMessage = (portal: string, rows = 0): Buffer => serialize.execute({ portal, rows });

/** Close 'C' of a statement ('S') or portal ('P'). */
export const closeMessage = (target: 'S' | 'P', name: string): Buffer => serialize.close({ type: target, name });

/** CopyFail 'f' with a reason: ends the server's copy-in mode with an error. */
export const copyFailMessage = (reason: string): Buffer => serialize.copyFail(reason);

/** Flush 'H': the server sends what it has buffered; no answer of its own. Built once. */
export const FLUSH: Buffer = serialize.flush();
/** A Sync message (protocol-message-formats.html). */
export const SYNC: Buffer = serialize.sync();

/**
 * Bind 'B' of `statement` into `portal`: parameter format codes as given (none = all text, one = all, else
 * one per parameter), raw values (null = SQL NULL), result formats (none = all text).
 *
 * @example
 * bindMessage('', 'q1', [], [Buffer.from('42')], [1]) // one text parameter, binary results
 */
export function bindMessage(portal: string, statement: string, formats: readonly number[] = [], params: readonly (Buffer | null)[] = [], resultFormats: readonly number[] = []): Buffer {
  const head = Buffer.from(`${portal}\0${statement}\0`, 'utf8');
  let size = head.length + 2 + 2 * formats.length + 2 + 2 + 2 * resultFormats.length;
  for (const p of params) size += 4 + (p === null ? 0 : p.length);
  const out = Buffer.allocUnsafe(5 + size);
  out[0] = FrontendCode.Bind;
  out.writeUInt32BE(4 + size, 1);
  let o = 5 + head.copy(out, 5);
  o = out.writeUInt16BE(formats.length, o);
  for (const f of formats) o = out.writeUInt16BE(f, o);
  o = out.writeUInt16BE(params.length, o);
  for (const p of params) {
    o = out.writeInt32BE(p === null ? -1 : p.length, o);
    if (p !== null) o += p.copy(out, o);
  }
  o = out.writeUInt16BE(resultFormats.length, o);
  for (const f of resultFormats) o = out.writeUInt16BE(f, o);
  return out;
}
