// `npm start` with no config: the whole system on one machine — PGlite with a synthetic clinic, a local
// Snowflake with the same clinic, the local dev OIDC issuer (alice, bob, carol), the local approval provider,
// and the gateway: PostgreSQL door on :6432, MCP on :6433, Snowflake on :6434.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { validateConfig } from '../config/load.ts';
import { DEFAULT_DEV_USERS, DEV_METADATA_FILE, startDevIssuer } from '../identity/dev-issuer.ts';
import { isApprover } from '../approvals/local.ts';
import { createLogger } from '../ops/log.ts';
import { policiesDir, projectRoot } from '../policy/paths.ts';
import { contentHash, policyBuildAsync, policyRevision } from '../policy/toolchain.ts';
import { startGateway, type Gateway } from '../server.ts';
import { startSnowflakeEmulator } from '../emulators/snowflake/emulator.ts';
import { startEmbeddedDb } from './embedded-db.ts';

/** Demo state (keys, approvals, PGlite data) lives here; it is ignored by git. */
export const DEMO_DIR = join(projectRoot, '.verdict');
export const DEMO_ISSUER_DIR = join(DEMO_DIR, 'dev-issuer');
export const DEMO_APPROVALS_DIR = join(DEMO_DIR, 'approvals');
export const DEMO_PORTS = { gateway: 6432, admin: 9187, issuer: 6480, mcp: 6433, snowflake: 6434 };

export interface Demo {
  gateway: Gateway;
  stop(): Promise<void>;
}

/**
 * Starts the embedded demo.
 *
 * @example
 * const demo = await startDemo(); // psql "host=127.0.0.1 port=6432 dbname=clinic user=bob"
 */
export async function startDemo(
  options: { ports?: Partial<typeof DEMO_PORTS>; quiet?: boolean; stateDir?: string } = {},
): Promise<Demo> {
  const ports = { ...DEMO_PORTS, ...options.ports };
  const state = options.stateDir ?? DEMO_DIR;
  const policy = await demoPolicy(join(state, 'policy'), options.quiet === true);
  // In memory: every start begins from the same synthetic data.
  const db = await startEmbeddedDb({ port: 0 });
  // The Snowflake side: a local Snowflake with the same clinic; Verdict logs in with a key pair only it holds.
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sf = await startSnowflakeEmulator({ account: 'CLINIC_DEMO', clinic: true, users: [{ name: 'VERDICT_SVC', publicKeys: [keys.publicKey] }], log: () => undefined });
  // A fixed issuer port keeps tokens minted by `verdict token` valid across restarts.
  const issuer = await startDevIssuer({ port: ports.issuer, keyDir: join(state, 'dev-issuer'), audience: 'verdict' });
  const config = validateConfig({
    listen: { postgres: { host: '127.0.0.1', port: ports.gateway }, admin: { host: '127.0.0.1', port: ports.admin } },
    identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
    upstreams: { clinic: { host: db.host, port: db.port, database: db.database, user: db.user, tls: { mode: 'disable' }, catalog_check: false } },
    policy: { source: { file: policy.bundle, poll_seconds: 2 }, verification_keys: { demo: policy.publicKey }, state_file: join(state, 'policy', 'state.json') },
    approvals: { state_dir: join(state, 'approvals'), hold_timeout_seconds: 600 },
    masking: { hash_key: { value: 'verdict-demo-hash-key' } },
    evidence: {
      instance: 'demo',
      spool_dir: join(state, 'evidence', 'spool'),
      publisher: { kind: 'local-git', repo: join(state, 'evidence', 'repo'), branch: 'main' },
      batch: { max_lines: 1000, max_age_ms: 2000 },
    },
    log: { level: 'warn' },
    mcp: { host: '127.0.0.1', port: ports.mcp, upstream: 'clinic' },
    snowflake_upstreams: {
      clinic_sf: {
        account: sf.account,
        user: 'VERDICT_SVC',
        private_key: { value: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string },
        access_url: sf.url,
        database: 'CLINIC',
        schema: 'PUBLIC',
      },
    },
    snowflake: { host: '127.0.0.1', port: ports.snowflake, upstream: 'clinic_sf' },
  });
  const gateway = await startGateway(config, {
    log: createLogger(options.quiet ? 'error' : 'warn'),
    // The HINT names a demo user who may approve the request (never its requester): it works as printed.
    approveCommand: (r) => {
      const who = DEFAULT_DEV_USERS.find((u) => u.username !== r.requester.username && isApprover(r.requirement.approvers, u));
      return `npx verdict approve ${r.id} --as ${who?.username ?? 'carol'}`;
    },
  });
  return {
    gateway,
    async stop() {
      policy.close();
      await gateway.close();
      await issuer.close();
      await sf.close();
      await db.stop();
    },
  };
}

/**
 * The demo's policy: a bundle signed with a demo key (as policy CI signs on merge), rebuilt at start when
 * policies/ changed and again whenever a file there changes while the demo runs — the gateway follows it.
 */
