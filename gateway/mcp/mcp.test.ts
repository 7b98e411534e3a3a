// The MCP door end to end: official SDK clients (v2 in both protocol eras, and v1) against a real gateway in
// front of a real PostgreSQL, as the users of the issue would try it — tools listed, masked rows for a
// contractor (structuredContent and text alike), a pending approval for a DELETE without WHERE that runs
// once after approval, stacked statements that cannot change what was decided, and the resource-server
// rules of the MCP authorization spec (RFC 9728 metadata, 401 challenges, audience, Host/Origin).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideLocally } from '../approvals/local.ts';
import { callTool, textOf, v1Client, v2Client, type ToolResult } from '../testing/mcp-clients.ts';
import { evidenceEvents } from '../testing/evidence.ts';
import { startStack, type TestStack } from '../testing/stack.ts';

let stack: TestStack;
let url: string;
let direct: pg.Client;
/** Every real SSN, date of birth and diagnosis in the clinic: none may reach a contractor. */
let secrets: string[];

const token = (user: string, opts: Parameters<TestStack['issuer']['mint']>[1] = {}) => stack.issuer.mint(user, { audience: url, ...opts });
const v2 = async (user: string, mode: 'auto' | 'legacy' = 'auto', name = 'v2-test') => v2Client(url, await token(user), { mode, name });
const v1 = async (user: string, name = 'v1-test') => v1Client(url, await token(user), { name });
const call = callTool;
const text = textOf;
const everything = (r: ToolResult) => JSON.stringify(r);

const evidence = () => evidenceEvents(join(stack.dir, 'evidence'));

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(body) });
const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

beforeAll(async () => {
  stack = await startStack({ mcp: { host: '127.0.0.1', port: 0, max_rows: 50 } });
  url = stack.gateway.mcp!.url;
  direct = new pg.Client(stack.pg.url);
  await direct.connect();
  const { rows } = await direct.query<{ ssn: string; dob: string; diagnosis: string }>('SELECT ssn, dob::text AS dob, diagnosis FROM patients');
  secrets = rows.flatMap((r) => [r.ssn, r.dob, r.diagnosis]).filter((s) => s && s.length > 4);
  expect(secrets.length).toBeGreaterThan(5);
}, 180_000);

afterAll(async () => {
  await direct?.end();
  await stack?.stop();
});

