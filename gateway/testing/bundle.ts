// The policy bundle integration tests run against: the Rego of policies/ with the pinned test data of
// policy-tests/testdata (not the shipped data), so editing classification or access data — the policy
// author's everyday change — never breaks the gateway's suites, just as it never breaks the Rego tests.
import { join } from 'node:path';
import { fixturePolicySource } from '../policy/fixtures.ts';
import { policyBuild, type BuildOptions } from '../policy/toolchain.ts';

/**
 * Builds `<dir>/bundle.tar.gz` (or `out`) from policies/ with the pinned test data; returns its path.
 *
 * @example
 * const bundle = testBundle(dir, 'test-stack');
 */
export function testBundle(dir: string, revision: string, options: Omit<BuildOptions, 'revision' | 'source'> = {}): string {
  const source = fixturePolicySource(join(dir, `policy-src-${revision}`));
  return policyBuild({ out: join(dir, 'bundle.tar.gz'), ...options, revision, source }).path;
}
