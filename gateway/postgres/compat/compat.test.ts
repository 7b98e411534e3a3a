// Client compatibility beyond node-postgres: psycopg2 and the JDBC driver, both from Debian, through
// the gateway against a real PostgreSQL (masking, denial with the right SQLSTATE, session still usable).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../../testing/stack.ts';

const run = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
let stack: TestStack;
let classes: string;

beforeAll(async () => {
  stack = await startStack();
  classes = mkdtempSync(join(tmpdir(), 'verdict-jdbc-'));
  await run('javac', ['-d', classes, join(here, 'JdbcClient.java')]);
});
afterAll(async () => {
  await stack?.stop();
  if (classes) rmSync(classes, { recursive: true, force: true });
});

describe('client compatibility', () => {
  it('psycopg2', async () => {
    const c = await stack.client('bob');
    const dsn = `host=127.0.0.1 port=${c.port} dbname=clinic user=bob password=${c.password} sslmode=disable gssencmode=disable`;
    const { stdout } = await run('/usr/bin/python3', [join(here, 'psycopg2_client.py'), dsn]);
    const out = JSON.parse(stdout);
    expect(out.masked).toEqual(['[REDACTED]', '***-**-6789']);
    expect(out.denied.code).toBe('42501');
    expect(out.denied.message).toContain('Verdict denied this statement');
    expect(out.count).toBe(6);
  });

  it('JDBC (server-side prepared statements)', async () => {
    const c = await stack.client('bob');
    const url = `jdbc:postgresql://127.0.0.1:${c.port}/clinic?sslmode=disable&prepareThreshold=1`;
    const { stdout } = await run('java', ['-cp', `/usr/share/java/postgresql.jar:${classes}`, 'JdbcClient', url, 'bob', c.password]);
    const out = JSON.parse(stdout);
    expect(out).toEqual({
      row1: ['[REDACTED]', '***-**-6789'],
      row2: ['[REDACTED]', '***-**-7890'],
      row3: ['[REDACTED]', '***-**-8901'],
      denied: { code: '42501' },
      count: 6,
    });
  });
});
