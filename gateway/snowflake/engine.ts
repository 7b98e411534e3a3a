// The one place the engine for a Snowflake upstream is chosen: the Snowflake dialect (names fold to upper case,
// three-part names resolved against the upstream's database and schema) and the upstream's catalog for `*`.
import { createEngine, type Engine, type EngineOptions } from '../../engine/engine.ts';
import type { Catalog } from '../../engine/sql/types.ts';
import type { SnowflakeUpstreamConfig } from '../config/schema.ts';
import type { SnowflakeSession, SnowflakeTarget } from '../upstream/snowflake/connection.ts';

/** An upstream's column lists, keyed 'DATABASE.SCHEMA.TABLE' as the Snowflake analysis names tables. */
export async function loadSnowflakeCatalog(session: SnowflakeSession, database: string): Promise<Catalog> {
  const db = database.toUpperCase();
  const r = await session.execute(
    `SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM ${db}.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA' ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`,
  );
  const tables: Record<string, string[]> = {};
  for (const [schema, table, column] of r.rows) {
    if (!schema || !table || !column) continue;
    (tables[`${db}.${schema}.${table}`] ??= []).push(column);
  }
  return { tables };
}

/**
 * The engine of a Snowflake upstream.
 *
 * @example
 * const engine = await createSnowflakeEngine(base, upstreamConfig, catalog);
 */
export function createSnowflakeEngine(base: Pick<EngineOptions, 'bundle' | 'bundleError' | 'maxStatementBytes' | 'maxStatements' | 'cache'>, u: SnowflakeUpstreamConfig, catalog: Catalog | undefined): Promise<Engine> {
  return createEngine({ ...base, dialect: 'snowflake', database: u.database.toUpperCase(), schema: u.schema.toUpperCase(), ...(catalog ? { catalog } : {}) });
}

/** The connector's target for an upstream's config, its key already resolved. */
export function snowflakeTarget(name: string, u: SnowflakeUpstreamConfig, privateKey: string): SnowflakeTarget {
  return {
    name,
    account: u.account,
    user: u.user,
    privateKey,
    database: u.database,
    schema: u.schema,
    ...(u.access_url ? { accessUrl: u.access_url } : {}),
    ...(u.warehouse ? { warehouse: u.warehouse } : {}),
    loginTimeoutSeconds: u.login_timeout_seconds,
  };
}
