// What the client is told of an error or notice from a statement that reads columns masked for it: severity and
// SQLSTATE, never the text (which can quote the values the masks hide).
import { withheldCode } from '../pipeline/mask-plan.ts';
import { eachErrorField, ErrorField, SqlState } from './protocol/index.ts';

/**
 * An ErrorResponse/NoticeResponse with every field that can carry data withheld: message, detail, hint,
 * context (where), internal query, and the schema/table/column/constraint names stay out; severity and
 * SQLSTATE stay so clients still branch on them. (A cast error quotes the value: `invalid input syntax
 * for type integer: "123-45-6789"`; a unique violation's DETAIL prints the key.)
 */
export function scrubbed(buf: Buffer, start: number, end: number): Buffer {
  let severity = 'ERROR';
  let code: string = SqlState.InternalError;
  eachErrorField(buf, start, end, (letter, value) => {
    if (letter === ErrorField.SeverityNonLocalized) severity = value;
    else if (letter === ErrorField.Code) code = value;
  });
  // Which data error it was is information about the values too (one SQLSTATE per digit of a CASE): errors of
  // the classes that depend on data are reported as one generic data exception.
  code = withheldCode(code);
  const message = `${severity === 'NOTICE' || severity === 'WARNING' || severity === 'INFO' || severity === 'LOG' || severity === 'DEBUG' ? 'a notice' : 'an error'} (SQLSTATE ${code}) whose text Verdict withholds: this statement reads columns masked for you, and the text could contain their values`;
  const parts = [`S${severity}`, `V${severity}`, `C${code}`, `M${message}`].map((f) => Buffer.from(`${f}\0`, 'utf8'));
  const body = Buffer.concat([...parts, Buffer.from([0])]);
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = buf[start]!;
  out.writeUInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}