async function demoPolicy(dir: string, quiet: boolean): Promise<{ bundle: string; publicKey: string; close(): void }> {
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, 'signing-key.pem');
  const publicKey = join(dir, 'signing-key.pub.pem');
  if (!existsSync(keyFile) || !existsSync(publicKey)) {
    const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(keyFile, k.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(publicKey, k.publicKey.export({ type: 'spki', format: 'pem' }));
  }
  const bundle = join(dir, 'bundle.tar.gz');
  const stamp = join(dir, 'bundle.policies-sha256');
  // Demo builds are ordered by when they were made (ms), so reverting an edit is still a newer bundle.
  const build = async () => {
    const hash = contentHash();
    await policyBuildAsync({ out: bundle, revision: policyRevision(), signingKey: keyFile, keyId: 'demo', sequence: Date.now() });
    writeFileSync(stamp, hash);
    return hash;
  };
  if (!existsSync(bundle) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== contentHash()) await build();
  let timer: NodeJS.Timeout | null = null;
  let building: Promise<unknown> = Promise.resolve();
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(policiesDir, { recursive: true, persistent: false }, () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        building = building.then(async () => {
          if (readFileSync(stamp, 'utf8') === contentHash()) return;
          try {
            await build();
            if (!quiet) process.stderr.write('verdict: policies/ changed: rebuilt and signed the bundle; the gateway is loading it\n');
          } catch (err) {
            process.stderr.write(`verdict: policies/ changed but the bundle does not build; the last good policy keeps serving.\n${(err as Error).message}\n`);
          }
        });
      }, 300);
    });
    watcher.on('error', () => undefined);
  } catch {
    // no recursive watch here: restart the demo to pick up policy edits
  }
  return {
    bundle,
    publicKey,
    close() {
      watcher?.close();
      if (timer) clearTimeout(timer);
    },
  };
}

/** Whether a demo issuer key ring exists (so `verdict token` / `verdict approve --as` can work). */
export function demoUsers(): { username: string; groups: string[] }[] | null {
  const meta = join(DEMO_ISSUER_DIR, DEV_METADATA_FILE);
  if (!existsSync(meta)) return null;
  return (JSON.parse(readFileSync(meta, 'utf8')) as { users: { username: string; groups: string[] }[] }).users;
}

export function walkthrough(gw: Gateway): string {
  const port = gw.address.port;
  const conn = `host=127.0.0.1 port=${port} dbname=clinic sslmode=disable`;
  return `
Verdict is running on its embedded default (policy revision ${gw.revision ?? 'none: every statement is denied'}).

  gateway   postgresql://127.0.0.1:${port}/clinic   (PostgreSQL wire protocol; the password is an OIDC token)
  upstream  PGlite with a synthetic clinic: tables patients (name, ssn, dob, email, diagnosis) and visits;
            a local Snowflake (DuckDB) with the same clinic as CLINIC.PUBLIC
  identity  local dev issuer; users alice (clinicians), bob (contractors), carol (phi-approvers)
  mcp       ${gw.mcp?.url ?? '-'}   (MCP Streamable HTTP; the bearer token's audience is this URL)
  snowflake ${gw.snowflake?.url ?? '-'}   (Snowflake drivers' accessUrl; the token is an OAuth token; account CLINIC_DEMO)
  admin     http://127.0.0.1:${gw.adminAddress?.port ?? '-'}/metrics  /healthz  /readyz

Try it in another terminal:

  # 1. bob, a contractor, gets a short-lived token and connects with psql
  export PGPASSWORD=$(npx verdict token bob)
  psql "${conn} user=bob"

  -- 2. allowed, with PHI masked for a contractor
  SELECT name, ssn, dob, diagnosis FROM patients LIMIT 3;

  -- 3. denied: server file access
  SELECT pg_read_file('/etc/passwd');

  -- 4. needs approval: it waits, and psql shows the request id
  DELETE FROM visits;

  # 5. in a third terminal, carol looks at what waits and approves it (bob cannot approve his own request);
  #    psql's NOTICE shows the exact command
  npx verdict approvals list
  npx verdict approvals show <request-id>
  npx verdict approve <request-id> --as carol

  # alice, a clinician, sees names and diagnoses but not SSNs
  PGPASSWORD=$(npx verdict token alice) psql "${conn} user=alice" -c "SELECT name, ssn, diagnosis FROM patients LIMIT 3"

  # 6. an AI agent connects over MCP (Streamable HTTP) with its own token for the MCP endpoint
  #    ${gw.mcp?.url ?? '(MCP door off)'} — tools: query, list_tables, describe_table, explain, approval_status
  npx verdict token bob --mcp        # bob's token for the MCP endpoint (its audience)
  #    the agent's MCP server entry (mcp.json and the like), with that token:
  {"mcpServers": {"verdict": {"type": "http", "url": "${gw.mcp?.url ?? ''}",
    "headers": {"Authorization": "Bearer <the token>"}}}}

  # 7. the same clinic in Snowflake: an unmodified snowflake-sdk, pointed at Verdict, with the same token
  TOKEN=$(npx verdict token bob) node --input-type=module -e "
    import sf from 'snowflake-sdk'; sf.configure({ logLevel: 'ERROR' });
    const c = sf.createConnection({ account: 'CLINIC_DEMO', username: 'bob', authenticator: 'OAUTH', token: process.env.TOKEN,
      accessUrl: '${gw.snowflake?.url ?? ''}', database: 'CLINIC', schema: 'PUBLIC' });
    c.connect((e) => e ? console.error(e.message) : c.execute({ sqlText: 'SELECT NAME, SSN, DOB FROM PATIENTS LIMIT 3',
      complete: (e, s, rows) => { console.log(e ? e.message : rows); c.destroy(() => {}); } }));"
  # (as alice, a clinician: names and diagnoses unmasked; SSNs stay masked)

  # 8. an auditor clones the signed evidence and verifies it offline
  git clone -q ${join(DEMO_DIR, 'evidence', 'repo')} /tmp/verdict-evidence && npx verdict evidence verify /tmp/verdict-evidence

Press Ctrl+C to stop.
`;
}
