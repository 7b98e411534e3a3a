// PostgreSQL type names for the type OIDs a RowDescription reports (pg_type.typname of the built-in types).
import { Oid } from '../../engine/masking/types.ts';

const NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(Oid).map(([k, oid]) => [oid, k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)]),
);

/**
 * The built-in type's name, or `oid:<n>` for types this table does not name (user-defined, arrays).
 *
 * @example
 * typeName(25) // 'text'
 * typeName(3220) // 'pg_lsn'
 */
export function typeName(oid: number): string {
  return NAMES.get(oid) ?? `oid:${oid}`;
}
