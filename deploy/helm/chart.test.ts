// The Helm chart, offline: `helm lint`, `helm template` for one and three replicas with assertions on the
// rendered objects, the helm-unittest suites under verdict/tests/, and the rendered verdict.yaml validated by
// the gateway's own config schema (so the chart cannot render a config the gateway refuses to start with).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureHelmPlugin, ensureTool } from '../../gateway/tools/install.mjs';
import { validateConfig } from '../../gateway/config/load.ts';
import { defaultInstanceId } from '../../gateway/evidence/writer.ts';

const chart = join(dirname(fileURLToPath(import.meta.url)), 'verdict');
const minimal = join(chart, 'tests', 'values', 'minimal.yaml');
const scaleOut = join(chart, 'tests', 'values', 'scale-out.yaml');
/** The Kubernetes version renders are checked against (the chart needs >= 1.27). */
const KUBE_VERSION = '1.30.0';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}

let home: string;
let helm: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  helm = ensureTool('helm');
  // helm keeps its cache, config and plugins under the user's home unless told otherwise: a throwaway home,
  // and the project's pinned plugins.
  home = mkdtempSync(join(tmpdir(), 'verdict-helm-'));
  env = {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    HELM_PLUGINS: ensureHelmPlugin('unittest'),
    NO_COLOR: '1',
  };
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

