// Two vitest projects, one command: `unit` (pure code, no network, no servers or child processes — seconds)
// runs first so `npm test` fails fast; `integration` (real PostgreSQL, the gateway, real clients, simulators,
// opa/helm) runs after it. A test file is integration when it starts or reaches anything outside the process
// (the markers below); the unit project's setup refuses network connections, listening servers and child
// processes (gateway/testing/no-network.ts), so a misfiled test fails loudly.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { defineConfig } from 'vitest/config';

const ROOTS = ['engine', 'gateway', 'policy-tests', 'deploy'];
const OUTSIDE = /\/testing\/|startTestPostgres|startStack|startGateway|startGitHubSimulator|startSnowflakeEmulator|startDevIssuer|startDemo|child_process|createServer|policyBuild|testBundle|fetch\(|toolchain|opaPath|actionlintPath|loadFixtureParsers|loadBundle|from 'pg'/;

const root = import.meta.dirname;
const files = ROOTS.flatMap((dir) =>
  readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts') && !e.parentPath.includes('node_modules'))
    .map((e) => relative(root, join(e.parentPath, e.name)).split('\\').join('/')),
).sort();
const unit = files.filter((f) => !OUTSIDE.test(readFileSync(f, 'utf8')));
const integration = files.filter((f) => !unit.includes(f));

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: unit, setupFiles: ['gateway/testing/no-network.ts'] } },
      { test: { name: 'integration', include: integration } },
    ],
  },
});
