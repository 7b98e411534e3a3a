// Regenerates wasm-capabilities.json: OPA's capabilities narrowed to the built-ins that the WASM
// target implements natively, plus those the JS SDK and the engine supply, so `opa build` rejects any other.
// Run after changing the pinned OPA version: `npx tsx gateway/policy/gen-capabilities.ts`.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { CUSTOM_BUILTINS } from '../../engine/policy/builtins.ts';
import { projectRoot, toolPins } from './paths.ts';
import { opaPath } from './tools.ts';

const opa = opaPath();
const version = toolPins().opa;
const modcache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
const src = join(modcache, `github.com/open-policy-agent/opa@v${version}`);

// ast.<Var>.Name keys of builtinsFunctions in the WASM compiler are the natively compiled built-ins.
const wasmGo = readFileSync(join(src, 'internal/compiler/wasm/wasm.go'), 'utf8');
const mapBody = /var builtinsFunctions = map\[string\]string\{([\s\S]*?)\n\}/.exec(wasmGo)?.[1] ?? '';
const vars = [...mapBody.matchAll(/ast\.(\w+)\.Name:/g)].map((m) => m[1]!);
const builtinsGo = readFileSync(join(src, 'v1/ast/builtins.go'), 'utf8');
const nameOf = (v: string): string => {
  const m = new RegExp(`var ${v} = &Builtin\\{\\s*Name:\\s*"([^"]+)"`).exec(builtinsGo);
  if (!m) throw new Error(`cannot find the name of ast.${v} in v1/ast/builtins.go`);
  return m[1]!;
};
const allowed = new Set(vars.map(nameOf));
allowed.add('eq').add('assign'); // compiled out by the planner (wasm.go IsWasmEnabled)

// Built-ins the JS SDK implements in JavaScript (node_modules/@open-policy-agent/opa-wasm/src/builtins).
const require = createRequire(import.meta.url);
const sdkDir = join(require.resolve('@open-policy-agent/opa-wasm'), '..', 'builtins');
for (const file of readdirSync(sdkDir).filter((f) => f !== 'index.js')) {
  for (const name of Object.keys(require(join(sdkDir, file)))) allowed.add(name);
}
for (const name of Object.keys(CUSTOM_BUILTINS)) allowed.add(name);

const caps = JSON.parse(execFileSync(opa, ['capabilities', '--current'], { encoding: 'utf8', maxBuffer: 1 << 26 }));
const before = caps.builtins.length;
caps.builtins = caps.builtins.filter((b: { name: string }) => allowed.has(b.name));
const missing = [...allowed].filter((n) => !caps.builtins.some((b: { name: string }) => b.name === n));
if (missing.length) throw new Error(`built-ins allowed but unknown to opa ${version}: ${missing.join(', ')}`);
writeFileSync(join(projectRoot, 'gateway/policy/wasm-capabilities.json'), JSON.stringify(caps, null, 1) + '\n');
console.log(`wasm-capabilities.json: ${caps.builtins.length} of ${before} built-ins (opa ${version})`);
