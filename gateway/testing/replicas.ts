// Several gateway replicas as separate processes behind HAProxy on loopback, sharing one PostgreSQL, one
// GitHub (the simulator: approvals by pull request, signed webhooks), one policy source and one evidence
// repository — what a Kubernetes deployment of the chart looks like, minus Kubernetes.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { PullsSimulator } from './github-sim/pulls.ts';
import type { WebhookSender } from './github-sim/webhooks.ts';
import { startApprovalsGitHub, WEBHOOK_SECRET } from './github-stack.ts';
import type { GitHubSimulator } from './github-sim/simulator.ts';
import { startDevIssuer, type DevIssuer } from '../identity/dev-issuer.ts';
import { projectRoot } from '../policy/paths.ts';
import { testBundle } from './bundle.ts';
import { startTestPostgres, type TestPostgres } from './postgres.ts';
import { CLINIC_SQL } from './stack.ts';


export interface Replica {
  name: string;
  /** The replica's own PostgreSQL door and admin listener (bypassing HAProxy). */
  pgPort: number;
  adminUrl: string;
  mcpPort: number;
  process: ChildProcess | null;
  /** Output of the process (stderr + stdout), for failure messages. */
  output: string[];
}

export interface ReplicaSet {
  dir: string;
  pg: TestPostgres;
  issuer: DevIssuer;
  sim: GitHubSimulator;
  pulls: PullsSimulator;
  webhooks: WebhookSender;
  replicas: Replica[];
  /** HAProxy's PostgreSQL frontend (TCP, round robin) and MCP frontend (HTTP, round robin per request). */
  balancer: { pgPort: number; mcpUrl: string };
  /** Builds a signed bundle (pinned test data) with this revision and sequence and installs it as the shared policy source. */
  publishBundle(revision: string, sequence: number): void;
  /** Waits until HAProxy's health checks see every running replica up in both backends. */
  balanced(): Promise<void>;
  start(r: Replica): Promise<void>;
  kill(r: Replica, signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function until(what: string, probe: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An HAProxy frontend on `port` balancing round robin over `servers` ([name, port]), health-checked every 300 ms. */
function roundRobin(frontend: string, mode: 'tcp' | 'http', port: number, backend: string, servers: [string, number][]): string[] {
  return [
    `frontend ${frontend}`,
    `  mode ${mode}`,
    `  bind 127.0.0.1:${port}`,
    `  default_backend ${backend}`,
    `backend ${backend}`,
    `  mode ${mode}`,
    '  balance roundrobin',
    ...servers.map(([name, p]) => `  server ${name} 127.0.0.1:${p} check inter 300 fall 2 rise 2`),
  ];
}

/**
 * Starts HAProxy in front of the replicas' ports: TCP round robin for the PostgreSQL doors, HTTP round robin
 * per request for the MCP doors, and a stats page. Ready once its own stats page (listing these backends)
 * answers; started again on fresh ports when it exits before that (a port taken meanwhile).
 */
async function startHAProxy(dir: string, replicas: { name: string; pgPort: number; mcpPort: number }[]) {
  let lastOutput = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const balancer = { pgPort: await freePort(), mcpPort: await freePort(), statsPort: await freePort() };
    const cfg = [
      'global',
      '  maxconn 500',
      'defaults',
      '  timeout connect 2s',
      '  timeout client 120s',
      '  timeout server 120s',
      '  retries 3',
      '  option redispatch',
      'frontend stats',
      '  mode http',
      `  bind 127.0.0.1:${balancer.statsPort}`,
      '  stats enable',
      '  stats uri /stats',
      ...roundRobin('pg', 'tcp', balancer.pgPort, 'gateways', replicas.map((r) => [r.name, r.pgPort])),
      ...roundRobin('mcp', 'http', balancer.mcpPort, 'mcp_doors', replicas.map((r) => [r.name, r.mcpPort])),
    ].join('\n');
    writeFileSync(join(dir, 'haproxy.cfg'), `${cfg}\n`);
    const haproxyOut: string[] = [];
    const haproxy = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout!.on('data', (b: Buffer) => haproxyOut.push(b.toString()));
    haproxy.stderr!.on('data', (b: Buffer) => haproxyOut.push(b.toString()));
    let spawnError: NodeJS.ErrnoException | null = null;
    haproxy.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
      haproxyOut.push(err.message);
    });
    const exited = () => haproxy.exitCode !== null || haproxy.signalCode !== null;
    try {
      await until('haproxy listening', async () => {
        if (exited()) return true;
        const csv = await (await fetch(`http://127.0.0.1:${balancer.statsPort}/stats;csv`)).text();
        return csv.includes('mcp_doors') && csv.includes('gateways');
      }, 15_000);
    } catch (err) {
      haproxy.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${haproxyOut.join('')}`);
    }
    if (!exited()) return { balancer, haproxy, haproxyOut };
    // Not installed: no fresh port helps.
    if ((spawnError as NodeJS.ErrnoException | null)?.code === 'ENOENT') throw new Error('haproxy is not installed: `npm run bootstrap` installs it (Debian: apt-get install haproxy)');
    lastOutput = haproxyOut.join('');
  }
  throw new Error(`haproxy could not start: ${lastOutput}`);
}

/**
 * Starts `count` replicas (gw-a, gw-b, …) and HAProxy in front of them.
 *
 * @example
 * const set = await startReplicaSet(3); // psql -h 127.0.0.1 -p set.balancer.pgPort …
 */
export async function startReplicaSet(count = 3): Promise<ReplicaSet> {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-replicas-'));
  const pg = await startTestPostgres({ auth: 'scram-sha-256', password: 'gateway-secret-pw' });
  await pg.exec(CLINIC_SQL);
  const issuer = await startDevIssuer({ audience: 'verdict' });
  const { sim, pulls, webhooks, approvalsConfig } = await startApprovalsGitHub();

  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'policy-signing.pem'), keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'policy-signing.pub.pem'), keys.publicKey.export({ type: 'spki', format: 'pem' }));
  const livePolicy = join(dir, 'policy', 'bundle.tar.gz');
  mkdirSync(join(dir, 'policy'), { recursive: true });
  const publishBundle = (revision: string, sequence: number) => {
    const built = testBundle(join(dir, 'builds', revision), revision, { signingKey: join(dir, 'policy-signing.pem'), keyId: 'ci', sequence });
    cpSync(built, `${livePolicy}.next`);
    renameSync(`${livePolicy}.next`, livePolicy);
  };
  publishBundle('rev-100', 100);

  // Every port is chosen first and HAProxy binds its own at once: a port picked by listening on 0 and
  // closing again can be taken by any other process (a client's ephemeral port, another test's server)
  // until someone binds it, and a replica takes seconds to start. HAProxy that cannot bind exits; it is
  // then started again on fresh ports (its ports go into the replicas' configs, written after).
  const replicaPorts: { name: string; pgPort: number; adminPort: number; mcpPort: number }[] = [];
  for (let i = 0; i < count; i++) {
    replicaPorts.push({ name: `gw-${String.fromCharCode(97 + i)}`, pgPort: await freePort(), adminPort: await freePort(), mcpPort: await freePort() });
  }
  const { balancer, haproxy, haproxyOut } = await startHAProxy(dir, replicaPorts);
  const mcpUrl = `http://127.0.0.1:${balancer.mcpPort}/mcp`;
  const replicas: Replica[] = [];
  for (const { name, pgPort, adminPort, mcpPort } of replicaPorts) {
    const config = {
      listen: { postgres: { host: '127.0.0.1', port: pgPort }, admin: { host: '127.0.0.1', port: adminPort } },
      identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
      upstreams: { clinic: { host: '127.0.0.1', port: pg.port, database: pg.database, user: pg.user, password: { value: 'gateway-secret-pw' }, tls: { mode: 'disable' } } },
      policy: { source: { file: livePolicy, poll_seconds: 1 }, verification_keys: { ci: join(dir, 'policy-signing.pub.pem') }, state_file: join(dir, name, 'policy-state.json') },
      approvals: approvalsConfig({ tokenEnv: 'VERDICT_REPLICAS_GH_TOKEN', pollSeconds: 1, holdTimeoutSeconds: 60 }),
      masking: { hash_key: { value: 'replicas-hash-key' } },
      evidence: {
        instance: name,
        spool_dir: join(dir, 'evidence', 'spool'),
        publisher: { kind: 'local-git', repo: join(dir, 'evidence', 'repo'), branch: 'main' },
        batch: { max_lines: 1000, max_age_ms: 200 },
      },
      mcp: { host: '127.0.0.1', port: mcpPort, resource: mcpUrl, upstream: 'clinic' },
      limits: { shutdown_grace_ms: 2000 },
      log: { level: 'warn' },
    };
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, 'verdict.yaml'), stringify(config));
    replicas.push({ name, pgPort, adminUrl: `http://127.0.0.1:${adminPort}`, mcpPort, process: null, output: [] });
  }