describe('MCP door: authorization as a resource server', () => {
  it('publishes RFC 9728 protected-resource metadata naming this resource and the issuer', async () => {
    const res = await fetch(stack.gateway.mcp!.metadataUrl);
    expect(res.status).toBe(200);
    expect(stack.gateway.mcp!.metadataUrl).toBe(`${new URL(url).origin}/.well-known/oauth-protected-resource${new URL(url).pathname}`);
    expect(await res.json()).toMatchObject({ resource: url, authorization_servers: [stack.config.identity.issuer], bearer_methods_supported: ['header'] });
  });

  it('answers a request without a token 401 with a Bearer challenge pointing at the metadata', async () => {
    const res = await post(initialize);
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`resource_metadata="${stack.gateway.mcp!.metadataUrl}"`);
  });

  it('refuses tokens for another audience (the PostgreSQL door), expired, foreign-issued or malformed', async () => {
    const cases = {
      'wrong audience': await stack.issuer.mint('bob'), // audience 'verdict': the PostgreSQL door's
      expired: await token('bob', { issuedAt: new Date(Date.now() - 7200_000), ttlSeconds: 60 }),
      malformed: 'not-a-jwt',
      'tampered signature': (await token('bob')).replace(/.{4}$/, 'AAAA'),
    };
    for (const [what, t] of Object.entries(cases)) {
      const res = await post(initialize, { authorization: `Bearer ${t}` });
      expect(res.status, what).toBe(401);
      expect(res.headers.get('www-authenticate'), what).toMatch(/error="invalid_token"/);
    }
    // The SDK clients surface it as an authorization failure, not a session.
    await expect(v2('bob').then(() => undefined)).resolves.toBeUndefined();
    const wrong = new V2Client({ name: 'x', version: '1' });
    const stale = await stack.issuer.mint('bob');
    await expect(wrong.connect(new V2Transport(new URL(url), { authProvider: { token: async () => stale } }))).rejects.toThrow();
  });

  it('refuses foreign Host and Origin headers (DNS rebinding) before looking at the token', async () => {
    const t = await token('bob');
    const evilOrigin = await post(initialize, { authorization: `Bearer ${t}`, origin: 'http://evil.example.com' });
    expect(evilOrigin.status).toBe(403);
    // fetch() will not send another Host: a raw request, as a rebinding page's would arrive.
    const evilHost = await new Promise<number>((resolve, reject) => {
      const u = new URL(url);
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { host: 'evil.example.com', 'content-type': 'application/json', authorization: `Bearer ${t}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(JSON.stringify(initialize));
    });
    expect(evilHost).toBe(403);
    const local = await post(initialize, { authorization: `Bearer ${t}`, origin: 'http://localhost:3000' });
    expect(local.status).toBe(200);
  });
});

describe('MCP door: tools under policy', () => {
  it('lists the five tools, each described, and none that approves anything', async () => {
    const schemas: unknown[] = [];
    for (const client of [await v2('bob'), await v2('bob', 'legacy'), await v1('bob'), await v2('bob')]) {
      const { tools } = await client.listTools();
      // The JSON Schemas (built once for the process) are the same on every request and in every era.
      schemas.push(tools.map((t) => [t.name, t.inputSchema, t.outputSchema]));
      const query = tools.find((t) => t.name === 'query')?.inputSchema as { required?: string[]; properties?: Record<string, unknown> } | undefined;
      expect(query?.required).toEqual(['sql']);
      expect(Object.keys(query?.properties ?? {}).sort()).toEqual(['params', 'purpose', 'sql']);
      expect(tools.map((t) => t.name).sort()).toEqual(['approval_status', 'describe_table', 'explain', 'list_tables', 'query']);
      for (const t of tools) {
        expect(t.description?.length).toBeGreaterThan(20);
        expect(t.outputSchema).toBeDefined();
        expect(t.name).not.toMatch(/approve|reject|grant/);
      }
      await client.close();
    }
    for (const s of schemas.slice(1)) expect(s).toEqual(schemas[0]);
  });

  it("masks a contractor's rows in structuredContent and text alike, in both protocol eras and with a v1 client", async () => {
    const sql = 'SELECT id, name, ssn, dob, diagnosis FROM patients ORDER BY id';
    const { rows: raw } = await direct.query(sql);
    for (const [label, client] of [['v2 modern', await v2('bob')], ['v2 legacy', await v2('bob', 'legacy')], ['v1', await v1('bob')]] as const) {
      const r = await call(client, 'query', { sql });
      expect(r.isError, label).toBeFalsy();
      const out = r.structuredContent as { results: { columns: { name: string; masked: boolean }[]; rows: (string | null)[][]; command: string }[] };
      const res = out.results[0]!;
      expect(res.command).toBe(`SELECT ${raw.length}`);
      expect(res.columns.filter((c) => c.masked).map((c) => c.name).sort()).toEqual(['diagnosis', 'dob', 'name', 'ssn']);
      expect(res.rows.map((row) => row[0])).toEqual(raw.map((row) => String(row.id)));
      const all = everything(r);
      for (const s of secrets) expect(all, `${label} leaks ${s}`).not.toContain(s);
      // The text is the same masked rows, rendered.
      expect(text(r)).toContain(res.rows[0]!.join('\t'));
      await client.close();
    }
  });

  it('masks what the same statement masks through the PostgreSQL door (differential)', async () => {
    const c = new pg.Client(await stack.client('bob'));
    await c.connect();
    const client = await v2('bob');
    try {
      for (const sql of [
        'SELECT name, ssn FROM patients ORDER BY id',
        "SELECT upper(ssn) AS u, length(diagnosis) AS n, dob + 1 AS later FROM patients ORDER BY id",
        'SELECT p.name, p.diagnosis, v.notes FROM patients p JOIN visits v ON v.patient_id = p.id ORDER BY v.id',
        'SELECT row_to_json(p) AS j FROM patients p ORDER BY id',
      ]) {
        const viaPg = (await c.query({ text: sql, rowMode: 'array' })).rows.map((row: unknown[]) => row.map((v) => (v === null ? null : v instanceof Date ? v : typeof v === 'object' ? JSON.stringify(v) : String(v))));
        const r = await call(client, 'query', { sql });
        expect(r.isError, sql).toBeFalsy();
        const rows = (r.structuredContent as { results: { rows: (string | null)[][] }[] }).results[0]!.rows;
        expect(rows.length, sql).toBe(viaPg.length);
        const all = everything(r);
        for (const s of secrets) expect(all, `${sql} leaks ${s}`).not.toContain(s);
      }
    } finally {
      await c.end();
      await client.close();
    }
  });

  it('holds a DELETE without WHERE as an approval request, runs it once after approval, and never twice', async () => {
    const before = Number((await direct.query('SELECT count(*) FROM visits')).rows[0].count);
    expect(before).toBeGreaterThan(0);
    const client = await v2('bob');
    const first = await call(client, 'query', { sql: 'DELETE FROM visits' });
    expect(first.isError).toBe(true);
    expect(text(first)).toMatch(/^Approval required: /);
    const refusal = first._meta?.['dev.verdict/refusal'] as { status: string; request_id: string; link: string; decision_id: string; rule: string };
    expect(refusal).toMatchObject({ status: 'approval_required', request_id: expect.stringMatching(/^req-/), link: expect.any(String), decision_id: expect.any(String), rule: expect.any(String) });
    expect(text(first)).toContain(refusal.request_id);
    expect(Number((await direct.query('SELECT count(*) FROM visits')).rows[0].count)).toBe(before);

    const status = await call(client, 'approval_status', { request_id: refusal.request_id });
    expect(status.structuredContent).toMatchObject({ status: 'pending', statement: 'DELETE FROM visits' });
    // Someone else cannot see bob's request.
    const alice = await v2('alice');
    const foreign = await call(alice, 'approval_status', { request_id: refusal.request_id });
    expect(foreign.isError).toBe(true);
    expect(text(foreign)).not.toContain('DELETE');
    await alice.close();

    await decideLocally(join(stack.dir, 'approvals'), refusal.request_id, 'approved', { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] });
    expect((await call(client, 'approval_status', { request_id: refusal.request_id })).structuredContent).toMatchObject({ status: 'approved', approved_by: ['carol'] });
    const again = await call(client, 'query', { sql: 'DELETE FROM visits' });
    expect(again.isError, text(again)).toBeFalsy();
    expect((again.structuredContent as { results: { command: string }[] }).results[0]!.command).toBe(`DELETE ${before}`);
    expect(Number((await direct.query('SELECT count(*) FROM visits')).rows[0].count)).toBe(0);
    // The approval ran its statement once: the next identical call files a new request.
    const third = await call(client, 'query', { sql: 'DELETE FROM visits' });
    expect(third.isError).toBe(true);
    const next = (third._meta?.['dev.verdict/refusal'] as { request_id: string }).request_id;
    expect(next).not.toBe(refusal.request_id);
    await client.close();
    await direct.query(CLINIC_VISITS);
  });

  it('measures a write before deciding it, with its parameters: a large one needs approval, a small one runs', async () => {
    const client = await v2('alice');
    const wide = await call(client, 'query', { sql: 'UPDATE visits SET notes = $1 WHERE id > $2', params: ['n/a', '0'] });
    expect(wide.isError).toBe(true);
    expect(text(wide)).toMatch(/^Approval required: .*6 of the 6 rows/);
    const id = String((await direct.query('SELECT min(id) AS id FROM visits')).rows[0].id);
    const narrow = await call(client, 'query', { sql: 'UPDATE visits SET reason = $1 WHERE id = $2', params: ['checked', id] });
    expect(narrow.isError, text(narrow)).toBeFalsy();
    expect((narrow.structuredContent as { results: { command: string }[] }).results[0]!.command).toBe('UPDATE 1');
    expect((await direct.query('SELECT reason FROM visits WHERE id = $1', [id])).rows[0].reason).toBe('checked');
    await client.close();
  });

  it('decides every statement of a stacked call: transaction control cannot carry a denied statement', async () => {
    const client = await v2('bob');
    const cases: [string, RegExp][] = [
      ['COMMIT; DROP TABLE patients', /^(Denied|Approval required): /],
      ['SELECT 1; DROP TABLE patients', /^(Denied|Approval required): /],
      ['BEGIN; SELECT 1; COMMIT; DROP TABLE patients', /^(Denied|Approval required): /],
      ["SELECT 1; SELECT pg_read_file('/etc/passwd')", /^Denied: /],
      ["SET search_path = pg_temp, public; SELECT ssn FROM patients", /search_path/],
      ["SELECT set_config('search_path', 'x', false)", /set_config/],
      ["DO $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); END $$", /Denied|set_config/],
      ['PREPARE p AS SELECT ssn FROM patients; EXECUTE p', /PREPARE|EXECUTE/],
      ['DECLARE c CURSOR WITH HOLD FOR SELECT ssn FROM patients', /DECLARE/],
      ['COPY patients TO STDOUT', /Denied/],
    ];
    for (const [sql, why] of cases) {
      const r = await call(client, 'query', { sql });
      expect(r.isError, sql).toBe(true);
      expect(text(r), sql).toMatch(why);
    }
    expect((await direct.query("SELECT to_regclass('public.patients') AS t")).rows[0].t).toBe('patients');
    // Allowed statements stacked with masked ones: each keeps its own decision.
    const r = await call(client, 'query', { sql: 'SELECT 1 AS one; SELECT ssn FROM patients ORDER BY id LIMIT 2' });
    expect(r.isError, text(r)).toBeFalsy();
    const results = (r.structuredContent as { results: { columns: { masked: boolean }[]; rows: unknown[][] }[] }).results;
    expect(results).toHaveLength(2);
    expect(results[0]!.rows).toEqual([['1']]);
    expect(results[1]!.columns[0]!.masked).toBe(true);
    for (const s of secrets) expect(everything(r)).not.toContain(s);
    // Parameters go with one statement.
    const p = await call(client, 'query', { sql: 'SELECT $1::int AS x', params: ['41'] });
    expect((p.structuredContent as { results: { rows: unknown[][] }[] }).results[0]!.rows).toEqual([['41']]);
    const pp = await call(client, 'query', { sql: 'SELECT $1::int; SELECT 2', params: ['1'] });
    expect(pp.isError).toBe(true);
    await client.close();
  });

  it('runs several statements as one transaction: a failure rolls all back; an open transaction ends with the call', async () => {
    const client = await v2('alice');
    const r = await call(client, 'query', { sql: "INSERT INTO visits (patient_id, visit_date, reason) VALUES (1, '2026-01-01', 'x'); SELECT 1/0" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/rolled back/);
    expect(Number((await direct.query("SELECT count(*) FROM visits WHERE reason = 'x'")).rows[0].count)).toBe(0);
    const open = await call(client, 'query', { sql: "BEGIN; INSERT INTO visits (patient_id, visit_date, reason) VALUES (1, '2026-01-01', 'y')" });
    expect(open.isError, text(open)).toBeFalsy();
    expect(text(open)).toMatch(/rolled back/);
    expect(Number((await direct.query("SELECT count(*) FROM visits WHERE reason = 'y'")).rows[0].count)).toBe(0);
    await client.close();
  });

  it('withholds error text that could carry masked values, and passes other errors through', async () => {
    const client = await v2('bob');
    const masked = await call(client, 'query', { sql: 'SELECT ssn::int FROM patients' });
    expect(masked.isError).toBe(true);
    expect(text(masked)).toMatch(/SQLSTATE 22000/);
    for (const s of secrets) expect(everything(masked)).not.toContain(s);
    const plain = await call(client, 'query', { sql: 'SELECT * FROM no_such_table' });
    expect(plain.isError).toBe(true);
    expect(text(plain)).toMatch(/no_such_table/);
    expect(text(plain)).toMatch(/42P01/);
    await client.close();
  });

  it('cuts results at the configured row limit, with a note', async () => {
    const client = await v2('alice');
    const r = await call(client, 'query', { sql: 'SELECT g FROM generate_series(1, 500) g' });
    const out = r.structuredContent as { results: { rows: unknown[]; truncated: boolean }[]; notes: string[] };
    expect(out.results[0]!.rows).toHaveLength(50);
    expect(out.results[0]!.truncated).toBe(true);
    expect(out.notes.join(' ')).toMatch(/cut at 50 rows/);
    await client.close();
  });

  it('describe_table shows PHI types and what is masked for this caller; list_tables and explain run under policy', async () => {
    const bob = await v2('bob');
    const alice = await v2('alice');
    const forBob = (await call(bob, 'describe_table', { table: 'patients' })).structuredContent as { access: string; columns: { name: string; phi_type: string | null; masked_as: string | null }[] };
    const forAlice = (await call(alice, 'describe_table', { table: 'patients' })).structuredContent as typeof forBob;
    const col = (d: typeof forBob, n: string) => d.columns.find((c) => c.name === n)!;
    expect(col(forBob, 'ssn')).toMatchObject({ phi_type: 'ssn', masked_as: expect.any(String) });
    expect(col(forBob, 'id')).toMatchObject({ phi_type: null, masked_as: null });
    expect(col(forAlice, 'diagnosis').masked_as).toBeNull();
    expect(col(forBob, 'diagnosis').masked_as).not.toBeNull();
    const tables = (await call(bob, 'list_tables', {})).structuredContent as { tables: { table: string }[] };
    expect(tables.tables.map((t) => t.table)).toEqual(expect.arrayContaining(['patients', 'visits']));
    const plan = await call(alice, 'explain', { sql: 'SELECT * FROM patients WHERE id = 1' });
    expect(plan.isError, text(plan)).toBeFalsy();
    expect((plan.structuredContent as { plan: string[] }).plan.join('\n')).toMatch(/Scan/);
    for (const sql of ['SELECT 1; DROP TABLE patients', 'ANALYZE patients']) {
      const bad = await call(alice, 'explain', { sql });
      expect(bad.isError, sql).toBe(true);
    }
    await bob.close();
    await alice.close();
  });

  it('records front_door mcp, the tool and the client the agent declared', async () => {
    const client = await v1('bob', 'evidence-agent');
    await call(client, 'query', { sql: 'SELECT name FROM patients WHERE id = 1' });
    await client.close();
    const modern = await v2('bob', 'auto', 'modern-agent');
    await call(modern, 'list_tables', {});
    await modern.close();
    // Evidence is appended asynchronously: wait (bounded) until both sessions are in the spool.
    const named = (n: string) => (e: { type: string; data: Record<string, unknown> }) => e.type === 'session_start' && e.data.front_door === 'mcp' && (e.data.client as { name?: string } | null)?.name === n;
    let starts = evidence();
    for (let i = 0; i < 50 && !(starts.some(named('evidence-agent')) && starts.some(named('modern-agent'))); i++) {
      await new Promise((r) => setTimeout(r, 100));
      starts = evidence();
    }
    expect(starts.find((s) => (s.data.client as { name?: string } | null)?.name === 'evidence-agent')).toMatchObject({
      data: { tool: 'query', client: { name: 'evidence-agent', version: '1.32.2' }, identity: { sub: 'user:bob' } },
    });
    expect(starts.find((s) => (s.data.client as { name?: string } | null)?.name === 'modern-agent')).toMatchObject({ data: { tool: 'list_tables' } });
  });

  it('binds a 2025-era session to the token subject that opened it', async () => {
    const bobToken = await token('bob');
    const init = await post(initialize, { authorization: `Bearer ${bobToken}` });
    expect(init.status).toBe(200);
    const sid = init.headers.get('mcp-session-id');
    expect(sid).toBeTruthy();
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} };
    const asAlice = await post(list, { authorization: `Bearer ${await token('alice')}`, 'mcp-session-id': sid!, 'mcp-protocol-version': '2025-11-25' });
    expect(asAlice.status).toBe(404);
    const asBob = await post(list, { authorization: `Bearer ${bobToken}`, 'mcp-session-id': sid!, 'mcp-protocol-version': '2025-11-25' });
    expect(asBob.status).toBe(200);
  });
});

/** Re-seeds visits after the approval test emptied it. */
const CLINIC_VISITS = (() => {
  const sql = readFileSync(new URL('../demo/clinic.sql', import.meta.url), 'utf8');
  const m = /INSERT INTO visits[\s\S]*?;\n/.exec(sql);
  if (!m) throw new Error('clinic.sql has no INSERT INTO visits');
  return m[0];
})();
