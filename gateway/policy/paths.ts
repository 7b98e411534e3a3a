// Where the policy toolchain finds the project, its pinned tool versions and its build output.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const policiesDir = join(projectRoot, 'policies');
export const policyTestsDir = join(projectRoot, 'policy-tests');
/** Build output; ignored by git. */
export const buildDir = join(projectRoot, '.build');
export const defaultBundlePath = join(buildDir, 'bundle.tar.gz');
export const capabilitiesPath = join(projectRoot, 'gateway/policy/wasm-capabilities.json');
/** The policy entrypoint compiled into the WASM module; its value is the decision document. */
export const ENTRYPOINT = 'verdict/decision';

export function toolPins(): { opa: string; actionlint: string } {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8'));
  return pkg.verdict.tools;
}
