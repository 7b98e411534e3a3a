// docs/architecture.md is the map; this test holds the code to it, so it cannot drift: every production file
// (tests excluded) imports only its own area and the areas its row lists, every area in the code has a row,
// no product area may import test support or benchmarks, benchmarks live in the bench areas, no file reaches
// itself through its imports (no import circles), in engine/ and gateway/, and no area reaches itself either:
// not through the map's "may import" rows, not through the real imports.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAP = join(root, 'docs', 'architecture.md');

/** The area of a root-relative path, as docs/architecture.md names them. */
export function areaOf(path: string): string {
  const p = path.replace(/\.(ts|mts|mjs)$/, '').split('/');
  if (p[0] === 'engine') {
    if (p[1] === 'sql') return p[2] === 'postgres' || p[2] === 'snowflake' ? `engine/sql/${p[2]}` : 'engine/sql';
    return `engine/${p[1]}`;
  }
  if (p[1] === 'upstream') return `gateway/upstream/${p[2]}`;
  if (p[1] === 'postgres' && p[2] === 'protocol') return 'gateway/postgres/protocol';
  return `gateway/${p[1]}`;
}

/** area → allowed areas, from the map's table. */
function readMap(text: string): Map<string, Set<string>> {
  const rows = text.split('<!-- areas:')[1]!.split('\n').filter((l) => /^\| `[a-z/]+` \|/.test(l));
  return new Map(
    rows.map((l) => {
      const cells = l.split('|').map((c) => c.trim());
      const allowed = [...cells[3]!.matchAll(/`([a-z/]+)`/g)].map((m) => m[1]!);
      return [cells[1]!.replace(/`/g, ''), new Set(allowed)];
    }),
  );
}

function productionFiles(): string[] {
  return ['engine', 'gateway'].flatMap((d) =>
    readdirSync(join(root, d), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && /\.(ts|mts|mjs)$/.test(e.name) && !/\.test\.ts$|\.d\.mts$/.test(e.name))
      .map((e) => relative(root, join(e.parentPath, e.name))),
  );
}

function localImports(file: string): string[] {
  return ts
    .preProcessFile(readFileSync(join(root, file), 'utf8'), true, true)
    .importedFiles.map((i) => i.fileName)
    .filter((n) => n.startsWith('.'))
    .map((n) => relative(root, resolve(dirname(join(root, file)), n)));
}

/** Strongly connected components of more than one file (Tarjan). */
export function circles(graph: Map<string, string[]>): string[][] {
  let n = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1) out.push(c.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('docs/architecture.md holds', () => {
  const map = readMap(readFileSync(MAP, 'utf8'));
  const files = productionFiles();

  it('reads the map and finds real violations (the check itself works)', () => {
    expect(map.size).toBeGreaterThan(20);
    expect(map.get('gateway/pipeline')!.has('gateway/postgres')).toBe(false);
    expect(areaOf('gateway/postgres/protocol/reader.ts')).toBe('gateway/postgres/protocol');
    expect(areaOf('engine/sql/snowflake/walk/from.ts')).toBe('engine/sql/snowflake');
    expect(circles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual([['a', 'b', 'c']]);
  });

  it('every area of the code has a row in the map', () => {
    const areas = new Set(files.map(areaOf));
    expect([...areas].filter((a) => !map.has(a)).sort()).toEqual([]);
  });

  it('every production file imports only what its area may', () => {
    const found = files.flatMap((f) => {
      const from = areaOf(f);
      const allowed = map.get(from) ?? new Set<string>();
      return localImports(f)
        .map(areaOf)
        .filter((to) => to !== from && !allowed.has(to))
        .map((to) => `${f} (${from}) imports ${to}`);
    });
    expect([...new Set(found)]).toEqual([]);
  });

  it('test support and benchmarks stay out of the product', () => {
    const support = new Set(['engine/bench', 'engine/fixtures', 'gateway/bench', 'gateway/testing']);
    const product = [...map].filter(([area]) => !support.has(area));
    expect(product.flatMap(([area, allowed]) => [...allowed].filter((a) => support.has(a)).map((a) => `${area} may import ${a}`))).toEqual([]);
    const benches = files.filter((f) => /[.-]bench\.ts$/.test(f));
    expect(benches.length).toBeGreaterThan(5);
    expect(benches.filter((f) => !areaOf(f).endsWith('/bench'))).toEqual([]);
  });

  it('no import circles among production files', () => {
    const graph = new Map(files.map((f) => [f, localImports(f)]));
    expect(circles(graph)).toEqual([]);
  });

  it('no circles among areas: neither in the map nor in the imports', () => {
    const allowed = new Map([...map].map(([area, to]) => [area, [...to].filter((a) => a !== area)]));
    expect(circles(allowed)).toEqual([]);
    const real = new Map<string, Set<string>>();
    for (const f of files) {
      const from = areaOf(f);
      const to = real.get(from) ?? real.set(from, new Set()).get(from)!;
      for (const a of localImports(f).map(areaOf)) if (a !== from) to.add(a);
    }
    expect(circles(new Map([...real].map(([a, to]) => [a, [...to]])))).toEqual([]);
  });
});
