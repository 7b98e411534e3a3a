// `verdict policy check` and `verdict policy build`: the pinned opa CLI over policies/ and policy-tests/.
// check = fmt + strict check + tests with a coverage floor; build = a WASM bundle stamped with the git revision.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { ToolchainError, ToolchainErrorCode } from './errors.ts';
import { fixtureInput, loadFixtureParsers, loadFixtures } from './fixtures.ts';
import {
  buildDir,
  capabilitiesPath,
  defaultBundlePath,
  ENTRYPOINT,
  policiesDir,
  policyTestsDir,
  projectRoot,
} from './paths.ts';
import { opaPath } from './tools.ts';

export const COVERAGE_THRESHOLD = 90;
const fixturesDataDir = join(buildDir, 'fixtures');

function run(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { cwd: projectRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new ToolchainError(ToolchainErrorCode.OpaFailed, `${what} failed (opa ${args.join(' ')})`);
}

/**
 * Writes the fixture inputs (built by the engine's SQL analysis) where `opa test` loads them: `<out>/data.json`,
 * data.verdict_fixtures.cases. policy-tests/fixtures_test.rego judges them against the pinned test data.
 * Defaults: policy-tests/decisions.yaml into .build/fixtures. Returns the number of cases.
 */
export async function writeFixtureData(options: { fixtures?: string; out?: string } = {}): Promise<number> {
  await loadFixtureParsers(options.fixtures);
  const cases = loadFixtures(options.fixtures).map((f) => ({ note: f.note, input: fixtureInput(f), want: f.want }));
  const out = options.out ?? fixturesDataDir;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'data.json'), JSON.stringify({ verdict_fixtures: { cases } }));
  return cases.length;
}

const rel = (p: string) => relative(projectRoot, p) || '.';

