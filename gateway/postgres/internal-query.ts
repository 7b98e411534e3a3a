// The answers to a query the gateway runs itself (measuring a write's blast radius, a catalog lookup): none
// reaches the client; its rows and its error are kept on its unit for the session.
import { textValues } from './delivered-rows.ts';
import { BackendCode } from './protocol/index.ts';
import type { InternalUnit } from './response-units.ts';
import { SessionModelBreach } from './errors.ts';

/**
 * What one answer (other than ParameterStatus, which the session takes as from any query) means for the unit:
 * 'more' (it is not answered yet), 'answered', 'failed' (an error ended it among extended messages: the server
 * now skips to the client's Sync) or 'ready' (ReadyForQuery ended a simple Query). Throws SessionModelBreach on
 * an answer such a query cannot get.
 *
 * @example
 * internalAnswer(unit, BackendCode.DataRow, buf, start, end) // 'more', and unit.rows has the row as text
 */
export function internalAnswer(u: InternalUnit, type: number, buf: Buffer, start: number, end: number): 'more' | 'answered' | 'failed' | 'ready' {
  switch (type) {
    case BackendCode.NoticeResponse:
    case BackendCode.NotificationResponse:
    case BackendCode.RowDescription:
      return 'more';
    case BackendCode.DataRow:
      u.rows.push(textValues(buf.subarray(start + 5, end)));
      return 'more';
    case BackendCode.ErrorResponse:
      u.error = Buffer.from(buf.subarray(start, end));
      // Extended messages: the server now skips to the client's Sync, so the client's next units go too.
      return u.until === 'ready' ? 'more' : 'failed';
    case BackendCode.ReadyForQuery:
      if (u.until !== 'ready') throw new SessionModelBreach('the server was ready for the next query inside the gateway’s own measurement');
      return 'ready';
    case BackendCode.ParseComplete:
    case BackendCode.BindComplete:
    case BackendCode.CommandComplete:
    case BackendCode.CloseComplete:
      return typeof u.until === 'number' && --u.until === 0 ? 'answered' : 'more';
    default:
      throw new SessionModelBreach(`the server sent message type 0x${type.toString(16)} to the gateway’s own measurement`);
  }
}
