// Every execution of a prepared statement is evidence with its parameters: raw where they meet no PHI,
// keyed-hashed where they do (an e-mail address an auditor can check with the key, never read), each result naming
// the execution it ends. Real PostgreSQL, the real pg client, an auditor's clone of the evidence.
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsDigest } from '../../engine/evidence/response.ts';
import { verifyRepository } from '../evidence/verify.ts';
import { callTool, v2Client } from '../testing/mcp-clients.ts';
import { startStack, type TestStack } from '../testing/stack.ts';

const run = promisify(execFile);
let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({ mcp: { host: '127.0.0.1', port: 0 } });
});
afterAll(async () => stack?.stop());

type Line = { type: string; data: Record<string, unknown> };

describe('parameters of every execution', () => {
  it('records each Bind with its values, hashing the ones compared with PHI', async () => {
    const c = new pg.Client(await stack.client('alice'));
    await c.connect();
    const byBoth = { name: 'by-email', text: 'SELECT name FROM patients WHERE email = $1 AND id = $2' };
    expect((await c.query({ ...byBoth, values: ['ada@example.org', 1] })).rows).toHaveLength(1);
    expect((await c.query({ ...byBoth, values: ['alan@example.org', 2] })).rows).toHaveLength(1);
    await c.query({ text: 'SELECT id FROM visits WHERE id = $1 AND $2::text IS NULL', values: [3, null] });
    await c.end();
    // the same through the MCP door: a query tool call with params
    const url = stack.gateway.mcp!.url;
    const mcp = await v2Client(url, await stack.issuer.mint('alice', { audience: url }));
    const r = await callTool(mcp, 'query', { sql: 'SELECT id FROM patients WHERE email = $1', params: ['grace@example.org'] });
    expect(r.isError).toBeFalsy();
    await mcp.close();
    await stack.gateway.close();

    const clone = join(stack.dir, 'clone');
    await run('git', ['clone', '-q', join(stack.dir, 'evidence', 'repo'), clone]);
    expect((await verifyRepository(clone)).findings).toEqual([]);
    const files = readdirSync(clone, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.jsonl') && !e.parentPath.includes('.git'))
      .sort((a, b) => join(a.parentPath, a.name).localeCompare(join(b.parentPath, b.name)))
      .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
    const text = files.join('');
    // the repository never holds the e-mail addresses the client sent
    expect(text).not.toContain('ada@example.org');
    expect(text).not.toContain('alan@example.org');
    expect(text).not.toContain('grace@example.org');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Line);

    const statements = lines.filter((l) => l.type === 'statement').map((l) => l.data);
    const decision = statements.find((s) => s.text === byBoth.text)!;
    const executions = lines.filter((l) => l.type === 'statement_execution' && l.data.decision_id === decision.decision_id).map((l) => l.data);
    // the key an auditor holds: derived from masking.hash_key ('test-hash-key' in the test stack)
    const key = createHmac('sha256', 'test-hash-key').update('verdict/evidence/parameters').digest();
    const hmac = (v: string) => createHmac('sha256', key).update(v).digest('hex');
    const keyId = createHmac('sha256', key).update('verdict key id').digest('hex').slice(0, 16);
    expect(executions.map((e) => [e.parameters, e.key_id])).toEqual([
      [[{ position: 1, hmac_sha256: hmac('ada@example.org') }, { position: 2, value: '1' }], keyId],
      [[{ position: 1, hmac_sha256: hmac('alan@example.org') }, { position: 2, value: '2' }], keyId],
    ]);
    // each result ends its own execution
    const results = lines.filter((l) => l.type === 'statement_result' && l.data.decision_id === decision.decision_id).map((l) => l.data);
    expect(results.map((r) => [r.execution_id, r.outcome, r.rows])).toEqual(executions.map((e) => [e.execution_id, 'ok', 1]));
    const viaMcp = statements.find((s) => s.text === 'SELECT id FROM patients WHERE email = $1')!;
    const mcpExecution = lines.find((l) => l.type === 'statement_execution' && l.data.decision_id === viaMcp.decision_id)!.data;
    expect(mcpExecution.parameters).toEqual([{ position: 1, hmac_sha256: hmac('grace@example.org') }]);
    expect(lines.find((l) => l.type === 'statement_result' && l.data.decision_id === viaMcp.decision_id)!.data.execution_id).toBe(mcpExecution.execution_id);
    // no PHI met: raw values, SQL NULL as null, no key
    const visits = statements.find((s) => String(s.text).startsWith('SELECT id FROM visits'))!;
    expect(lines.filter((l) => l.type === 'statement_execution' && l.data.decision_id === visits.decision_id).map((l) => [l.data.parameters, l.data.key_id])).toEqual([
      [[{ position: 1, value: '3' }, { position: 2, value: null }], null],
    ]);
  });
});

describe('responses from the PostgreSQL door', () => {
  it('records the digest of the rows each statement delivered, masked as delivered', async () => {
    const s = await startStack();
    try {
      const c = new pg.Client(await s.client('bob'));
      await c.connect();
      const simple = await c.query({ text: 'SELECT id, name, ssn FROM patients WHERE id <= 2 ORDER BY id', rowMode: 'array' });
      const prepared = await c.query({ name: 'p', text: 'SELECT id, name FROM patients WHERE id = $1', values: [3], rowMode: 'array' });
      await c.query('SET application_name = x');
      await c.end();
      await s.gateway.close();
      const clone = join(s.dir, 'clone');
      await run('git', ['clone', '-q', join(s.dir, 'evidence', 'repo'), clone]);
      expect((await verifyRepository(clone)).findings).toEqual([]);
      const lines = readdirSync(clone, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name.endsWith('.jsonl') && !e.parentPath.includes('.git'))
        .sort((a, b) => join(a.parentPath, a.name).localeCompare(join(b.parentPath, b.name)))
        .flatMap((e) => readFileSync(join(e.parentPath, e.name), 'utf8').trim().split('\n'))
        .map((l) => JSON.parse(l) as Line);
      const text = (r: unknown[]) => r.map((v) => (v === null ? null : String(v)));
      // No rows kept (nothing asks for them): each digest is in its statement's result line, none on a line of its own.
      expect(lines.filter((l) => l.type === 'statement_response')).toEqual([]);
      const results = lines.filter((l) => l.type === 'statement_result' && l.data.response).map((l) => l.data);
      const responses = results.map((r) => r.response as { sha256: string; rows: number; bytes: number });
      // the same framing as the client's rows: the digest of what node-postgres received, masked (bob)
      expect(simple.rows[0]![1]).not.toBe('Ada Lovelace');
      expect(responses).toEqual([rowsDigest(simple.rows.map(text)), rowsDigest(prepared.rows.map(text))]);
      const execution = lines.find((l) => l.type === 'statement_execution')!.data.execution_id;
      expect(results[1]!.execution_id).toBe(execution);
      // the SET delivered no rows: its result carries no response
      const set = lines.find((l) => l.type === 'statement' && l.data.text === 'SET application_name = x')!.data.decision_id;
      expect(lines.find((l) => l.type === 'statement_result' && l.data.decision_id === set)!.data).not.toHaveProperty('response');
    } finally {
      await s.stop();
    }
  });
});
