// Whether what the server reports for a statement fits the statement the gateway decided on: rows only from one
// that returns them, a write's CommandComplete tag only from a write of that kind. A misfit is a SessionModelBreach.
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { SessionModelBreach } from './errors.ts';
import { executedStatement, type SessionModel } from './session-model.ts';

/** Commands that may send rows (RowDescription / DataRow) besides SELECT and DML with RETURNING. */
const ROW_COMMANDS = new Set(['FETCH', 'EXECUTE', 'SHOW', 'EXPLAIN', 'CALL']);
const ROW_KINDS = new Set(['select', 'insert', 'update', 'delete', 'merge']);
/** CommandComplete tags that say rows were written, and the statement kind that may report each. */
const WRITE_TAGS: Readonly<Record<string, string>> = { INSERT: 'insert', UPDATE: 'update', DELETE: 'delete', MERGE: 'merge', COPY: 'copy' };

/** Whether a statement may answer with rows: a query, DML with RETURNING, or a command that returns them. */
export function returnsRows(a: StatementAnalysis): boolean {
  if (a.kind === 'select' || ROW_COMMANDS.has(a.command)) return true;
  return ROW_KINDS.has(a.kind) && a.result_columns.length > 0; // without RETURNING a write sends no rows (a rule could)
}

/**
 * Throws SessionModelBreach when the CommandComplete `tag` reports writes the analysis did not expect (an EXECUTE
 * is judged by the prepared statement `model` holds under its name).
 *
 * @example
 * checkTag(model, select, 'DELETE 3') // throws: the server reported "DELETE 3" for a statement decided as SELECT
 */
export function checkTag(model: SessionModel, a: StatementAnalysis, tag: string): void {
  const space = tag.indexOf(' ');
  const word = space < 0 ? tag : tag.slice(0, space);
  const kind = WRITE_TAGS[word];
  if (!kind || a.kind === kind) return;
  if (a.command === 'EXECUTE' && a.name !== null) {
    const s = model.statements.get(a.name);
    // A SQL PREPARE's own kind is utility; what EXECUTE runs is the statement inside it.
    if (s && executedStatement(s.verdict.statements[s.index]!).kind === kind) return;
  }
  throw new SessionModelBreach(`the server reported "${tag}" for a statement the gateway decided as ${a.command}`);
}
