// A local Snowflake for tests and the demo: serves the REST protocol snowflake-sdk and gosnowflake speak (see
// http-routes.ts), keeps sessions (sessions.ts) and statements (queries.ts), and runs SQL on DuckDB (sql-engine.ts).
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seedClinic } from './clinic-seed.ts';
import { createRouter, type EmulatorCore, type RequestLogEntry } from './http-routes.ts';
import { QueryRegistry, type QueryRecord } from './queries.ts';
import { SessionStore, type EmulatorUser, type OAuthCheck, type Session } from './sessions.ts';
import { SqlEngine, type Bindings, type EngineContext, type EngineSession, type StatementResult } from './sql-engine.ts';

export type { EmulatorUser, OAuthCheck, Session } from './sessions.ts';
export type { QueryRecord } from './queries.ts';
export type { StatementResult } from './sql-engine.ts';
export { ROUTES, type RouteSpec, type RequestLogEntry } from './http-routes.ts';
export { publicKeyFingerprint } from './sessions.ts';
export { seedClinic, CLINIC_TABLES_SQL } from './clinic-seed.ts';

export interface SnowflakeEmulatorOptions {
  /** Account name drivers pass (`account`); JWT issuers must carry it. Default `EMULATOR`. */
  account?: string;
  /** Default 127.0.0.1 and a free port. */
  host?: string;
  port?: number;
  users?: EmulatorUser[];
  /** Accepts or refuses OAUTH logins; without it every OAUTH login fails with 390303. */
  oauth?: OAuthCheck;
  /** Databases created empty (with a PUBLIC schema) at start. */
  databases?: string[];
  /** Load CLINIC.PUBLIC.PATIENTS and VISITS (the demo's clinic rows). */
  clinic?: boolean;
  /** Rows per result chunk; longer results are chunked. Default 5000. */
  resultChunkRows?: number;
  /** Rows inline in `rowset` when a result is chunked. Default `resultChunkRows`; 0 puts every row in chunks. */
  firstChunkRows?: number;
  /** Chunk bodies gzip-compressed (as Snowflake's are) or plain. Default gzip. */
  chunkCompression?: 'gzip' | 'none';
  /** How long a request waits for a statement before answering "in progress". Snowflake: 45 s. Default 45 s. */
  resultWaitMs?: number;
  /** Snowflake: 3600 and 14400. */
  sessionTokenTtlSeconds?: number;
  masterTokenTtlSeconds?: number;
  /** Session TIMEZONE parameter. Default UTC. */
  timezone?: string;
  /** Finished statements (and their results) kept for /queries/{id}/result; the oldest go first. Default 10 000. */
  retainQueries?: number;
  /** DuckDB threads; keep 1 (the default) in tests. */
  threads?: number;
  now?: () => number;
  /** Where unexpected internal errors are reported. Default: stderr. */
  log?: (line: string) => void;
}

export interface SnowflakeEmulator {
  /** Base URL for snowflake-sdk's `accessUrl` (gosnowflake: protocol http, host, port). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly account: string;
  /** Runs Snowflake SQL as the emulator itself (ACCOUNTADMIN, no login): seeding, assertions. */
  exec(sql: string, bindings?: Bindings): Promise<StatementResult>;
  /** Every session opened so far, closed ones included. */
  sessions(): readonly Session[];
  /** Every statement run so far through the REST API. */
  queries(): readonly QueryRecord[];
  /** Telemetry entries drivers sent to /telemetry/send. */
  readonly telemetry: readonly unknown[];
  /** Every HTTP request answered, in order. */
  readonly requests: readonly RequestLogEntry[];
  /** Expire every live session token now: the next request gets 390112 and the driver renews. */
  expireSessionTokens(): void;
  close(): Promise<void>;
}

/**
 * Starts the emulator on loopback.
 *
 * @example
 * const sf = await startSnowflakeEmulator({ clinic: true, users: [{ name: 'alice', password: 'pw' }] });
 * const conn = snowflake.createConnection({ account: sf.account, username: 'alice', password: 'pw', accessUrl: sf.url });
 * // …
 * await sf.close();
 */
export async function startSnowflakeEmulator(options: SnowflakeEmulatorOptions = {}): Promise<SnowflakeEmulator> {
  const account = (options.account ?? 'EMULATOR').toUpperCase();
  const now = options.now ?? Date.now;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const engine = await SqlEngine.create({ threads: options.threads ?? 1, account, timezone: options.timezone ?? 'UTC' });
  const sessionTokenTtlSeconds = options.sessionTokenTtlSeconds ?? 3600;
  const masterTokenTtlSeconds = options.masterTokenTtlSeconds ?? 14_400;
  const sessions = new SessionStore({
    account,
    users: options.users ?? [],
    ...(options.oauth ? { oauth: options.oauth } : {}),
    sessionTokenTtlSeconds,
    masterTokenTtlSeconds,
    now,
    catalog: { hasDatabase: (n) => engine.hasDatabase(n), hasSchema: (d, s) => engine.hasSchema(d, s) },
  });
  const queries = new QueryRegistry(now, options.retainQueries ?? 10_000);
  const engineSessions = new Map<number, Promise<EngineSession>>();
  const telemetry: unknown[] = [];
  const requests: RequestLogEntry[] = [];
  const chunkRows = options.resultChunkRows ?? 5000;
  let baseUrl = '';

  const core: EmulatorCore = {
    account,
    sessions,
    queries,
    chunking: { chunkRows, firstChunkRows: options.firstChunkRows ?? chunkRows, gzip: (options.chunkCompression ?? 'gzip') === 'gzip' },
    resultWaitMs: options.resultWaitMs ?? 45_000,
    sessionTokenTtlSeconds,
    masterTokenTtlSeconds,
    timezone: options.timezone ?? 'UTC',
    now,
    chunkSecret: randomBytes(32),
    baseUrl: () => baseUrl,
    engineSession(s) {
      let p = engineSessions.get(s.id);
      if (!p) {
        p = engine.openSession(s);
        engineSessions.set(s.id, p);
      }
      return p;
    },
    closeEngineSession(s) {
      const p = engineSessions.get(s.id);
      engineSessions.delete(s.id);
      void p?.then((e) => e.close()).catch(() => undefined);
    },
    telemetry,
    requests,
    log,
  };

  for (const db of options.databases ?? []) await engine.createDatabase(db.toUpperCase(), { ifNotExists: true });
  const system: EngineContext = { id: 0, user: 'SYSTEM', role: 'ACCOUNTADMIN', database: null, schema: null, warehouse: null, parameters: new Map(), grantedRoles: null };
  const systemSession = await engine.openSession(system);
  const exec = (sql: string, bindings?: Bindings) => systemSession.execute({ sqlText: sql, bindings, multiStatementCount: 0 });

  const server: Server = createServer(createRouter(core));
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;

  const emulator: SnowflakeEmulator = {
    url: baseUrl,
    host,
    port: addr.port,
    account,
    exec,
    sessions: () => sessions.all(),
    queries: () => queries.all(),
    telemetry,
    requests,
    expireSessionTokens: () => sessions.expireSessionTokens(),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      for (const s of sessions.all()) queries.abortSession(s.id);
      await Promise.allSettled(queries.all().map((q) => q.done));
      await engine.close();
    },
  };
  if (options.clinic) await seedClinic(emulator);
  return emulator;
}
