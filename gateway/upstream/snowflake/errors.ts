// The Snowflake connector's one error module: what Snowflake refused, or why the connection failed.

/** Snowflake refused (an error with its code and SQLSTATE), or the connection failed (`code` from the SDK). */
export class SnowflakeUpstreamError extends Error {
  override name = 'SnowflakeUpstreamError';
  constructor(
    message: string,
    readonly code: string | null,
    readonly sqlstate: string | null,
    readonly fatal: boolean,
  ) {
    super(message);
  }
}
