// What the server's confirmation of an extended-protocol message changes: the unit at the head of the queue must
// be the message confirmed (else SessionModelBreach), leaves the queue, and the session model records what the
// server now holds. https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
import { BackendCode } from './protocol/index.ts';
import type { Unit } from './response-units.ts';
import { SessionModelBreach } from './errors.ts';
import type { SessionModel } from './session-model.ts';

/**
 * ParseComplete, BindComplete, CloseComplete, NoData or ParameterDescription (`type`) for the head of `units`.
 *
 * @example
 * confirmed(BackendCode.ParseComplete, tracker.units, model) // the Parse at the head is confirmed: model.parsed(name, entry)
 */
export function confirmed(type: number, units: Unit[], model: SessionModel): void {
  const head = units[0];
  switch (type) {
    case BackendCode.ParseComplete:
      if (head?.type !== 'parse' || !head.entry) throw new SessionModelBreach('the server confirmed a Parse the gateway did not send or refused');
      units.shift();
      model.parsed(head.name, head.entry);
      return;
    case BackendCode.BindComplete:
      if (head?.type !== 'bind' || !head.entry) throw new SessionModelBreach('the server confirmed a Bind the gateway did not send or refused');
      if (head.statement && head.from !== undefined) {
        // The plan was made for the statement the session expected under that name: it must be the one bound.
        const held = model.statements.get(head.from);
        if (!held || held.verdict !== head.statement.verdict || held.index !== head.statement.index) {
          throw new SessionModelBreach(`the server bound prepared statement "${head.from}", which is not the one the gateway decided on`);
        }
      }
      units.shift();
      model.bound(head.portal, head.entry);
      return;
    case BackendCode.CloseComplete:
      if (head?.type !== 'close') throw new SessionModelBreach('the server confirmed a Close the gateway did not send');
      units.shift();
      model.closed(head.target, head.name);
      return;
    case BackendCode.NoData:
      if (head?.type !== 'describe') throw new SessionModelBreach('the server sent NoData for no Describe');
      units.shift();
      return;
    case BackendCode.ParameterDescription:
      if (head?.type !== 'describe' || head.target !== 'S') throw new SessionModelBreach('the server sent ParameterDescription for no Describe of a statement');
      return; // Describe 'S' continues with RowDescription or NoData
    default:
      throw new Error(`confirmed() does not handle message type 0x${type.toString(16)}`);
  }
}
