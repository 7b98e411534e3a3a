// The PostgreSQL door's errors of its own: the session model lost track of the server (the session ends), and
// a catalog check asked in a failed transaction. What the client is sent are SQLSTATEs (protocol/).
import { SqlState } from './protocol/index.ts';

/** The model could not account for something the server did: the session must end. */
export class SessionModelBreach extends Error {
  static readonly code = 'SESSION_MODEL_BREACH';
  readonly code = SessionModelBreach.code;
  constructor(message: string) {
    super(message);
    this.name = 'SessionModelBreach';
  }
}

/** Thrown by `resolve` when the session is in a failed transaction (the server would refuse the statement: 25P02). */
export class FailedTransaction extends Error {
  readonly code = SqlState.InFailedSqlTransaction;
}
