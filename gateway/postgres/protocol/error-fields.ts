// Reads fields of an ErrorResponse / NoticeResponse in place, as the server framed it, without decoding the rest.
// Fields: https://www.postgresql.org/docs/current/protocol-error-fields.html
import { ErrorField, SqlState } from './constants.ts';

/**
 * Calls `each` with every field of the ErrorResponse / NoticeResponse at buf[start, end) (header included): its
 * letter (an ErrorField) and value, in order, until `each` returns true or the fields end (a value without its
 * NUL inside the message ends them too).
 *
 * @example
 * eachErrorField(buf, start, end, (letter, value) => { if (letter === ErrorField.Detail) detail = value })
 */
export function eachErrorField(buf: Buffer, start: number, end: number, each: (letter: number, value: string) => boolean | void): void {
  let p = start + 5;
  while (p < end - 1) {
    const letter = buf[p]!;
    const stop = buf.indexOf(0, p + 1);
    if (stop < 0 || stop >= end) return;
    if (each(letter, buf.toString('utf8', p + 1, stop)) === true) return;
    p = stop + 1;
  }
}

/**
 * The value of the first field `letter` (an ErrorField) of the ErrorResponse / NoticeResponse at buf[start, end),
 * header included; null when it is absent or the message ends before it.
 *
 * @example
 * errorField(buf, start, end, ErrorField.Message) // 'relation "x" does not exist'
 */
export function errorField(buf: Buffer, start: number, end: number, letter: number): string | null {
  let found: string | null = null;
  eachErrorField(buf, start, end, (l, value) => {
    if (l !== letter) return false;
    found = value;
    return true;
  });
  return found;
}

/**
 * The SQLSTATE ('C' field) of an ErrorResponse / NoticeResponse; XX000 (internal_error) when it has none.
 *
 * @example
 * errorCode(unit.error, 0, unit.error.length) // '42P01'
 */
export function errorCode(buf: Buffer, start: number, end: number): string {
  return errorField(buf, start, end, ErrorField.Code) ?? SqlState.InternalError;
}

/**
 * The severity of an ErrorResponse / NoticeResponse: the never-localized 'V' field, else 'S' (servers before 9.6).
 *
 * @example
 * errorSeverity(buf, start, end) === 'FATAL' // the server is ending the session
 */
export function errorSeverity(buf: Buffer, start: number, end: number): string | null {
  return errorField(buf, start, end, ErrorField.SeverityNonLocalized) ?? errorField(buf, start, end, ErrorField.Severity);
}
