#!/usr/bin/env node
// Bootstraps a fresh clone before `npm start` / `npm test`: npm dependencies, then the pinned
// `opa` and `actionlint` CLIs. Plain JavaScript with no dependencies, because it runs before they exist.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const pins = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).verdict.tools;

/** Pinned Go-installed tools: name → [go package, version, args that print the version]. */
const TOOLS = {
  opa: { pkg: 'github.com/open-policy-agent/opa', version: pins.opa, versionArgs: ['version'] },
  actionlint: {
    pkg: 'github.com/rhysd/actionlint/cmd/actionlint',
    version: pins.actionlint,
    versionArgs: ['-version'],
  },
};

export const toolsBin = join(root, '.tools', 'bin');

function log(message) {
  process.stderr.write(`verdict bootstrap: ${message}\n`);
}

function ensureDependencies() {
  const lock = join(root, 'package-lock.json');
  const stamp = join(root, 'node_modules', '.verdict-lock-sha256');
  const want = createHash('sha256').update(readFileSync(lock)).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
  log('installing npm dependencies exactly as locked (npm ci)');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail('`npm ci` failed; see the output above.');
  writeFileSync(stamp, want);
}

function versionOf(binary, tool) {
  try {
    const out = execFileSync(binary, tool.versionArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const m = /v?(\d+\.\d+\.\d+)/.exec(out);
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** Returns the path of the pinned tool, installing it into .tools/bin with `go install` if needed. */
export function ensureTool(name) {
  const tool = TOOLS[name];
  const local = join(toolsBin, name);
  if (existsSync(local) && versionOf(local, tool) === tool.version) return local;
  const found = onPath(name);
  if (found && versionOf(found, tool) === tool.version) return found;
  if (!onPath('go')) {
    fail(
      `${name} ${tool.version} is required (found ${found ? `version ${versionOf(found, tool)}` : 'none'} on PATH).\n` +
        `Install Go (https://go.dev/dl/) and re-run, or install it yourself:\n` +
        `  GOBIN=${toolsBin} go install ${tool.pkg}@v${tool.version}`,
    );
  }
  log(`installing ${name} ${tool.version} into .tools/bin (go install; takes a minute or two the first time)`);
  mkdirSync(toolsBin, { recursive: true });
  const r = spawnSync('go', ['install', `${tool.pkg}@v${tool.version}`], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, GOBIN: toolsBin, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
  });
  if (r.status !== 0 || versionOf(local, tool) !== tool.version) {
    fail(`installing ${name} failed. Install it by hand with:\n  GOBIN=${toolsBin} go install ${tool.pkg}@v${tool.version}`);
  }
  return local;
}

/**
 * Debian packages the integration tests drive: PostgreSQL's server binaries (private test clusters),
 * psql/pgbench, and the drivers of the client compatibility tests (psycopg2, JDBC with a JDK).
 */
function ensureDebianPackages() {
  const base = '/usr/lib/postgresql';
  const hasInitdb = () =>
    existsSync(base) && readdirSync(base).some((v) => existsSync(join(base, v, 'bin', 'initdb')));
  // Debian's own python3 (/usr/bin), which python3-psycopg2 installs into, not a python3 earlier on PATH.
  const needs = [
    ['postgresql', () => process.env.VERDICT_TEST_PG_URL || process.env.PG_TEST_URL || hasInitdb()],
    ['postgresql-client', () => onPath('psql') && onPath('pgbench')],
    ['python3-psycopg2', () => spawnSync('/usr/bin/python3', ['-c', 'import psycopg2'], { stdio: 'ignore' }).status === 0],
    ['libpostgresql-jdbc-java', () => existsSync('/usr/share/java/postgresql.jar')],
    ['default-jdk-headless', () => onPath('javac') && onPath('java')],
  ];
  const missing = needs.filter(([, ok]) => !ok()).map(([name]) => name);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    fail(
      `the integration tests need these Debian/Ubuntu packages: ${missing.join(' ')}\n` +
        `Install them (sudo apt-get install ${missing.join(' ')}), or set VERDICT_TEST_PG_URL for the server.`,
    );
  }
  log(`installing ${missing.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  const still = needs.filter(([, ok]) => !ok()).map(([name]) => name);
  if (r.status !== 0 || still.length) fail(`installing ${still.join(' ')} with apt-get failed; see the output above.`);
}

function fail(message) {
  process.stderr.write(`verdict bootstrap: ${message}\n`);
  process.exit(1);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = new Set(process.argv.slice(2));
  ensureDependencies();
  if (!args.has('--deps-only')) {
    ensureTool('opa');
    if (args.has('--all')) {
      ensureTool('actionlint');
      ensureDebianPackages();
    }
  }
}
