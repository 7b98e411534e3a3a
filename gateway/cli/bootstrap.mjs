#!/usr/bin/env node
// Bootstraps a fresh clone before `npm start` / `npm test`: npm dependencies, then the pinned
// `opa`, `actionlint` and `helm` CLIs and the helm-unittest plugin (gateway/tools/install.mjs), all built from
// the Go module proxy. Plain JavaScript with no dependencies, because it runs before they exist.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureHelmPlugin, ensureTool, onPath } from '../tools/install.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

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

/**
 * Debian packages the integration tests drive: PostgreSQL's server binaries (private test clusters),
 * psql/pgbench, the drivers of the client compatibility tests (psycopg2, JDBC with a JDK), HAProxy, and
 * Chromium (the evidence report's browser test).
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
    // the scale-out test's load balancer in front of three gateway replicas
    ['haproxy', () => onPath('haproxy') || existsSync('/usr/sbin/haproxy')],
    // the evidence report rendered in a real browser (headless, over the DevTools protocol)
    ['chromium', () => existsSync('/usr/bin/chromium') || existsSync('/usr/bin/chromium-browser')],
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
      ensureTool('helm');
      ensureHelmPlugin('unittest');
      ensureDebianPackages();
    }
  }
}
