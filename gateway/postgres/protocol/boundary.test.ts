// The codec stays a leaf: its sources import only Node built-ins and each other, so it can be tested and benchmarked alone.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = dirname(fileURLToPath(import.meta.url));
const SPECIFIER = /\b(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s*['"]([^'"]+)['"]/g;

function outsideImports(source: string): string[] {
  return [...source.matchAll(SPECIFIER)]
    .map((m) => m[1] ?? m[2] ?? m[3]!)
    .filter((spec) => !spec.startsWith('node:') && !/^\.\/[\w.-]+\.ts$/.test(spec));
}

describe('protocol/ imports nothing outside its folder', () => {
  it('detects a violation (the check itself works)', () => {
    expect(outsideImports("import { x } from '../catalog.ts';\nimport { y } from './reader.ts';")).toEqual(['../catalog.ts']);
    expect(outsideImports("import { parse } from 'pg-protocol'")).toEqual(['pg-protocol']);
    expect(outsideImports("import { isUtf8 } from 'node:buffer'")).toEqual([]);
  });

  it('holds for every non-test source file', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.bench.ts'));
    expect(files).toEqual(expect.arrayContaining(['constants.ts', 'errors.ts', 'messages.ts', 'reader.ts', 'writer.ts']));
    const violations = files.flatMap((f) => outsideImports(readFileSync(join(dir, f), 'utf8')).map((s) => `${f} imports ${s}`));
    expect(violations).toEqual([]);
  });
});
