// Decisions replayed and a policy change previewed, on evidence a real gateway wrote: allow, mask, deny,
// approve (held, approved, run), cached decisions, multi-statement strings, the extended protocol with
// parameters, a door refusal. `decide --replay all` must reproduce every replayable decision; `policy impact`
// must show exactly the flips of a real policy edit, deterministically, and post them on a pull request.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../engine/policy/bundle.ts';
import { decideLocally } from '../approvals/local.ts';
import { openApiChecker } from '../testing/github-sim/openapi-check.ts';
import { startGitHubSimulator } from '../testing/github-sim/simulator.ts';
import { simulatorPulls } from '../testing/github-sim/pulls.ts';
import { createGitHubClient } from '../github/client.ts';
import { fixturePolicySource } from './fixtures.ts';
import { impactMarkdown, policyImpact, IMPACT_MARKER } from './impact.ts';
import { postImpactComment } from './pr-comment.ts';
import { BundleLibrary, keptDecisions, replayDecisions, type KeptDecision } from './replay.ts';
import { policyBuild } from './toolchain.ts';
import { startStack } from '../testing/stack.ts';
import { projectRoot } from './paths.ts';

let dir: string;
let clone: string;
let baseBundle: string;
let headBundle: string;
let decisions: KeptDecision[];