/** fmt --diff, check --strict (against the WASM capabilities), test with coverage ≥ COVERAGE_THRESHOLD. */
export async function policyCheck(log: (s: string) => void = console.log): Promise<{ coverage: number; tests: number }> {
  const opa = opaPath();
  const dirs = [rel(policiesDir), rel(policyTestsDir)];
  log('opa fmt --diff');
  run(opa, ['fmt', '--diff', '--fail', ...dirs], 'formatting check (run `opa fmt -w policies policy-tests`)');
  log('opa check --strict');
  // The policies must stay within what the WASM engine supports; tests may use anything (print, ...).
  run(opa, ['check', '--strict', '--capabilities', rel(capabilitiesPath), rel(policiesDir)], 'opa check --strict (WASM capabilities)');
  run(opa, ['check', '--strict', ...dirs], 'opa check --strict');
  const n = await writeFixtureData();
  log(`opa test (with ${n} decision fixtures)`);
  const testArgs = ['test', ...dirs, rel(fixturesDataDir), '--ignore', 'decisions.yaml'];
  run(opa, [...testArgs, '--format', 'pretty'], 'opa test');
  const out = execFileSync(opa, [...testArgs, '--coverage', '--format', 'json'], {
    cwd: projectRoot,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const report = JSON.parse(out) as { coverage: number; files: Record<string, { coverage?: number }> };
  const coverage = report.coverage;
  const lines = Object.entries(report.files)
    .filter(([f]) => f.startsWith('policies/'))
    .map(([f, r]) => `  ${f}: ${(r.coverage ?? 0).toFixed(1)}%`);
  log(`coverage ${coverage.toFixed(1)}% (threshold ${COVERAGE_THRESHOLD}%)\n${lines.join('\n')}`);
  if (!(coverage >= COVERAGE_THRESHOLD)) {
    throw new ToolchainError(ToolchainErrorCode.CoverageBelowThreshold, `policy test coverage ${coverage.toFixed(1)}% is below ${COVERAGE_THRESHOLD}%`);
  }
  const tests = (out.match(/"name":/g) ?? []).length;
  return { coverage, tests };
}

/** The revision a bundle is stamped with: the git commit, marked dirty when policies/ has local changes. */
export function policyRevision(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', rel(policiesDir)], {
      cwd: projectRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty ? `${sha}-dirty.${contentHash().slice(0, 12)}` : sha;
  } catch {
    return `unversioned.${contentHash().slice(0, 12)}`;
  }
}

/** sha256 over every file under policies/ (names and bytes): what a bundle is built from. */
export function contentHash(): string {
  const h = createHash('sha256');
  const entries = readdirSync(policiesDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
  for (const f of entries) h.update(rel(f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

/**
 * The monotonic sequence signed with a revision: the committer time (Unix seconds) of HEAD for a clean
 * tree, the current time for a dirty or unversioned one (a local build is newer than what it edits).
 */
export function policySequence(revision: string): number {
  if (!/-dirty\.|^unversioned\./.test(revision)) {
    try {
      const out = execFileSync('git', ['log', '-1', '--format=%ct', revision], { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      if (/^\d+$/.test(out)) return Number(out);
    } catch {
      // not a commit of this repository: fall through to the clock
    }
  }
  return Math.floor(Date.now() / 1000);
}

export interface BuildOptions {
  out?: string;
  revision?: string;
  /** The signed revision's sequence (default policySequence(revision)); only with signingKey. */
  sequence?: number;
  /** Sign the bundle as an explicit rollback (accepted by gateways although its sequence is lower). */
  rollback?: boolean;
  /** PEM private key; the bundle then carries an OPA `.signatures.json`. */
  signingKey?: string;
  signingAlg?: string;
  keyId?: string;
  /** Policy folder to compile; default policies/. */
  source?: string;
}

/** Compiles policies/ into a WASM bundle (.tar.gz) restricted to the built-ins the engine supports. */
export function policyBuild(options: BuildOptions = {}): { path: string; revision: string } {
  const plan = buildPlan(options);
  try {
    run(plan.opa, plan.args, 'opa build');
  } finally {
    plan.cleanup();
  }
  renameSync(plan.tmp, plan.out); // atomic: a running gateway never sees half a bundle
  return { path: plan.out, revision: plan.revision };
}

/**
 * `policyBuild` without blocking the event loop (a running gateway rebuilds while it serves); opa's output is
 * returned in the error's message when the build fails.
 */
export async function policyBuildAsync(options: BuildOptions = {}): Promise<{ path: string; revision: string }> {
  const plan = buildPlan(options);
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(plan.opa, plan.args, { cwd: projectRoot, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
        if (err) reject(new ToolchainError(ToolchainErrorCode.OpaFailed, `opa build failed:\n${`${stdout}${stderr}`.trim()}`));
        else resolve();
      });
    });
  } finally {
    plan.cleanup();
  }
  renameSync(plan.tmp, plan.out);
  return { path: plan.out, revision: plan.revision };
}

function buildPlan(options: BuildOptions) {
  const opa = opaPath();
  const out = options.out ?? defaultBundlePath;
  const revision = options.revision ?? policyRevision();
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const claimsPath = `${out}.claims-${process.pid}.json`;
  const args = ['build', '--bundle', '--target', 'wasm', '--entrypoint', ENTRYPOINT];
  args.push('--capabilities', rel(capabilitiesPath), '--revision', revision, '--output', tmp);
  if (options.signingKey) {
    args.push('--signing-key', options.signingKey, '--signing-alg', options.signingAlg ?? 'RS256');
    const claims = {
      ...(options.keyId ? { keyid: options.keyId } : {}),
      // A rollback is ordered by when it is signed (it must be newer than what runs), a build by its commit time.
      verdict: { revision, sequence: options.sequence ?? (options.rollback ? Math.floor(Date.now() / 1000) : policySequence(revision)), rollback: options.rollback === true },
    };
    writeFileSync(claimsPath, JSON.stringify(claims));
    args.push('--claims-file', claimsPath);
  }
  args.push(options.source ?? rel(policiesDir));
  return { opa, out, tmp, revision, args, cleanup: () => rmSync(claimsPath, { force: true }) };
}

