// The house rules of gateway/: a front door never imports another door; the pipeline (gateway/pipeline/)
// imports no door and no upstream connector, and no sockets; an upstream connector (gateway/upstream/) knows
// nothing of policy, approvals, evidence or doors (the PostgreSQL wire codec aside). Imports are read with TypeScript's own pre-processor.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const gatewayDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(gatewayDir, '..');

/** The front doors: each a folder of gateway/. */
const DOORS = ['postgres', 'mcp', 'snowflake'];

/** Every import of `source` (static, dynamic, re-export, type-only), resolved to a root-relative path, or the bare specifier. */
function importsOf(file: string, source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map(({ fileName }) =>
    fileName.startsWith('.') ? relative(root, resolve(dirname(file), fileName)) : fileName,
  );
}

function sources(dir: string): string[] {
  return readdirSync(join(gatewayDir, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|mts|mjs)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** `rule(importedPath)` → why it is not allowed, or null; every violation as 'file imports target (why)'. */
function violations(dir: string, rule: (target: string) => string | null): string[] {
  return sources(dir).flatMap((f) =>
    importsOf(f, readFileSync(f, 'utf8')).flatMap((target) => {
      const why = rule(target);
      return why ? [`${relative(root, f)} imports ${target} (${why})`] : [];
    }),
  );
}

const under = (target: string, dir: string) => target === dir || target.startsWith(`${dir}/`);

describe('gateway/ boundaries', () => {
  it('reads every kind of import (the check itself works)', () => {
    const file = join(gatewayDir, 'pipeline', 'x.ts');
    const found = importsOf(file, "import a from '../postgres/a.ts';\nexport * from '../mcp/b.ts';\nimport type { C } from '../upstream/postgres/c.ts';\nconst d = await import('../postgres/d.ts');\nimport net from 'node:net';");
    expect(found).toEqual(['gateway/postgres/a.ts', 'gateway/mcp/b.ts', 'gateway/upstream/postgres/c.ts', 'gateway/postgres/d.ts', 'node:net']);
  });

  it('a front door never imports another door', () => {
    const found = DOORS.flatMap((door) =>
      violations(door, (t) => {
        const other = DOORS.find((d) => d !== door && under(t, `gateway/${d}`));
        return other ? `the ${other} door` : null;
      }),
    );
    expect(found).toEqual([]);
  });

  it('the pipeline imports no door, no upstream connector and no sockets', () => {
    expect(sources('pipeline').length).toBeGreaterThan(1);
    const found = violations('pipeline', (t) => {
      if (DOORS.some((d) => under(t, `gateway/${d}`))) return 'a door';
      if (under(t, 'gateway/upstream')) return 'an upstream connector';
      if (['node:net', 'node:tls', 'node:http', 'net', 'tls', 'http'].includes(t)) return 'sockets';
      return null;
    });
    expect(found).toEqual([]);
  });

  it('production code of doors, the pipeline and connectors never imports test support (gateway/testing)', () => {
    const found = [...DOORS, 'pipeline', 'upstream'].flatMap((dir) =>
      violations(dir, (t) => (under(t, 'gateway/testing') ? 'test support' : null)).filter((v) => !/\.test\.ts imports/.test(v)),
    );
    expect(found).toEqual([]);
  });

  it('upstream connectors know nothing of policy, approvals, evidence, the pipeline or doors', () => {
    expect(sources('upstream').length).toBeGreaterThan(3);
    const found = violations('upstream', (t) => {
      // The catalog loader fills the engine's Catalog shape (plain data), errors are read with the engine's messageOf
      // (engine/errors.ts, no policy in it) and carry SQLSTATEs from the shared table (engine/sqlstate.ts, the SQL
      // standard's vocabulary); nothing else of the engine.
      if (under(t, 'engine') && t !== 'engine/sql/types.ts' && t !== 'engine/errors.ts' && t !== 'engine/sqlstate.ts') return 'policy engine';
      // The wire codec (message codes, SQLSTATEs) is shared with the PostgreSQL door; nothing else of a door is.
      if (under(t, 'gateway/postgres/protocol')) return null;
      for (const dir of ['pipeline', 'approvals', 'evidence', 'identity', ...DOORS]) if (under(t, `gateway/${dir}`)) return dir;
      return null;
    });
    expect(found).toEqual([]);
  });
});
