// The codec stays a leaf: its sources import only Node built-ins, each other and the SQLSTATE table
// (engine/sqlstate.ts, itself a leaf that imports nothing), so it can be tested and benchmarked alone.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = dirname(fileURLToPath(import.meta.url));
const SQLSTATE_TABLE = '../../../engine/sqlstate.ts';
const SPECIFIER = /\b(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s*['"]([^'"]+)['"]/g;

function outsideImports(source: string): string[] {
  return [...source.matchAll(SPECIFIER)]
    .map((m) => m[1] ?? m[2] ?? m[3]!)
    .filter((spec) => !spec.startsWith('node:') && !/^\.\/[\w.-]+\.ts$/.test(spec) && spec !== SQLSTATE_TABLE);
}

describe('protocol/ imports nothing outside its folder', () => {
  it('detects a violation (the check itself works)', () => {
    expect(outsideImports("import { x } from '../catalog.ts';\nimport { y } from './reader.ts';")).toEqual(['../catalog.ts']);
    expect(outsideImports("import { parse } from 'pg-protocol'")).toEqual(['pg-protocol']);
    expect(outsideImports("import { isUtf8 } from 'node:buffer'")).toEqual([]);
    expect(outsideImports(`export { SqlState } from '${SQLSTATE_TABLE}';\nimport { EngineError } from '../../../engine/errors.ts';`)).toEqual(['../../../engine/errors.ts']);
  });

  it('holds for every non-test source file', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.bench.ts'));
    expect(files).toEqual(expect.arrayContaining(['constants.ts', 'errors.ts', 'messages.ts', 'reader.ts', 'writer.ts']));
    const violations = files.flatMap((f) => outsideImports(readFileSync(join(dir, f), 'utf8')).map((s) => `${f} imports ${s}`));
    expect(violations).toEqual([]);
  });

  it('the SQLSTATE table it shares imports nothing', () => {
    const source = readFileSync(join(dir, SQLSTATE_TABLE), 'utf8');
    expect(source).toMatch(/export const SqlState = \{/);
    expect([...source.matchAll(SPECIFIER)].map((m) => m[1] ?? m[2] ?? m[3])).toEqual([]);
  });
});