const carol = { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-replay-'));
  const stack = await startStack();
  try {
    const alice = new pg.Client(await stack.client('alice'));
    const bob = new pg.Client(await stack.client('bob'));
    await alice.connect();
    await bob.connect();
    for (let i = 0; i < 3; i++) await alice.query('SELECT name, diagnosis FROM patients WHERE id = 1'); // allow, then cached
    await alice.query('SELECT ssn FROM patients LIMIT 2'); // mask (partial)
    for (let i = 0; i < 2; i++) await bob.query('SELECT name, ssn, email FROM patients ORDER BY id'); // mask, cached
    await bob.query({ text: 'SELECT name FROM patients WHERE id = $1', values: [2] }); // extended protocol
    await bob.query('SELECT 1 AS a; SELECT id FROM visits LIMIT 1'); // multi-statement
    await bob.query("SELECT pg_read_file('/etc/passwd')").catch(() => undefined); // deny
    await bob.query('SELECT * FROM no_such_table').catch(() => undefined); // refused by the door (no such relation) without a policy decision
    await bob.query('SELECT 1/0 AS x').catch(() => undefined); // decided, then an upstream error
    const notices: { detail?: string }[] = [];
    bob.on('notice', (n) => notices.push(n));
    const held = bob.query('DELETE FROM visits');
    for (let i = 0; i < 200 && notices.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    const id = /request (req-[0-9a-z]+)/.exec(notices[0]?.detail ?? '')![1]!;
    await decideLocally(join(stack.dir, 'approvals'), id, 'approved', carol);
    await held;
    await alice.end();
    await bob.end();
  } finally {
    await stack.gateway.close();
    await stack.issuer.close();
    await stack.pg.stop();
  }
  clone = join(dir, 'evidence');
  execFileSync('git', ['clone', '-q', join(stack.dir, 'evidence', 'repo'), clone]);
  baseBundle = join(stack.dir, 'bundle.tar.gz');
  cpSync(baseBundle, join(dir, 'base.tar.gz'));
  baseBundle = join(dir, 'base.tar.gz');
  rmSync(stack.dir, { recursive: true, force: true });
  // The policy edit under review: clinicians no longer see names raw.
  const edited = fixturePolicySource(join(dir, 'edited'));
  const access = join(edited, 'access', 'data.yaml');
  writeFileSync(access, readFileSync(access, 'utf8').replace(/(clinician:\n\s+phi_types: \[)name, /, '$1'));
  expect(readFileSync(access, 'utf8')).not.toBe(readFileSync(join(projectRoot, 'policy-tests', 'testdata', 'access', 'data.yaml'), 'utf8'));
  headBundle = policyBuild({ out: join(dir, 'head.tar.gz'), revision: 'head-rev', source: edited }).path;
  ({ decisions } = await keptDecisions(clone));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('decide --replay', () => {
  it('keeps an input for every policy decision and reproduces all of them (100 %)', async () => {
    expect(decisions.length).toBeGreaterThanOrEqual(12);
    const actions = new Set(decisions.map((d) => d.recorded.action));
    expect([...actions].sort()).toEqual(['allow', 'approve', 'deny', 'mask']);
    expect(decisions.some((d) => d.input?.approval !== null && d.input?.approval !== undefined)).toBe(true); // the approved run
    const library = await BundleLibrary.open([baseBundle]);
    try {
      const results = await replayDecisions(decisions, library);
      const differs = results.filter((r) => r.status === 'differs');
      expect(differs, JSON.stringify(differs, null, 2)).toEqual([]);
      // The one statement no policy decided: the door refused a relation that does not exist before deciding it.
      const unreplayable = results.filter((r) => r.status === 'unreplayable');
      expect(unreplayable.map((r) => [r.recorded.rules, r.why])).toEqual([[['postgres.uncataloged_relation'], 'refused by the door without a policy decision; no policy input exists']]);
      expect(results.filter((r) => r.status === 'same').length).toBe(decisions.length - 1);
    } finally {
      library.close();
    }
  });

  it('names a decision that comes out differently, and why', async () => {
    const library = await BundleLibrary.open([headBundle]); // another revision than recorded: used, and said so
    try {
      const aliceAllow = decisions.find((d) => d.text === 'SELECT name, diagnosis FROM patients WHERE id = 1')!;
      const [r] = await replayDecisions([aliceAllow], library);
      expect(r).toMatchObject({ status: 'differs', recorded: { action: 'allow' }, replayed: { action: 'mask' } });
      expect(r!.why).toMatch(/action allow → mask/);
      expect(r!.why).toMatch(/public\.patients\.name:redact/);
      expect(r!.why).toMatch(/evaluated under revision head-rev, not the recorded test-stack/);
    } finally {
      library.close();
    }
  });

  it('catches an input altered in the evidence (it no longer hashes to input_hash)', async () => {
    const forged = join(dir, 'forged');
    cpSync(clone, forged, { recursive: true });
    // An insider rewrites alice's kept identity in a policy_input line (same hash, other groups).
    const batches = execFileSync('git', ['-C', forged, 'ls-files', 'streams'], { encoding: 'utf8' }).split('\n').filter((f) => f.endsWith('.jsonl'));
    let done = false;
    for (const batch of batches) {
      const lines = readFileSync(join(forged, batch), 'utf8').split('\n');
      const i = lines.findIndex((l) => l.includes('"type":"policy_input"') && l.includes('"groups":["clinicians"]'));
      if (i < 0) continue;
      lines[i] = lines[i]!.replace('"groups":["clinicians"]', '"groups":["dba"]');
      writeFileSync(join(forged, batch), lines.join('\n'));
      done = true;
      break;
    }
    expect(done).toBe(true);
    const { decisions: tampered, report } = await keptDecisions(forged);
    expect(report.ok).toBe(false);
    expect(report.findings.map((f) => f.code)).toContain('POLICY_INPUT_HASH_MISMATCH');
    expect(tampered.filter((d) => d.input === null).length).toBeGreaterThan(0);
  });

  it('the CLI replays one decision and the whole repository', () => {
    const id = decisions.find((d) => d.recorded.action === 'mask')!.decision_id;
    const tsx = join(projectRoot, 'node_modules', '.bin', 'tsx');
    const one = spawnSync(tsx, ['gateway/cli/main.ts', 'decide', '--replay', id, '--repo', clone, '--bundle', baseBundle], { cwd: projectRoot, encoding: 'utf8' });
    expect(one.status, one.stderr).toBe(0);
    expect(one.stdout).toContain(`${id}: the same — recorded mask, replayed mask (revision test-stack)`);
    const all = spawnSync(tsx, ['gateway/cli/main.ts', 'decide', '--replay', 'all', '--repo', clone, '--bundle', baseBundle, '--json'], { cwd: projectRoot, encoding: 'utf8' });
    expect(all.status, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({ evidence_ok: true, decisions: decisions.length, same: decisions.length - 1, differs: 0, unreplayable: 1, reproduced_share: 1 });
  });
});

describe('policy impact', () => {
  it('reports exactly the flips of the edit, by kind, with fingerprints and samples, deterministically', async () => {
    const library = await BundleLibrary.open([]);
    try {
      const base = await loadBundle(baseBundle);
      const head = await loadBundle(headBundle);
      const report = await policyImpact(decisions, base, head, library);
      expect(report.evaluated).toBe(decisions.filter((d) => d.input !== null).length);
      expect(report.skipped.count).toBe(1); // the door's refusal: no policy input to re-evaluate
      // alice's name reads: allowed before, masked after (her SSN read is masked under both)
      const kinds = report.flips.map((f) => f.kind);
      expect(kinds).toEqual(['allow→mask']);
      const flip = report.flips[0]!;
      expect(flip.direction).toBe('tightens');
      expect(flip.count).toBe(3); // the first decision and its two cached repeats
      expect(flip.fingerprints).toHaveLength(1);
      expect(flip.fingerprints[0]!.example).toBe('SELECT name, diagnosis FROM patients WHERE id = 1');
      expect(flip.fingerprints[0]!.samples).toHaveLength(3);
      expect(report.unchanged).toBe(report.evaluated - 3);
      // the same inputs give the same bytes
      const again = await policyImpact(decisions, base, head, library);
      expect(JSON.stringify(again)).toBe(JSON.stringify(report));
      const md = impactMarkdown(report);
      expect(md.startsWith(IMPACT_MARKER)).toBe(true);
      expect(md).toContain('| allow→mask | 3 | 1 | tightens |');
      // reversed, the same change loosens
      const back = await policyImpact(decisions, head, base, library);
      expect(back.flips.map((f) => [f.kind, f.direction, f.count])).toEqual([['mask→allow', 'loosens', 3]]);
      expect(impactMarkdown(back)).toContain('⚠️ loosens');
    } finally {
      library.close();
    }
  });

  it('the CLI builds git revisions and prints markdown or JSON', () => {
    const tsx = join(projectRoot, 'node_modules', '.bin', 'tsx');
    const r = spawnSync(tsx, ['gateway/cli/main.ts', 'policy', 'impact', '--base', baseBundle, '--head', headBundle, '--evidence', clone, '--since', 'all', '--format', 'json'], { cwd: projectRoot, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ base: { revision: 'test-stack' }, head: { revision: 'head-rev' }, changed: 3, since: null });
    const bad = spawnSync(tsx, ['gateway/cli/main.ts', 'policy', 'impact', '--base', 'no-such-rev', '--head', headBundle, '--evidence', clone], { cwd: projectRoot, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/neither a bundle file nor a revision/);
  });

  it('posts the report on the pull request once and updates it on the next push (GitHub simulator)', async () => {
    const pulls = simulatorPulls();
    await using sim = await startGitHubSimulator({ tokens: [{ token: 'ci-token', login: 'policy-ci' }], plugins: [pulls.plugin] });
    const repo = sim.createRepo('acme', 'policies');
    repo.commitFiles('main', { 'policies/access/data.yaml': 'a' }, 'init');
    repo.commitFiles('edit', { 'policies/access/data.yaml': 'b' }, 'edit');
    const client = await createGitHubClient({ auth: { token: 'ci-token' }, baseUrl: sim.baseUrl, retries: 0 });
    const pr = await client.rest.pulls.create({ owner: 'acme', repo: 'policies', head: 'edit', base: 'main', title: 'clinicians: names masked' });
    const library = await BundleLibrary.open([]);
    try {
      const report = await policyImpact(decisions, await loadBundle(baseBundle), await loadBundle(headBundle), library);
      const first = await postImpactComment(client, { owner: 'acme', repo: 'policies', pull: pr.data.number, body: impactMarkdown(report) });
      const second = await postImpactComment(client, { owner: 'acme', repo: 'policies', pull: pr.data.number, body: impactMarkdown(report).replace('would change', 'would still change') });
      expect([first.updated, second.updated]).toEqual([false, true]);
      const comments = pulls.pull('acme/policies', pr.data.number).comments;
      expect(comments).toHaveLength(1);
      expect(comments[0]!.body).toContain('would still change');
      expect(comments[0]!.body).toContain('allow→mask');
      // The workflow's own step: the CLI with --comment, its token from $GITHUB_TOKEN, updates the same comment.
      const tsx = join(projectRoot, 'node_modules', '.bin', 'tsx');
      // Asynchronously: the simulator answering the CLI runs in this process.
      const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const child = spawn(tsx, ['gateway/cli/main.ts', 'policy', 'impact', '--base', baseBundle, '--head', headBundle, '--evidence', clone, '--since', 'all', '--comment', `acme/policies#${pr.data.number}`, '--github-url', sim.baseUrl], {
          cwd: projectRoot,
          env: { ...process.env, GITHUB_TOKEN: 'ci-token' },
        });
        let stderr = '';
        child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        child.stdout.resume();
        child.on('close', (status) => resolve({ status, stderr }));
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/impact updated on acme\/policies#1/);
      expect(comments).toHaveLength(1);
      expect(comments[0]!.body).not.toContain('would still change'); // replaced by the CLI's report
      expect(comments[0]!.body).toContain('**3** would change');
      expect(openApiChecker().assertAll(sim.requests)).toBeGreaterThan(3);
    } finally {
      library.close();
    }
  });
});