  const start = async (r: Replica): Promise<void> => {
    r.output.length = 0;
    // One process per replica (node with tsx's loader, not the tsx wrapper, whose child a SIGKILL would miss).
    const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/cli/main.ts', 'gateway', '--config', join(dir, r.name, 'verdict.yaml')], {
      cwd: projectRoot,
      env: { ...process.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (b: Buffer) => r.output.push(b.toString()));
    child.stderr!.on('data', (b: Buffer) => r.output.push(b.toString()));
    r.process = child;
    await until(`${r.name} ready`, async () => {
      if (child.exitCode !== null) throw new Error(`${r.name} exited: ${r.output.join('')}`);
      return (await fetch(`${r.adminUrl}/readyz`)).status === 200;
    }, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${r.output.join('')}`);
    });
  };
  await Promise.all(replicas.map(start));
  for (const r of replicas) webhooks.addHook({ url: `${r.adminUrl}/github/webhook`, secret: WEBHOOK_SECRET });

  const kill = async (r: Replica, signal: NodeJS.Signals = 'SIGKILL') => {
    const child = r.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    r.process = null;
  };

  return {
    dir,
    pg,
    issuer,
    sim,
    pulls,
    webhooks,
    replicas,
    balancer: { pgPort: balancer.pgPort, mcpUrl },
    publishBundle,
    async balanced() {
      const running = replicas.filter((r) => r.process).map((r) => r.name);
      let csv = '';
      await until('HAProxy to see every running replica up', async () => {
        if (haproxy.exitCode !== null || haproxy.signalCode !== null) throw new Error('haproxy exited');
        csv = await (await fetch(`http://127.0.0.1:${balancer.statsPort}/stats;csv`)).text();
        const up = csv.split('\n').map((l) => l.split(',')).filter((c) => (c[0] === 'gateways' || c[0] === 'mcp_doors') && running.includes(c[1] ?? '') && c[17] === 'UP');
        return up.length === running.length * 2;
      }, 20_000).catch((err: Error) => {
        const states = csv.split('\n').map((l) => l.split(',')).filter((c) => c[0] === 'gateways' || c[0] === 'mcp_doors').map((c) => `${c[0]}/${c[1]} ${c[17]}`);
        const exits = replicas.map((r) => `${r.name}: ${r.process ? `exit ${r.process.exitCode ?? r.process.signalCode ?? 'running'}` : 'stopped'}`);
        throw new Error([err.message, `haproxy: ${haproxy.exitCode ?? haproxy.signalCode ?? 'running'} ${haproxyOut.join('')}`, ...states, ...exits, ...replicas.map((r) => `${r.name} output: ${r.output.join('').slice(-2000)}`)].join('\n'));
      });
    },
    start,
    kill,
    async stop() {
      await Promise.all(replicas.map((r) => kill(r, 'SIGTERM')));
      haproxy.kill('SIGTERM');
      await webhooks.settled();
      await sim.close();
      await issuer.close();
      await pg.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
