// Real clients through the gateway: pgbench in all three query modes, and a raw pipelined
// extended-protocol batch (a denied Parse in the middle) checked message by message.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { Parser } from 'pg-protocol/dist/parser.js';
import { serialize } from 'pg-protocol/dist/serializer.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../testing/stack.ts';

const run = promisify(execFile);
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack();
  // pgbench's tables are created directly upstream: through the gateway, DDL waits for approval.
  const { findPgBin } = await import('../testing/postgres.ts');
  await run(`${findPgBin()}/pgbench`, ['-i', '-s', '1', '-q', '--no-vacuum', stack.pg.url]);
});
afterAll(async () => stack?.stop());

describe('pgbench through the gateway', () => {
  it.each(['simple', 'extended', 'prepared'])('-S -M %s completes every transaction', async (mode) => {
    const c = await stack.client('alice');
    const { stdout } = await run('pgbench', ['-n', '-S', '-M', mode, '-c', '4', '-j', '2', '-t', '200', '-h', c.host, '-p', String(c.port), '-U', 'alice', 'clinic'], {
      env: { ...process.env, PGPASSWORD: c.password, PGSSLMODE: 'disable', PGGSSENCMODE: 'disable' },
    });
    expect(stdout).toMatch(/number of transactions actually processed: 800\/800/);
    expect(stdout).toMatch(/number of failed transactions: 0/);
  });
});

describe('pipelining', () => {
  it('answers a pipelined batch in order, with the denied Parse replaced by its denial', async () => {
    const c = await stack.client('alice');
    const socket = net.connect(c.port, '127.0.0.1');
    socket.setNoDelay(true);
    const parser = new Parser();
    const messages: { name: string; [k: string]: unknown }[] = [];
    let wake: () => void = () => {};
    socket.on('data', (d) => parser.parse(d, (m) => (messages.push(m as never), wake())));
    const until = (pred: () => boolean) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timeout; got ${messages.map((m) => m.name)}`)), 10_000);
        const check = () => pred() && (clearTimeout(t), resolve());
        wake = check;
        check();
      });
    await new Promise((r) => socket.once('connect', r));
    socket.write(serialize.startup({ user: 'alice', database: 'clinic' }));
    await until(() => messages.some((m) => m.name === 'authenticationCleartextPassword'));
    socket.write(serialize.password(c.password));
    await until(() => messages.some((m) => m.name === 'readyForQuery'));
    messages.length = 0;
    // One TCP write: allowed, denied, allowed — then Sync; then a second batch after the error.
    const batch = Buffer.concat([
      serialize.parse({ text: 'SELECT 1 AS a' }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.parse({ name: 'bad', text: "SELECT pg_read_file('/etc/passwd')" }),
      serialize.bind({ statement: 'bad' }),
      serialize.execute({}),
      serialize.sync(),
      serialize.parse({ text: 'SELECT ssn FROM patients WHERE id = 1' }),
      serialize.bind({}),
      serialize.execute({}),
      serialize.sync(),
    ]);
    socket.write(batch);
    await until(() => messages.filter((m) => m.name === 'readyForQuery').length === 2);
    expect(messages.map((m) => m.name)).toEqual([
      'parseComplete',
      'bindComplete',
      'dataRow',
      'commandComplete',
      'error',
      'readyForQuery',
      'parseComplete',
      'bindComplete',
      'dataRow',
      'commandComplete',
      'readyForQuery',
    ]);
    expect(messages[4]).toMatchObject({ code: '42501' });
    expect(String(messages[4]!.message)).toContain('pg_read_file');
    expect(messages[8]).toMatchObject({ fields: ['***-**-6789'] });
    socket.end(serialize.end());
  });
});
