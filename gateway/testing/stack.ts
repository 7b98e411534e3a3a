// A whole Verdict stack for integration tests: a real PostgreSQL (SCRAM) seeded with the clinic data,
// the local dev OIDC issuer, a freshly built policy bundle, and the gateway in front, all on loopback.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../config/load.ts';
import type { VerdictConfig } from '../config/schema.ts';
import { startDevIssuer, type DevIssuer } from '../identity/dev-issuer.ts';
import { createEvidenceWriter } from '../evidence/writer.ts';
import type { SpoolOptions } from '../evidence/spool.ts';
import { createLogger } from '../ops/log.ts';
import { testBundle } from './bundle.ts';
import { startGateway, type Gateway } from '../server.ts';
import { startTestPostgres, type TestPostgres } from './postgres.ts';

export interface TestStack {
  pg: TestPostgres;
  issuer: DevIssuer;
  gateway: Gateway;
  config: VerdictConfig;
  dir: string;
  /** node-postgres / libpq settings for `user` through the gateway, with a fresh token as password. */
  client(user: string): Promise<{ host: string; port: number; user: string; database: string; password: string }>;
  /** A libpq connection string for psql through the gateway. */
  url(user: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The dev OIDC issuer and the gateway, with the config sections every test stack shares (approvals, masking,
 * evidence to a local git repo, all under `dir`) plus the `sections` the stack names (listen, upstreams, policy…).
 *
 * @example
 * const { issuer, gateway } = await startTestGateway(dir, 'test-gw', (issuer) => ({ identity: { issuer: issuer.issuer } }));
 */
export async function startTestGateway(
  dir: string,
  instance: string,
  sections: (issuer: DevIssuer) => Record<string, unknown>,
  /** Fault injection: the evidence spool's group write (a writer like the config's, require_durable on). */
  evidenceIo?: SpoolOptions['io'],
): Promise<{ issuer: DevIssuer; config: VerdictConfig; gateway: Gateway }> {
  const issuer = await startDevIssuer({ audience: 'verdict' });
  const config = validateConfig({
    approvals: { state_dir: join(dir, 'approvals'), hold_timeout_seconds: 20 },
    masking: { hash_key: { value: 'test-hash-key' } },
    evidence: {
      instance,
      spool_dir: join(dir, 'evidence', 'spool'),
      publisher: { kind: 'local-git', repo: join(dir, 'evidence', 'repo'), branch: 'main' },
      batch: { max_lines: 1000, max_age_ms: 200 },
    },
    log: { level: process.env.VERDICT_TEST_LOG ? 'debug' : 'error' },
    ...sections(issuer),
  });
  // The anti-rollback floor is per test gateway, never the working directory's.
  if (config.policy.state_file === '.verdict/policy-state.json') config.policy.state_file = join(dir, 'policy-state.json');
  const evidence = evidenceIo
    ? await createEvidenceWriter({ stream: instance, spoolDir: join(dir, 'evidence', 'spool', instance), requireDurable: true, batchMaxLines: 1000, batchMaxAgeMs: 200, io: evidenceIo })
    : undefined;
  const gateway = await startGateway(config, { log: createLogger(config.log.level), ...(evidence ? { evidence } : {}) });
  return { issuer, config, gateway };
}

export const CLINIC_SQL = readFileSync(new URL('../demo/clinic.sql', import.meta.url), 'utf8');

/**
 * Starts the stack; `overrides` patch the gateway config (e.g. approvals, limits).
 *
 * @example
 * const stack = await startStack(); const c = new pg.Client(await stack.client('alice'));
 */
export async function startStack(
  overrides: Record<string, unknown> = {},
  options: { roleByGroup?: Record<string, string>; bundle?: string; seedSql?: string } = {},
): Promise<TestStack> {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-stack-'));
  const pg = await startTestPostgres({ auth: 'scram-sha-256', password: 'gateway-secret-pw' });
  await pg.exec(CLINIC_SQL);
  if (options.seedSql) await pg.exec(options.seedSql); // before the gateway starts: its catalog sees it
  const { issuer, config, gateway } = await startTestGateway(dir, 'test-gw', (issuer) => ({
    listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl, role_by_group: options.roleByGroup ?? {} },
    upstreams: {
      clinic: { host: '127.0.0.1', port: pg.port, database: pg.database, user: pg.user, password: { value: 'gateway-secret-pw' }, tls: { mode: 'disable' } },
    },
    policy: { bundle: options.bundle ?? testBundle(dir, 'test-stack') },
    ...overrides,
  }));
  const client = async (user: string) => ({
    host: '127.0.0.1',
    port: gateway.address.port,
    user,
    database: 'clinic',
    password: await issuer.mint(user),
  });
  return {
    pg,
    issuer,
    gateway,
    config,
    dir,
    client,
    async url(user) {
      const c = await client(user);
      return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(c.password)}@127.0.0.1:${c.port}/clinic?sslmode=disable`;
    },
    async stop() {
      await gateway.close();
      await issuer.close();
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