function run(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(helm, args, { env, encoding: 'utf8', maxBuffer: 16 << 20 });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** `helm template` with `--set` pairs and values files; the rendered objects, or the failure's output. */
function render(set: Record<string, string | number> = {}, files: string[] = [minimal]): K8sObject[] {
  const args = ['template', 'prod', chart, '--namespace', 'data', '--kube-version', KUBE_VERSION];
  for (const f of files) args.push('--values', f);
  for (const [k, v] of Object.entries(set)) args.push('--set', `${k}=${v}`);
  const r = spawnSync(helm, args, { env, encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`helm template failed:\n${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

const one = (objs: K8sObject[], kind: string, name?: string): K8sObject => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};

/** The rendered verdict.yaml, parsed as the gateway parses it. */
const configOf = (objs: K8sObject[]) => parseAllDocuments(one(objs, 'ConfigMap').data!['verdict.yaml']!)[0]!.toJS();

describe('the Helm chart', () => {
  it('passes helm lint with the least config and with the scale-out values', () => {
    for (const extra of [['--values', minimal], ['--values', minimal, '--values', scaleOut]]) {
      const r = run(['lint', chart, '--strict', '--kube-version', KUBE_VERSION, ...extra]);
      expect(r.out).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(r.status).toBe(0);
    }
  });

  it('helm lint fails on values its schema rejects (the check can fail)', () => {
    const r = run(['lint', chart, '--kube-version', KUBE_VERSION, '--values', minimal, '--set', 'replicaCount=0']);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/replicaCount/);
  });

  it('asks for an identity provider and a database rather than defaulting them', () => {
    expect(() => render({}, [])).toThrow(/identity/);
    const identityOnly = join(home, 'identity-only.yaml');
    writeFileSync(identityOnly, 'config:\n  identity: { issuer: https://idp.example.com/, audience: verdict, jwks_url: https://idp.example.com/jwks }\n');
    expect(() => render({}, [identityOnly])).toThrow(/config.upstreams \(or config.snowflake_upstreams\) must name at least one database/);
  });

  it('renders one replica: a StatefulSet whose pod wiring matches the config it mounts', () => {
    const objs = render();
    expect(objs.map((o) => o.kind).sort()).toEqual(
      ['ConfigMap', 'PodDisruptionBudget', 'Service', 'Service', 'Service', 'ServiceAccount', 'StatefulSet'].sort(),
    );
    expect(objs.some((o) => o.kind === 'Deployment')).toBe(false);
    const sts = one(objs, 'StatefulSet');
    expect(sts.spec.replicas).toBe(1);
    const cfg = validateConfig(configOf(objs), 'rendered verdict.yaml');
    const pod = sts.spec.template.spec;
    const c = pod.containers[0];
    const port = (name: string) => c.ports.find((p: { name: string }) => p.name === name)?.containerPort;
    expect(cfg.listen.postgres).toEqual({ host: '0.0.0.0', port: port('postgres') });
    expect(cfg.listen.admin).toEqual({ host: '0.0.0.0', port: port('admin') });
    expect(cfg.mcp).toBeNull();
    expect(cfg.snowflake).toBeNull();
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    // Every writable path the config names is on the data volume, the only writable mount besides /tmp.
    const writable = c.volumeMounts.filter((m: { readOnly?: boolean }) => !m.readOnly).map((m: { mountPath: string }) => m.mountPath);
    expect(writable.sort()).toEqual(['/tmp', '/var/lib/verdict']);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    for (const p of [cfg.evidence.spool_dir, cfg.approvals.state_dir, (cfg.evidence.publisher as { repo: string }).repo]) {
      expect(p.startsWith('/var/lib/verdict/')).toBe(true);
    }
    // Read-only inputs are where the pod mounts them.
    const mounted = (path: string) => c.volumeMounts.some((m: { mountPath: string }) => path === m.mountPath || path.startsWith(`${m.mountPath}/`));
    expect(mounted(cfg.policy.bundle)).toBe(true);
    expect(mounted((cfg.upstreams.analytics!.password as { file: string }).file)).toBe(true);
    // SIGKILL comes after preStop + the gateway's drain + evidence publishing (10 s).
    const preStop = Number(c.lifecycle.preStop.exec.command[1]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop + cfg.limits.shutdown_grace_ms / 1000 + 10);
  });

  it('renders three replicas: spread, a budget, a Service per door and one evidence chain per pod', () => {
    const objs = render({}, [minimal, scaleOut]);
    const sts = one(objs, 'StatefulSet');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.volumeClaimTemplates.map((t: K8sObject) => t.metadata.name)).toEqual(['data']);
    const pod = sts.spec.template.spec;
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(pod.topologySpreadConstraints.map((t: { topologyKey: string }) => t.topologyKey)).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    expect(one(objs, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);

    const cfg = validateConfig(configOf(objs), 'rendered verdict.yaml');
    expect(cfg.approvals.provider).toBe('github');
    expect(cfg.masking.hash_key).toEqual({ file: '/etc/verdict/secrets/masking-hash-key' });
    expect(cfg.evidence.publisher.kind).toBe('github');
    // No fixed instance: each replica's chain takes its host name, which in a StatefulSet is the pod name.
    expect(cfg.evidence.instance).toBeUndefined();
    const chains = [0, 1, 2].map((i) => defaultInstanceId(`${sts.metadata.name}-${i}`));
    expect(chains).toEqual(['prod-verdict-0', 'prod-verdict-1', 'prod-verdict-2']);

    const services = objs.filter((o) => o.kind === 'Service');
    const byName = Object.fromEntries(services.map((s) => [s.metadata.name, s]));
    expect(Object.keys(byName).sort()).toEqual(
      ['prod-verdict-admin', 'prod-verdict-headless', 'prod-verdict-mcp', 'prod-verdict-postgres', 'prod-verdict-snowflake'],
    );
    expect(byName['prod-verdict-snowflake']!.spec.sessionAffinity).toBe('ClientIP');
    expect(byName['prod-verdict-postgres']!.spec.sessionAffinity).toBeUndefined();
    // Every Service targets a named port the container has, and the container ports are the config's.
    const c = pod.containers[0];
    const ports = new Map<string, number>(c.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    for (const s of services) for (const p of s.spec.ports) expect(ports.has(p.targetPort), `${s.metadata.name} → ${p.targetPort}`).toBe(true);
    expect(cfg.mcp).toMatchObject({ host: '0.0.0.0', port: ports.get('mcp') });
    expect(cfg.snowflake).toMatchObject({ host: '0.0.0.0', port: ports.get('snowflake') });
    for (const s of services) expect(s.spec.selector).toEqual(sts.spec.selector.matchLabels);

    const ingress = one(objs, 'Ingress');
    expect(ingress.spec.rules[0].http.paths).toEqual([
      { path: '/github/webhook', pathType: 'Exact', backend: { service: { name: 'prod-verdict-admin', port: { name: 'admin' } } } },
    ]);
    expect(one(objs, 'ServiceMonitor').spec.endpoints[0]).toMatchObject({ port: 'admin', path: '/metrics' });
  });

  it('rolls the pods when the config changes, and only then', () => {
    const checksum = (set: Record<string, string | number>) =>
      one(render(set), 'StatefulSet').spec.template.metadata.annotations['checksum/config'] as string;
    const base = checksum({});
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum({})).toBe(base);
    expect(checksum({ replicaCount: 1, 'resources.requests.cpu': '1' })).toBe(base);
    expect(checksum({ 'config.log.level': 'debug' })).not.toBe(base);
  });

  it('refuses three replicas that would not share approvals', () => {
    expect(() => render({ replicaCount: 3 })).toThrow(/replicaCount 3 needs config.approvals.provider: github/);
  });

  it('passes its helm-unittest suites', () => {
    const r = run(['unittest', '--color=false', chart]);
    const suites = readdirSync(join(chart, 'tests')).filter((f) => f.endsWith('_test.yaml')).length;
    expect(suites).toBeGreaterThanOrEqual(6);
    expect(r.out).toMatch(new RegExp(`Test Suites:\\s+${suites} passed, ${suites} total`));
    expect(r.out).toMatch(/Tests:\s+\d+ passed, \d+ total/);
    expect(r.out).not.toMatch(/failed/i);
    expect(r.status).toBe(0);
  });
});
