// A whole Verdict stack with the Snowflake door for integration tests: the local Snowflake (emulator) with the
// clinic data as the upstream (a key pair made here, the private key given to Verdict as a {value} secret), the
// dev OIDC issuer, the default policy bundle (built from policies/, which names the Snowflake clinic tables), and
// the gateway.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VerdictConfig } from '../config/schema.ts';
import type { DevIssuer } from '../identity/dev-issuer.ts';
import { testBundle } from './bundle.ts';
import { policyBuild } from '../policy/toolchain.ts';
import type { Gateway } from '../server.ts';
import { startSnowflakeEmulator, type SnowflakeEmulator } from '../emulators/snowflake/emulator.ts';
import type { SpoolOptions } from '../evidence/spool.ts';
import { startTestGateway } from './stack.ts';

export const SF_ACCOUNT = 'VERDICT_DOOR';

export interface SnowflakeStack {
  sf: SnowflakeEmulator;
  issuer: DevIssuer;
  gateway: Gateway;
  config: VerdictConfig;
  dir: string;
  /** The door's base URL (snowflake-sdk accessUrl). */
  url: string;
  /** Stops everything; `keepDir` leaves the directory (evidence repository, approvals) for the test to read. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
}

/** What a test may change besides the door: its result wait, the approvals section, an admin listener (webhooks). */
export interface SnowflakeStackOptions {
  resultWaitMs?: number;
  approvals?: Record<string, unknown>;
  admin?: boolean;
  /** SQL run on the local Snowflake (as ACCOUNTADMIN) before the gateway starts and loads its catalog. */
  setup?: Array<string | { sql: string; bindings: Record<string, { type: string; value: string | null }> }>;
  /** A policy directory to build the bundle from instead of policies/ (a test's variant of it). */
  policySource?: string;
  /** Fault injection: the evidence spool's group write (startTestGateway). */
  evidenceIo?: SpoolOptions['io'];
}

/**
 * Starts the stack; `door` patches the `snowflake` listener section (e.g. chunk_rows).
 *
 * @example
 * const stack = await startSnowflakeStack({ chunk_rows: 2 });
 */
export async function startSnowflakeStack(door: Record<string, unknown> = {}, options: SnowflakeStackOptions = {}): Promise<SnowflakeStack> {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-sf-stack-'));
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sf = await startSnowflakeEmulator({
    account: SF_ACCOUNT,
    clinic: true,
    users: [{ name: 'svc_verdict', publicKeys: [keys.publicKey], roles: ['ANALYST', 'CONTRACTOR', 'CLINICIAN'], defaultRole: 'ANALYST' }],
    resultWaitMs: options.resultWaitMs ?? 1000,
  });
  for (const step of options.setup ?? []) await (typeof step === 'string' ? sf.exec(step) : sf.exec(step.sql, step.bindings));
  const { issuer, config, gateway } = await startTestGateway(dir, 'test-sf-gw', (issuer) => ({
    listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: options.admin ? { host: '127.0.0.1', port: 0 } : null },
    ...(options.approvals ? { approvals: { state_dir: join(dir, 'approvals'), hold_timeout_seconds: 20, ...options.approvals } } : {}),
    identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
    snowflake_upstreams: {
      warehouse: {
        account: SF_ACCOUNT,
        user: 'svc_verdict',
        private_key: { value: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string },
        access_url: sf.url,
        database: 'CLINIC',
        schema: 'PUBLIC',
        role: 'ANALYST',
        role_by_group: { contractors: 'CONTRACTOR', clinicians: 'CLINICIAN' },
      },
    },
    snowflake: { host: '127.0.0.1', port: 0, account: SF_ACCOUNT, result_wait_ms: options.resultWaitMs ?? 1000, ...door },
    policy: { bundle: options.policySource ? policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'test-sf-stack', source: options.policySource }).path : testBundle(dir, 'test-sf-stack') },
  }), options.evidenceIo);
  return {
    sf,
    issuer,
    gateway,
    config,
    dir,
    url: gateway.snowflake!.url,
    async stop(stopOptions = {}) {
      await gateway.close();
      await issuer.close();
      await sf.close();
      if (!stopOptions.keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
