// Which statements count as side-effecting, for the one latitude the evidence rule allows: a statement that only
// reads may travel to the upstream while its decision is being made durable (and while its catalog check runs) —
// the client receives nothing of its answer until both are done (ResponseTracker.hold). Everything else waits for
// its durable decision before a byte of it goes upstream. Fail closed: what cannot be shown to be a plain read is
// a write.
//
// A read is a plain SELECT (no INTO, no data-modifying WITH, no FOR UPDATE / SHARE row locks, no COPY), every
// nested statement too, whose functions are all PostgreSQL's own and immutable or stable in every overload
// (pg_proc.provolatile 'i' / 's'), except the stable ones that assign a transaction id. A volatile builtin
// (nextval, set_config, pg_advisory_lock, pg_notify, lo_import, query_to_xml, even random) and any function
// outside pg_catalog (which may write whatever it likes) make the statement a write.
import type { StatementAnalysis } from '../../engine/sql/types.ts';

/** Stable builtins that nonetheless change the server's state (they assign the transaction an id). */
export const EFFECTFUL_STABLE_BUILTINS: ReadonlySet<string> = new Set(['txid_current', 'pg_current_xact_id']);

/** SQL: names of pg_catalog functions whose every overload is immutable or stable. */
export const READ_ONLY_BUILTINS = `SELECT p.proname FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace
GROUP BY p.proname HAVING pg_catalog.bool_and(p.provolatile IN ('i', 's'))`;

const LOCKING = /\bfor\s+(?:no\s+key\s+update|update|key\s+share|share)\b/i;

/**
 * Whether a function call reads only: `schema` as written (null when unqualified), `name` lower-case.
 * `readOnlyBuiltins`: names of pg_catalog functions immutable or stable in every overload (READ_ONLY_BUILTINS);
 * `userFunctions`: names of functions outside PostgreSQL's own schemas (an unqualified call could find one of
 * those first, under a search_path that puts pg_catalog later).
 */
export function readOnlyCall(schema: string | null, name: string, readOnlyBuiltins: ReadonlySet<string>, userFunctions: ReadonlySet<string>): boolean {
  if (schema !== null && schema !== 'pg_catalog') return false;
  if (schema === null && userFunctions.has(name)) return false;
  return readOnlyBuiltins.has(name) && !EFFECTFUL_STABLE_BUILTINS.has(name);
}

/**
 * Whether every statement only reads (as above); `readOnly(schema, name)` judges each function call (readOnlyCall).
 *
 * @example
 * onlyReads(analyzeSql('SELECT abalance FROM pgbench_accounts WHERE aid = $1'), isReadOnly) // true
 * onlyReads(analyzeSql("SELECT nextval('s')"), isReadOnly) // false
 */
export function onlyReads(statements: readonly StatementAnalysis[], readOnly: (schema: string | null, name: string) => boolean): boolean {
  if (statements.length === 0) return false;
  const reads = (s: StatementAnalysis): boolean => {
    if (s.kind !== 'select' || s.command !== 'SELECT' || s.opaque || s.parse_error !== null) return false;
    if (s.writes.length > 0 || s.data_modifying_cte || s.creates_table_from_query || s.copy !== null) return false;
    // A false positive (the words inside a string literal) only costs the latitude, never safety.
    if (LOCKING.test(s.text)) return false;
    for (const f of s.functions) {
      const parts = f.split('.');
      if (!readOnly(parts.length > 1 ? parts[parts.length - 2]! : null, parts[parts.length - 1]!)) return false;
    }
    return s.nested.every(reads);
  };
  return statements.every(reads);
}
