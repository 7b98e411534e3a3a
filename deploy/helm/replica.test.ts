// One replica run the way the chart runs it: the verdict.yaml `helm template` renders, with the pod's mounts
// laid out under a temporary root (the only change: absolute paths moved there, listeners on loopback), started
// with the image's command from the files the image holds (the Dockerfile's COPYs through its .dockerignore),
// serving clients through the mounted policy bundle and secret file, ready on /readyz, writing its evidence
// chain under its host name (the pod name), and stopping on SIGTERM within the grace the chart gives it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTool } from '../../gateway/tools/install.mjs';
import { defaultInstanceId } from '../../gateway/evidence/writer.ts';
import { startDevIssuer, type DevIssuer } from '../../gateway/identity/dev-issuer.ts';
import { policyBuild } from '../../gateway/policy/toolchain.ts';
import { CLINIC_SQL } from '../../gateway/testing/stack.ts';
import { copyImageFiles } from '../docker/context.ts';
import { startTestPostgres, type TestPostgres } from '../../gateway/testing/postgres.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const chart = join(here, 'verdict');
const POD = 'prod-verdict-1';

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

/** A port nothing listens on right now (the chart needs concrete ports; the gateway binds them right after). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

interface K8sObject {
  kind: string;
  metadata: { name: string };
  spec?: any;
  data?: Record<string, string>;
}

function helmTemplate(valuesFile: string, set: Record<string, number>): K8sObject[] {
  const home = mkdtempSync(join(tmpdir(), 'verdict-helm-'));
  cleanup.push(() => rmSync(home, { recursive: true, force: true }));
  const args = ['template', 'prod', chart, '--kube-version', '1.30.0', '--values', valuesFile];
  for (const [k, v] of Object.entries(set)) args.push('--set', `${k}=${v}`);
  const r = spawnSync(ensureTool('helm'), args, {
    encoding: 'utf8',
    env: { ...process.env, HELM_CACHE_HOME: join(home, 'c'), HELM_CONFIG_HOME: join(home, 'cf'), HELM_DATA_HOME: join(home, 'd') },
  });
  if (r.status !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).filter(Boolean);
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

async function until<T>(what: () => string, probe: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a replica run as the chart runs it', () => {
  it('serves through its mounts, is ready on /readyz, names its chain after the pod and stops within its grace', { timeout: 180_000 }, async () => {
    const db: TestPostgres = await startTestPostgres({ auth: 'scram-sha-256', password: 'chart-secret-pw' });
    cleanup.push(() => db.stop());
    await db.exec(CLINIC_SQL);
    const issuer: DevIssuer = await startDevIssuer({ audience: 'verdict' });
    cleanup.push(() => issuer.close());

    const root = mkdtempSync(join(tmpdir(), 'verdict-pod-'));
    cleanup.push(() => rmSync(root, { recursive: true, force: true }));
    const values = join(root, 'values.yaml');
    writeFileSync(
      values,
      stringify({
        config: {
          identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
          upstreams: {
            clinic: {
              host: '127.0.0.1',
              port: db.port,
              database: db.database,
              user: db.user,
              password: { file: '/etc/verdict/secrets/clinic-password' },
              tls: { mode: 'disable' },
            },
          },
          limits: { shutdown_grace_ms: 3000 },
          masking: { hash_key: { file: '/etc/verdict/secrets/masking-hash-key' } },
          evidence: { batch: { max_lines: 1000, max_age_ms: 200 } },
          log: { level: 'warn' },
        },
        secrets: { existingSecret: 'verdict-secrets' },
      }),
    );
    const ports = { postgres: await freePort(), admin: await freePort() };
    const objs = helmTemplate(values, { 'ports.postgres': ports.postgres, 'ports.admin': ports.admin });
    const sts = objs.find((o) => o.kind === 'StatefulSet')!;
    const pod = sts.spec.template.spec;
    const container = pod.containers[0];
    const configText = objs.find((o) => o.kind === 'ConfigMap')!.data!['verdict.yaml']!;

    // The pod's filesystem under `root`: the ConfigMap, the policy ConfigMap, the Secret, the data volume.
    const mounts = Object.fromEntries(container.volumeMounts.map((m: { name: string; mountPath: string }) => [m.name, m.mountPath]));
    expect(mounts).toMatchObject({ policy: '/etc/verdict/policy', secrets: '/etc/verdict/secrets', data: '/var/lib/verdict' });
    const at = (p: string) => join(root, p);
    mkdirSync(at('etc/verdict/policy'), { recursive: true });
    mkdirSync(at('etc/verdict/secrets'), { recursive: true });
    mkdirSync(at('var/lib/verdict'), { recursive: true });
    policyBuild({ out: at('etc/verdict/policy/bundle.tar.gz'), revision: 'chart-replica' });
    writeFileSync(at('etc/verdict/secrets/clinic-password'), 'chart-secret-pw\n');
    writeFileSync(at('etc/verdict/secrets/masking-hash-key'), 'chart-hash-key\n');
    writeFileSync(
      at('etc/verdict/verdict.yaml'),
      configText.replaceAll('/etc/verdict/', `${at('etc/verdict')}/`).replaceAll('/var/lib/verdict/', `${at('var/lib/verdict')}/`).replaceAll('host: 0.0.0.0', 'host: 127.0.0.1'),
    );
    // The image's /app: its copied sources, and the dependencies (here the project's own node_modules).
    copyImageFiles(at('app'));
    symlinkSync(join(repo, 'node_modules'), at('app/node_modules'), 'dir');
    expect(existsSync(at('app/gateway/server.ts'))).toBe(true);
    expect(existsSync(at('app/gateway/config/load.test.ts'))).toBe(false);
    expect(container.args).toEqual(['gateway', '--config', '/etc/verdict/verdict.yaml']);
    const args = [at('app/gateway/cli/verdict.mjs'), ...container.args.slice(0, -1), at('etc/verdict/verdict.yaml')];

    // The pod's host name is its name. As root, a UTS namespace gives the process exactly that; otherwise the
    // chain is named after this machine's host name, by the same rule.
    const asPod = process.getuid?.() === 0 && spawnSync('unshare', ['--uts', 'true']).status === 0;
    const child: ChildProcess = asPod
      ? spawn('unshare', ['--uts', 'sh', '-c', `hostname ${POD} && exec "$0" "$@"`, process.execPath, ...args], { cwd: at('app'), stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, args, { cwd: at('app'), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (b) => (output += b));
    child.stderr!.on('data', (b) => (output += b));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    cleanup.push(() => void child.kill('SIGKILL'));

    const admin = `http://127.0.0.1:${ports.admin}`;
    const probe = (name: 'readinessProbe' | 'livenessProbe') => `${admin}${container[name].httpGet.path}`;
    let exitCode: number | null | undefined;
    void exited.then((c) => (exitCode = c));
    await until(
      () => `/readyz; the gateway ${exitCode === undefined ? 'runs' : `exited with ${exitCode}`}, its output:\n${output}`,
      async () => {
        if (exitCode !== undefined) return false; // stop waiting: the gateway is gone
        return (await get(probe('readinessProbe'))).status === 200 ? true : undefined;
      },
    );
    expect(exitCode, output).toBeUndefined();
    expect(await get(probe('livenessProbe'))).toEqual({ status: 200, body: 'ok\n' });
    expect((await get(`${admin}/metrics`)).body).toMatch(/^# HELP /m);

    // Through the PostgreSQL door with a token, under the mounted policy: alice's rows, masked against the
    // same rows read directly.
    const direct = new pg.Client({ connectionString: db.url });
    await direct.connect();
    const truth = (await direct.query('SELECT id, ssn FROM patients ORDER BY id')).rows;
    await direct.end();
    const alice = new pg.Client({ host: '127.0.0.1', port: ports.postgres, user: 'alice', database: 'clinic', password: await issuer.mint('alice') });
    await alice.connect();
    const seen = (await alice.query('SELECT id, ssn FROM patients ORDER BY id')).rows;
    await alice.end();
    expect(seen.map((r) => r.id)).toEqual(truth.map((r) => r.id));
    expect(truth.length).toBeGreaterThan(0);
    for (let i = 0; i < truth.length; i++) expect(seen[i].ssn).not.toBe(truth[i].ssn);

    // One chain, named after the pod, on the data volume.
    const spool = at('var/lib/verdict/evidence/spool');
    expect(readdirSync(spool)).toEqual([asPod ? POD : defaultInstanceId(hostname())]);

    // SIGTERM (after preStop): the gateway drains and exits well within terminationGracePeriodSeconds.
    const preStop = Number(container.lifecycle.preStop.exec.command[1]);
    const budgetMs = (pod.terminationGracePeriodSeconds - preStop) * 1000;
    const t0 = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(budgetMs);
    expect(existsSync(at('var/lib/verdict/evidence/repo'))).toBe(true);
  });
});
