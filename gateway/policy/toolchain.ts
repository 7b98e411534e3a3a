// `verdict policy check` and `verdict policy build`: the pinned opa CLI over policies/ and policy-tests/.
// check = fmt + strict check + tests with a coverage floor; build = a WASM bundle stamped with the git revision.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
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

export class ToolchainError extends Error {
  override name = 'ToolchainError';
}

function run(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { cwd: projectRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new ToolchainError(`${what} failed (opa ${args.join(' ')})`);
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
    throw new ToolchainError(`policy test coverage ${coverage.toFixed(1)}% is below ${COVERAGE_THRESHOLD}%`);
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

function contentHash(): string {
  const h = createHash('sha256');
  const entries = readdirSync(policiesDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
  for (const f of entries) h.update(rel(f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

export interface BuildOptions {
  out?: string;
  revision?: string;
  /** PEM private key; the bundle then carries an OPA `.signatures.json`. */
  signingKey?: string;
  signingAlg?: string;
  keyId?: string;
  /** Policy folder to compile; default policies/. */
  source?: string;
}

/** Compiles policies/ into a WASM bundle (.tar.gz) restricted to the built-ins the engine supports. */
export function policyBuild(options: BuildOptions = {}): { path: string; revision: string } {
  const opa = opaPath();
  const out = options.out ?? defaultBundlePath;
  const revision = options.revision ?? policyRevision();
  mkdirSync(buildDir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const args = ['build', '--bundle', '--target', 'wasm', '--entrypoint', ENTRYPOINT];
  args.push('--capabilities', rel(capabilitiesPath), '--revision', revision, '--output', tmp);
  if (options.signingKey) {
    args.push('--signing-key', options.signingKey, '--signing-alg', options.signingAlg ?? 'RS256');
    if (options.keyId) args.push('--claims-file', writeClaims(options.keyId));
  }
  args.push(options.source ?? rel(policiesDir));
  run(opa, args, 'opa build');
  renameSync(tmp, out); // atomic: a running gateway never sees half a bundle
  return { path: out, revision };
}

function writeClaims(keyId: string): string {
  const path = join(buildDir, 'claims.json');
  writeFileSync(path, JSON.stringify({ keyid: keyId }));
  return path;
}
