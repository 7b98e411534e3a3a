// Reads what lineage needs from an upstream: every relation's columns (in attribute order, with the
// relation OID and attribute numbers that RowDescription reports), view definitions, and the bodies of
// user functions — so `*` expands exactly, and views and SQL functions are traced to their tables.
import type { Catalog } from '../../../engine/sql/types.ts';
import { setupQuery } from './query.ts';
import type { UpstreamConnection } from './upstream.ts';

const USER_SCHEMAS = `n.nspname NOT IN ('information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;

const COLUMNS = `SELECT c.oid::text, n.nspname, c.relname, a.attnum::text, a.attname
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r','p','v','m','f') AND ${USER_SCHEMAS}
ORDER BY n.nspname, c.relname, a.attnum`;

const VIEWS = `SELECT n.nspname, c.relname, pg_catalog.pg_get_viewdef(c.oid)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v','m') AND n.nspname NOT IN ('pg_catalog','information_schema')`;

const FUNCTIONS = `SELECT n.nspname, p.proname, l.lanname, p.prosrc, p.proretset::text
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
WHERE n.nspname NOT IN ('pg_catalog','information_schema')`;

/** Where a RowDescription field (table OID, attribute number) comes from. */
export type ColumnOrigins = Map<string, { schema: string; table: string; column: string }>;

export interface UpstreamCatalog {
  catalog: Catalog;
  /** Key: `${tableOid}:${attnum}`. */
  origins: ColumnOrigins;
}

/**
 * Loads the catalog over a fresh upstream connection (before any client bytes flow on it).
 *
 * @example
 * const { catalog, origins } = await loadUpstreamCatalog(conn);
 */
export async function loadUpstreamCatalog(conn: UpstreamConnection): Promise<UpstreamCatalog> {
  const tables: Record<string, string[]> = {};
  const origins: ColumnOrigins = new Map();
  for (const [oid, schema, table, attnum, column] of await setupQuery(conn, COLUMNS)) {
    (tables[`${schema}.${table}`] ??= []).push(column!);
    origins.set(`${oid}:${attnum}`, { schema: schema!, table: table!, column: column! });
  }
  const views: Record<string, string> = {};
  for (const [schema, name, def] of await setupQuery(conn, VIEWS)) if (def) views[`${schema}.${name}`] = def;
  const functions: NonNullable<Catalog['functions']> = {};
  for (const [schema, name, language, body, retset] of await setupQuery(conn, FUNCTIONS)) {
    const key = `${schema}.${name}`;
    const prev = functions[key];
    if (!prev) functions[key] = { language: language!, body: body ?? '', returns_set: retset === 'true' };
    else if (prev.language === 'sql' && language === 'sql') prev.body = `${prev.body};${body ?? ''}`;
    else prev.language = prev.language === language ? prev.language : 'mixed'; // overloads in several languages: opaque
  }
  return { catalog: { tables, views, functions }, origins };
}
