// What they saw, end to end through the MCP door: every statement's delivered rows have a digest in evidence
// equal to the digest of what the client received; where the policy asks (unmasked PHI), the rows are kept
// encrypted to the auditor's key, so the repository holds no readable PHI, `verdict evidence replay --key`
// shows them and checks them against the digest, and a wrong key reveals nothing.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsDigest } from '../../engine/evidence/response.ts';
import { verifyRepository } from '../evidence/verify.ts';
import { callTool, v2Client } from '../testing/mcp-clients.ts';
import { startStack, type TestStack } from '../testing/stack.ts';
import { evidenceCli as cli } from '../testing/evidence.ts';

const run = promisify(execFile);
let stack: TestStack;
let dir: string;

async function keyPair(name: string): Promise<{ pub: string; priv: string }> {
  const { publicKey, privateKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256', extractable: true });
  const pub = join(dir, `${name}.pub.jwk.json`);
  const priv = join(dir, `${name}.jwk.json`);
  writeFileSync(pub, JSON.stringify(await exportJWK(publicKey)));
  writeFileSync(priv, JSON.stringify(await exportJWK(privateKey)));
  return { pub, priv };
}
let auditor: { pub: string; priv: string };
let stranger: { pub: string; priv: string };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-responses-'));
  [auditor, stranger] = [await keyPair('auditor'), await keyPair('stranger')];
  stack = await startStack({
    mcp: { host: '127.0.0.1', port: 0 },
    evidence: {
      instance: 'test-gw',
      spool_dir: join(dir, 'spool'),
      publisher: { kind: 'local-git', repo: join(dir, 'repo'), branch: 'main' },
      batch: { max_lines: 1000, max_age_ms: 200 },
      auditor_keys: [auditor.pub],
    },
  });
}, 180_000);
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function query(user: string, sql: string): Promise<(string | null)[][]> {
  const url = stack.gateway.mcp!.url;
  const mcp = await v2Client(url, await stack.issuer.mint(user, { audience: url }));
  try {
    const r = await callTool(mcp, 'query', { sql });
    expect(r.isError).toBeFalsy();
    return (r.structuredContent as { results: { rows: (string | null)[][] }[] }).results[0]!.rows;
  } finally {
    await mcp.close();
  }
}


describe('responses in evidence', () => {
  it('keeps digests of what each client received, and the clinician’s unmasked rows only encrypted', async () => {
    const clinician = await query('alice', 'SELECT name, ssn FROM patients WHERE id <= 2 ORDER BY id');
    expect(clinician.map((r) => r[0])).toEqual(['Ada Lovelace', 'Alan Turing']);
    const contractor = await query('bob', 'SELECT name FROM patients WHERE id <= 2 ORDER BY id');
    expect(contractor.map((r) => r[0])).not.toContain('Ada Lovelace');
    // the PostgreSQL door: the clinician's rows as node-postgres received them (text), through a prepared statement
    const c = new pg.Client(await stack.client('alice'));
    await c.connect();
    const viaPg = (await c.query({ name: 'two', text: 'SELECT name, ssn FROM patients WHERE id >= $1 ORDER BY id LIMIT 2', values: [2], rowMode: 'array' })).rows as (string | null)[][];
    await c.end();
    expect(viaPg.map((r) => r[0])).toEqual(['Alan Turing', 'Grace Hopper']);
    await stack.gateway.close();

    const clone = join(dir, 'clone');
    await run('git', ['clone', '-q', join(dir, 'repo'), clone]);
    expect((await verifyRepository(clone)).findings).toEqual([]);
    const text = readdirSync(clone, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.jsonl') && !e.parentPath.includes('.git'))
      .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'))
      .join('');
    expect(text).not.toContain('Ada Lovelace');
    expect(text).not.toContain('Alan Turing');
    expect(text).not.toContain('Grace Hopper');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as { type: string; data: Record<string, any> });
    // A response whose rows are kept encrypted has a statement_response line; one with only a digest is in its
    // statement's result line (`response`).
    const responses = lines.flatMap((l) =>
      l.type === 'statement_response' ? [l.data] : l.type === 'statement_result' && l.data.response ? [{ ...l.data.response, decision_id: l.data.decision_id, encrypted: null, folded: true }] : [],
    );
    // the digest is of exactly what each client received (a differential check against the door's output)
    expect(responses.map((r) => [r.sha256, r.rows])).toEqual([
      [rowsDigest(clinician).sha256, 2],
      [rowsDigest(contractor).sha256, 2],
      [rowsDigest(viaPg).sha256, 2],
    ]);
    expect(responses[2]!.encrypted).toMatchObject({ rows: 2, truncated: false });
    expect(responses[0]!.encrypted).toMatchObject({ rows: 2, truncated: false, jwe: { recipients: [expect.anything()] } });
    expect(responses[1]!.encrypted).toBeNull(); // masked PHI only: nothing to keep but the digest
    expect(responses.map((r) => r.folded === true)).toEqual([false, true, false]);

    const session = lines.find((l) => l.type === 'statement' && l.data.decision_id === responses[0]!.decision_id)!.data.session_id as string;
    const shown = await cli('replay', session, '--repo', clone, '--key', auditor.priv);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain('rows as delivered (digest matches)');
    expect(shown.out).toMatch(/Ada Lovelace \| \*\*\*-\*\*-6789/);
    const wrong = await cli('replay', session, '--repo', clone, '--key', stranger.priv);
    expect(wrong.out).toContain('cannot decrypt the rows');
    expect(wrong.out).not.toContain('Ada Lovelace');
    const keyless = await cli('replay', session, '--repo', clone);
    expect(keyless.out).toContain('2 row(s) kept encrypted');
    const contractorSession = lines.find((l) => l.type === 'statement' && l.data.decision_id === responses[1]!.decision_id)!.data.session_id as string;
    expect((await cli('replay', contractorSession, '--repo', clone)).out).toContain(`sent 2 row(s), ${responses[1]!.bytes} bytes, sha256 ${String(responses[1]!.sha256).slice(0, 16)}`);
    expect(keyless.out).not.toContain('Ada Lovelace');
    // the PostgreSQL door's kept rows decrypt to what the client received, and match the digest
    const pgSession = lines.find((l) => l.type === 'statement' && l.data.decision_id === responses[2]!.decision_id)!.data.session_id as string;
    const pgShown = await cli('replay', pgSession, '--repo', clone, '--key', auditor.priv);
    expect(pgShown.out).toContain('rows as delivered (digest matches)');
    expect(pgShown.out).toMatch(/Grace Hopper \| \*\*\*-\*\*-8901/);
  });
});
