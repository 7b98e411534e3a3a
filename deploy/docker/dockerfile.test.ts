// The gateway image, checked without Docker: a pinned base, a non-root numeric user, no remote ADD, production
// dependencies only, the command and ports the chart expects, and a build context holding every file the
// gateway's runtime imports reach (and no dev-only package among them, since the image runs npm ci --omit=dev).
import { builtinModules } from 'node:module';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { instructions, sentToBuild, type Instruction } from './context.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const values = parse(readFileSync(join(root, 'deploy/helm/verdict/values.yaml'), 'utf8'));

const dockerfile = instructions(readFileSync(join(here, 'Dockerfile'), 'utf8'));
const argDefaults = new Map(
  dockerfile.filter((i) => i.op === 'ARG' && i.stage === -1).map((i) => i.args.split('=', 2) as [string, string]),
);
const expand = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => argDefaults.get(a ?? b) ?? '');
const lastStage = Math.max(...dockerfile.map((i) => i.stage));
const final = dockerfile.filter((i) => i.stage === lastStage);
const json = (i: Instruction | undefined): string[] => JSON.parse(i?.args ?? 'null');

/**
 * Runtime imports of a module: static and dynamic imports and literal require()/require.resolve() calls (through
 * createRequire), without `import type` / `export type` (erased by tsx).
 */
function runtimeImports(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.importClause?.namedBindings;
      const allTypes = !node.importClause?.name && named && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      if (!allTypes) found.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression.getText(sf);
      const [arg] = node.arguments;
      if ((node.expression.kind === ts.SyntaxKind.ImportKeyword || callee === 'require' || callee === 'require.resolve') && arg && ts.isStringLiteralLike(arg)) {
        found.push(arg.text);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** Every file and package reached from the image's entrypoint. */
function importGraph(entry: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const queue = [entry];
  while (queue.length) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    if (file.endsWith('.json')) continue;
    for (const spec of runtimeImports(file)) {
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        if (!existsSync(target)) throw new Error(`${relative(root, file)} imports ${spec}, which does not exist`);
        queue.push(target);
      } else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!packages.has(name)) packages.set(name, relative(root, file));
      }
    }
  }
  return { files, packages };
}

describe('the gateway image (deploy/docker/Dockerfile)', () => {
  it('builds every stage from one exact Node 20 bookworm-slim release', () => {
    const froms = dockerfile.filter((i) => i.op === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) {
      const image = expand(f.args.split(/\s+/)[0]!);
      expect(image).toMatch(/^node:20\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    }
    // The image's Node satisfies the project's engines floor (>=20.6).
    const [, minor] = /^node:20\.(\d+)\./.exec(expand(froms[0]!.args))!;
    const floor = Number(/^>=20\.(\d+)/.exec(pkg.engines.node)![1]);
    expect(Number(minor)).toBeGreaterThanOrEqual(floor);
  });

  it('runs as a numeric non-root user, the one the chart runs it as', () => {
    const user = final.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toMatch(/^\d+:\d+$/);
    const [uid, gid] = user!.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(uid).toBe(values.podSecurityContext.runAsUser);
    expect(gid).toBe(values.podSecurityContext.runAsGroup);
  });

  it('fetches nothing but npm and Debian packages: no ADD, no curl or wget', () => {
    expect(dockerfile.filter((i) => i.op === 'ADD')).toEqual([]);
    for (const r of dockerfile.filter((i) => i.op === 'RUN')) expect(r.args).not.toMatch(/\b(curl|wget)\b|https?:\/\//);
  });

  it('installs exactly the locked production dependencies', () => {
    const runs = dockerfile.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm (install|i)\b/.test(r))).toBe(false);
    const copies = dockerfile.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).map((i) => i.args);
    expect(copies[0]).toBe('package.json package-lock.json ./');
  });

  it('runs `verdict gateway --config /etc/verdict/verdict.yaml`, as the chart does', () => {
    const entrypoint = json(final.find((i) => i.op === 'ENTRYPOINT'));
    const cmd = json(final.find((i) => i.op === 'CMD'));
    expect(entrypoint).toEqual(['node', '/app/gateway/cli/verdict.mjs']);
    expect(cmd).toEqual(['gateway', '--config', '/etc/verdict/verdict.yaml']);
    const sts = readFileSync(join(root, 'deploy/helm/verdict/templates/statefulset.yaml'), 'utf8');
    expect(sts).toContain(`args: ${JSON.stringify(cmd).replace(/,/g, ', ')}`);
    // The same file is `verdict` on PATH, run through its shebang: it must be executable.
    expect(final.some((i) => i.op === 'RUN' && i.args === 'ln -s /app/gateway/cli/verdict.mjs /usr/local/bin/verdict')).toBe(true);
    expect(statSync(join(root, 'gateway/cli/verdict.mjs')).mode & 0o111).toBe(0o111);
    expect(readFileSync(join(root, 'gateway/cli/verdict.mjs'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('exposes the chart default ports and keeps its state on the volume the chart mounts', () => {
    const exposed = final.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/).map(Number));
    expect(exposed.sort()).toEqual(Object.values(values.ports as Record<string, number>).sort());
    expect(json(final.find((i) => i.op === 'VOLUME'))).toEqual(['/var/lib/verdict']);
  });

  it('sends to the build every file the entrypoint imports, and no dev-only package is imported', () => {
    const sources = final.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const s of sources) {
      expect(existsSync(join(root, s)), s).toBe(true);
      expect(sentToBuild(s.replace(/\/$/, '')), s).toBe(true);
    }
    const { files, packages } = importGraph(join(root, 'gateway/cli/verdict.mjs'));
    expect(files.size).toBeGreaterThan(50);
    const missing = [...files].map((f) => relative(root, f)).filter((f) => !sentToBuild(f) || !sources.some((s) => f.startsWith(s.replace(/\/$/, ''))));
    expect(missing).toEqual([]);
    const devOnly = [...packages].filter(([name]) => !(name in pkg.dependencies)).map(([name, from]) => `${name} (from ${from})`);
    expect(devOnly).toEqual([]);
  });

  it('leaves tests, benchmarks and test data out of the build context', () => {
    const left = ['gateway/config/load.test.ts', 'gateway/bench/gateway-bench.ts', 'engine/bench/fingerprint-bench.ts', 'gateway/evidence/testdata/x'];
    // Test support, the published test keys among it: nothing the entrypoint imports (the test above checks).
    left.push('gateway/testing/stack.ts', 'engine/fixtures/evidence.ts', 'node_modules/x', '.tools/bin/opa', 'README.md');
    for (const p of left) expect(sentToBuild(p), p).toBe(false);
    for (const p of ['gateway/server.ts', 'engine/engine.ts', 'package-lock.json', 'tsconfig.json']) expect(sentToBuild(p), p).toBe(true);
  });
});
