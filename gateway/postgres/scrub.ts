// What the client is told of an error or notice from a statement that reads columns masked for it: severity and
// SQLSTATE, never the text (which can quote the values the masks hide).
import { withheldCode } from '../pipeline/mask-plan.ts';
import { BackendCode, BackendWriter, eachErrorField, ErrorField, SqlState, type ErrorSeverity, type NoticeSeverity } from './protocol/index.ts';

const ERROR_SEVERITIES: ReadonlySet<string> = new Set<ErrorSeverity>(['ERROR', 'FATAL', 'PANIC']);
const NOTICE_SEVERITIES: ReadonlySet<string> = new Set<NoticeSeverity>(['WARNING', 'NOTICE', 'DEBUG', 'INFO', 'LOG']);
const SQLSTATE_SHAPE = /^[0-9A-Z]{5}$/;
// One writer for every scrubbed message: each flush() hands out bytes the caller owns (see BackendWriter), and a
// scrubbed message is a couple of hundred bytes, so a few share one allocation.
const writer = new BackendWriter(1024);

/**
 * An ErrorResponse/NoticeResponse with every field that can carry data withheld: message, detail, hint,
 * context (where), internal query, and the schema/table/column/constraint names stay out; severity and
 * SQLSTATE stay so clients still branch on them. (A cast error quotes the value: `invalid input syntax
 * for type integer: "123-45-6789"`; a unique violation's DETAIL prints the key.) Encoded by BackendWriter:
 * 'S' and 'V' severity, 'C' code, 'M' message. A severity the message type cannot carry (servers before 9.6
 * send no 'V') becomes ERROR or NOTICE; a code that is no SQLSTATE becomes XX000.
 *
 * @example
 * scrubbed(buf, start, end) // E: S ERROR, V ERROR, C 22000, M 'an error (SQLSTATE 22000) whose text Verdict withholds: …'
 */
export function scrubbed(buf: Buffer, start: number, end: number): Buffer {
  const notice = buf[start] === BackendCode.NoticeResponse;
  let severity = '';
  let code: string = SqlState.InternalError;
  eachErrorField(buf, start, end, (letter, value) => {
    if (letter === ErrorField.SeverityNonLocalized) severity = value;
    else if (letter === ErrorField.Code) code = value;
  });
  // Which data error it was is information about the values too (one SQLSTATE per digit of a CASE): errors of
  // the classes that depend on data are reported as one generic data exception.
  code = SQLSTATE_SHAPE.test(code) ? withheldCode(code) : SqlState.InternalError;
  const message = `${notice ? 'a notice' : 'an error'} (SQLSTATE ${code}) whose text Verdict withholds: this statement reads columns masked for you, and the text could contain their values`;
  if (notice) return writer.noticeResponse({ severity: NOTICE_SEVERITIES.has(severity) ? (severity as NoticeSeverity) : 'NOTICE', code, message }).flush();
  return writer.errorResponse({ severity: ERROR_SEVERITIES.has(severity) ? (severity as ErrorSeverity) : 'ERROR', code, message }).flush();
}
