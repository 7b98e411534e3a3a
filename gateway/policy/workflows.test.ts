// The GitHub workflows cannot run here, so they are validated with the pinned actionlint, and
// checked to run the same commands and OPA version as the project.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { projectRoot, toolPins } from './paths.ts';
import { actionlintPath } from './tools.ts';

const workflows = join(projectRoot, '.github', 'workflows');
const load = (name: string) => parse(readFileSync(join(workflows, name), 'utf8'));

describe('GitHub workflows', () => {
  it('pass actionlint', () => {
    const r = spawnSync(actionlintPath(), ['-no-color', join(workflows, 'ci.yml'), join(workflows, 'policy.yml')], {
      cwd: projectRoot,
      encoding: 'utf8',
    });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('actionlint rejects a broken workflow (the check can fail)', () => {
    const r = spawnSync(actionlintPath(), ['-no-color', '-'], {
      input: 'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n',
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/nope/);
  });

  it('ci.yml runs npm test against a PostgreSQL service', () => {
    const ci = load('ci.yml');
    const steps = ci.jobs.test.steps as { run?: string }[];
    expect(steps.some((s) => s.run === 'npm test')).toBe(true);
    expect(ci.jobs.test.services.postgres.image).toMatch(/^postgres:/);
  });

  it('policy.yml checks and builds with the pinned OPA on policy changes', () => {
    const wf = load('policy.yml');
    expect(wf.on.pull_request.paths).toEqual(['policies/**', 'policy-tests/**']);
    const steps = wf.jobs.policy.steps as { uses?: string; run?: string; with?: { version?: string } }[];
    for (const job of ['policy', 'impact', 'release']) {
      const setup = (wf.jobs[job].steps as typeof steps).find((s) => s.uses?.startsWith('open-policy-agent/setup-opa'));
      expect(String(setup?.with?.version), job).toBe(toolPins().opa);
    }
    expect(steps.map((s) => s.run).filter(Boolean)).toEqual(['npm run policy:check', 'npm run policy:build']);
  });

  it('policy.yml posts the impact of a pull request with the CLI, and signs and publishes the bundle on main', () => {
    const wf = load('policy.yml');
    expect(wf.jobs.impact.if).toBe("github.event_name == 'pull_request'");
    expect(wf.jobs.impact.permissions['pull-requests']).toBe('write');
    const impact = (wf.jobs.impact.steps as { run?: string }[]).map((s) => s.run ?? '').join('\n');
    expect(impact).toMatch(/npx verdict policy impact --base "\$BASE_SHA" --head "\$HEAD_SHA"/);
    expect(impact).toMatch(/--comment "\$PR"/);
    expect(wf.jobs.release.if).toBe("github.event_name == 'push'");
    const release = (wf.jobs.release.steps as { run?: string }[]).map((s) => s.run ?? '').join('\n');
    expect(release).toMatch(/npm run policy:build -- --signing-key "\$RUNNER_TEMP\/policy-signing.pem" --key-id ci/);
    expect(release).toMatch(/gh release create "\$tag" \.build\/bundle\.tar\.gz/);
    expect(release).not.toMatch(/echo "\$SIGNING_KEY"/); // the key never reaches the log
  });
});
