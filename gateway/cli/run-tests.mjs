#!/usr/bin/env node
// `npm test`: bootstrap, then every check in order — Rego (fmt, strict check, tests with coverage,
// fixtures), the WASM bundle build, the TypeScript type check, and vitest (unit + integration).
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

const report = join(root, '.build', 'vitest-report.json');
mkdirSync(dirname(report), { recursive: true });
rmSync(report, { force: true });
const status = step('vitest (unit and integration tests)', bin('vitest'), [
  'run',
  '--testTimeout=60000',
  '--hookTimeout=180000',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
  ...extra,
]);

if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  process.stdout.write(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped\n`);
  if (r.numTotalTests === 0) {
    process.stderr.write('npm test: vitest ran no test\n');
    process.exit(1);
  }
}
process.exit(status);
