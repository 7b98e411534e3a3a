// The one place the engine for a Snowflake upstream is chosen: the Snowflake dialect (names fold to upper case,
// three-part names resolved against the upstream's database and schema) and the upstream's catalog (catalog.ts).
import { createEngine, type Engine, type EngineOptions } from '../../engine/engine.ts';
import type { Catalog } from '../../engine/sql/types.ts';
import type { SnowflakeUpstreamConfig } from '../config/schema.ts';
import type { SnowflakeTarget } from '../upstream/snowflake/connection.ts';

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
