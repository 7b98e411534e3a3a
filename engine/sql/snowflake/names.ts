// Snowflake's names: unquoted identifiers fold to upper case, quoted ones keep theirs, and a table has three
// parts (database.schema.table), the missing ones taken from the session's current database and schema.
//
// A resolved table's `schema` in the policy input is 'DATABASE.SCHEMA' (a Snowflake schema is database-
// qualified), so 'schema.table' keys name Snowflake objects without colliding with PostgreSQL's.
import type { Json } from './parser.ts';

/** The walk cannot resolve something it must (a table without a current database): the statement is denied. */
export class Unresolvable extends Error {
  readonly code = 'SQL_UNRESOLVABLE';
  constructor(message: string) {
    super(message);
    this.name = 'Unresolvable';
  }
}

/** An identifier as Snowflake compares it: upper case unless quoted. */
export function fold(id: Json): string {
  if (typeof id === 'string') return id.toUpperCase();
  if (!id || typeof id.name !== 'string') return '';
  return id.quoted ? id.name : id.name.toUpperCase();
}

/** A dotted name written as one identifier (`USE SCHEMA d.s`, `SET x.a = ...`), folded part by part. */
export function foldDotted(id: Json): string[] {
  if (!id || typeof id.name !== 'string') return [];
  return id.quoted ? [id.name] : id.name.split('.').map((p: string) => p.toUpperCase());
}

/** A table, view or stage resolved to its database and schema. */
export interface TableName {
  /** 'DATABASE.SCHEMA' */
  schema: string;
  table: string;
}

export interface CurrentNamespace {
  database?: string | undefined;
  schema?: string | undefined;
}

/**
 * Resolves a name of one to three parts against the current database and schema.
 * @example resolveTable(['PATIENTS'], { database: 'CLINIC', schema: 'PUBLIC' }) // { schema: 'CLINIC.PUBLIC', table: 'PATIENTS' }
 */
export function resolveTable(parts: string[], current: CurrentNamespace): TableName {
  const n = parts.length;
  const table = parts[n - 1];
  if (!table || n > 3) throw new Unresolvable(`cannot resolve the object name ${parts.join('.') || '(empty)'}`);
  const schema = n >= 2 ? parts[n - 2] : current.schema;
  const database = n === 3 ? parts[0] : current.database;
  if (!schema || !database) {
    throw new Unresolvable(`cannot resolve ${parts.join('.')}: no current ${database ? 'schema' : 'database'} is known to resolve it against; qualify it as database.schema.table`);
  }
  return { schema: `${database}.${schema}`, table };
}

/** The folded parts of a TableRef (`db.s.t` → ['DB', 'S', 'T']). */
export function tableParts(ref: Json): string[] {
  const parts: string[] = [];
  if (ref?.catalog) parts.push(fold(ref.catalog));
  if (ref?.schema) parts.push(fold(ref.schema));
  parts.push(fold(ref?.name));
  return parts;
}

/** The one key of a node (`{ select: {...} }` → 'select'), '' for anything else. */
export function kindOf(node: Json): string {
  if (!node || typeof node !== 'object' || Array.isArray(node)) return '';
  for (const k in node) return k;
  return '';
}
