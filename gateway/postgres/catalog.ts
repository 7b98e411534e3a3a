// Reads the upstream's table columns into the engine's Catalog, so `SELECT *` is expanded to the
// columns PostgreSQL would return (in attribute order) and masked column by column.
import type { Catalog } from '../../engine/sql/types.ts';

/** The part of a PostgreSQL client this needs (node-postgres' Client and Pool both fit). */
export interface Queryable {
  query(sql: string): Promise<{ rows: Record<string, unknown>[] }>;
}

const COLUMNS_SQL = `
SELECT n.nspname AS schema, c.relname AS table, a.attname AS column
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_toast%'
ORDER BY n.nspname, c.relname, a.attnum`;

/**
 * Loads every table's, view's and materialized view's columns.
 *
 * @example
 * const catalog = await loadCatalog(client); const engine = await createEngine({ bundle, catalog });
 */
export async function loadCatalog(db: Queryable): Promise<Catalog> {
  const { rows } = await db.query(COLUMNS_SQL);
  const tables: Record<string, string[]> = {};
  for (const r of rows) (tables[`${r.schema}.${r.table}`] ??= []).push(String(r.column));
  return { tables };
}
