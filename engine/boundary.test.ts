// The house rule that keeps the engine pure: nothing under engine/ imports gateway/.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const engineDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(engineDir, '..');

/** Module specifiers of static imports, re-exports and dynamic imports in a source text. */
export function importSpecifiers(source: string): string[] {
  const re = /\b(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s*['"]([^'"]+)['"]/g;
  return [...source.matchAll(re)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** Imports in `file` that resolve into gateway/ (relative paths or a bare 'gateway/...' specifier). */
export function gatewayImports(file: string, source: string): string[] {
  return importSpecifiers(source).filter((spec) => {
    if (spec.startsWith('.')) return relative(root, resolve(dirname(file), spec)).split('/')[0] === 'gateway';
    return spec === 'gateway' || spec.startsWith('gateway/');
  });
}

describe('engine/ never imports gateway/', () => {
  it('finds a violation when there is one (the check itself works)', () => {
    const file = join(engineDir, 'sql', 'x.ts');
    const gw = ['gate', 'way'].join(''); // spelled apart so text scanners of this file see no import
    expect(gatewayImports(file, `import { a } from '../../${gw}/postgres/wire.ts';`)).toEqual([`../../${gw}/postgres/wire.ts`]);
    expect(gatewayImports(file, `export * from '../../${gw}/x.ts'`)).toHaveLength(1);
    expect(gatewayImports(file, `const m = await import('../../${gw}/x.ts')`)).toHaveLength(1);
    expect(gatewayImports(file, `import type { T } from '${gw}/identity'`)).toHaveLength(1);
    expect(gatewayImports(file, "import { b } from '../decision/decision.ts';")).toEqual([]);
  });

  it('holds for every TypeScript file under engine/', () => {
    const files = readdirSync(engineDir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && /\.(ts|mts|js|mjs)$/.test(e.name))
      .map((e) => join(e.parentPath, e.name))
      .filter((f) => f !== fileURLToPath(import.meta.url)); // its own examples are strings, not imports
    expect(files.length).toBeGreaterThan(5);
    const violations = files.flatMap((f) =>
      gatewayImports(f, readFileSync(f, 'utf8')).map((spec) => `${relative(root, f)} imports ${spec}`),
    );
    expect(violations).toEqual([]);
  });
});
