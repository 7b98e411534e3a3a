#!/usr/bin/env node
// `npm test`: bootstrap, then every check in order — Rego (fmt, strict check, tests with coverage,
// fixtures), the WASM bundle build, the TypeScript type check, and vitest: the unit project, then integration.
// Ends with one plain "N passed, N failed, N skipped" line that counts every vitest test.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const extra = process.argv.slice(2);

function step(title, cmd, args) {
  process.stderr.write(`\n=== ${title}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return r.status ?? 1;
}

function must(title, cmd, args) {
  if (step(title, cmd, args) !== 0) {
    process.stderr.write(`\nnpm test: "${title}" failed\n`);
    process.exit(1);
  }
}

must('bootstrap (dependencies, opa, actionlint, PostgreSQL binaries)', process.execPath, ['gateway/cli/bootstrap.mjs', '--all']);
must('policy check (opa fmt, opa check --strict, opa test --coverage, fixtures)', bin('tsx'), ['gateway/cli/main.ts', 'policy', 'check']);
must('policy build (WASM bundle)', bin('tsx'), ['gateway/cli/main.ts', 'policy', 'build']);
must('typecheck (tsc --noEmit, strict)', bin('tsc'), ['-p', '.']);

// Two vitest projects (vitest.config.ts): the unit tests first, in seconds, so a broken build fails fast;
// then the integration tests. One line at the end counts both.
let passed = 0;
let failed = 0;
let skipped = 0;
let total = 0;
let status = 0;
for (const project of ['unit', 'integration']) {
  const report = join(root, '.build', `vitest-${project}.json`);
  mkdirSync(dirname(report), { recursive: true });
  rmSync(report, { force: true });
  const s = step(`vitest ${project} project (${project === 'unit' ? 'pure code, no network' : 'real servers and clients'})`, bin('vitest'), [
    'run',
    '--project',
    project,
    '--testTimeout=60000',
    '--hookTimeout=180000',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...extra,
  ]);
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    total += r.numTotalTests;
  }
  if (s !== 0) {
    status = s;
    if (project === 'unit') process.stderr.write('\nnpm test: the unit project failed; the integration project is not run\n');
    if (project === 'unit') break;
  }
}
process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
if (total === 0) {
  process.stderr.write('npm test: vitest ran no test\n');
  process.exit(1);
}
process.exit(status);
