// The MCP door under attack: what an attacker-controlled agent (bob, a contractor who must never see PHI
// unmasked) would try against one real stack (PostgreSQL with the clinic data, the dev issuer, the gateway).
// Every test asserts the SAFE behaviour: a failing test is a vulnerability. Areas: PHI in any response field,
// statements that must not run, approvals, authentication and sessions, availability, evidence.
import http from 'node:http';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideLocally } from '../approvals/local.ts';
import { callTool, refusalOf, textOf, v1Client, v2Client, type McpTestClient, type ToolResult } from '../testing/mcp-clients.ts';
import { evidenceEvents } from '../testing/evidence.ts';
import { startStack, type TestStack } from '../testing/stack.ts';

let stack: TestStack;
let url: string;
let direct: pg.Client;
/** Every PHI value of the clinic a contractor must never see unmasked. */
let secrets: string[];

/** A small cap so that the fairness test is quick (the default is 64). */
const MAX_CALLS = 12;
const MAX_SESSIONS = 30;

const token = (user: string) => stack.issuer.mint(user, { audience: url });
const v2 = async (user: string, name = 'adversary') => v2Client(url, await token(user), { name, version: '6.6.6' });
const v1 = async (user: string, name = 'adversary-v1') => v1Client(url, await token(user), { name, version: '1.0.0' });
const call = callTool;
const text = textOf;
const everything = (r: unknown) => JSON.stringify(r);
const rowsOf = (r: ToolResult) => (r.structuredContent as { results: { rows: (string | null)[][] }[] }).results.map((x) => x.rows);
const refusal = refusalOf;
const leaks = (r: unknown) => secrets.filter((s) => everything(r).includes(s));

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const META = (name = 'raw') => ({ 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name, version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} });

/** One 2026-07-28 tools/call over plain fetch (no SDK): what any HTTP client can send. */
async function rawCall(bearer: string, sql: string, opts: { signal?: AbortSignal } = {}): Promise<{ status: number; result?: ToolResult; body: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...JSON_HEADERS, authorization: `Bearer ${bearer}`, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'query' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query', arguments: { sql }, _meta: META() } }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const body = await res.text();
  let result: ToolResult | undefined;
  try {
    result = (JSON.parse(body) as { result?: ToolResult }).result;
  } catch {
    result = undefined;
  }
  return { status: res.status, body, ...(result ? { result } : {}) };
}

const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw-legacy', version: '1' } } };
const post = (body: string, headers: Record<string, string>) => fetch(url, { method: 'POST', headers: { ...JSON_HEADERS, ...headers }, body });

/** A raw HTTP request (fetch will not send another Host, nor a chunked body without duplex). */
function rawHttp(opts: { method?: string; headers: Record<string, string | number>; chunks?: Buffer[] }): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: opts.method ?? 'POST', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    for (const c of opts.chunks ?? []) req.write(c);
    req.end();
  });
}

const evidence = () => evidenceEvents(join(stack.dir, 'evidence'));

const count = async (table: string) => Number((await direct.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let bob: McpTestClient;
let alice: McpTestClient;

beforeAll(async () => {
  stack = await startStack({ mcp: { host: '127.0.0.1', port: 0, max_rows: 50, max_sessions: MAX_SESSIONS, max_concurrent_calls: MAX_CALLS } });
  url = stack.gateway.mcp!.url;
  direct = new pg.Client(stack.pg.url);
  await direct.connect();
  const p = await direct.query<Record<string, string>>('SELECT name, ssn, dob::text AS dob, email, diagnosis FROM patients');
  const v = await direct.query<{ notes: string }>('SELECT notes FROM visits');
  secrets = [...p.rows.flatMap((r) => Object.values(r)), ...v.rows.map((r) => r.notes)].filter((s): s is string => typeof s === 'string' && s.length > 5);
  expect(secrets).toContain('123-45-6789');
  bob = await v2('bob');
  alice = await v2('alice');
}, 180_000);

afterAll(async () => {
  await bob?.close().catch(() => undefined);
  await alice?.close().catch(() => undefined);
  await direct?.query('DROP TABLE IF EXISTS adv_approved').catch(() => undefined);
  await direct?.end();
  await stack?.stop();
});

describe('(a) PHI never reaches a contractor, in any field', () => {
  it('a NOT NULL violation on a PHI table does not print the failing row (error text, DETAIL, _meta)', async () => {
    for (const sql of ['UPDATE patients SET created_at = NULL WHERE id = 1', 'UPDATE visits SET patient_id = NULL WHERE id = 1']) {
      const r = await call(bob, 'query', { sql });
      expect(r.isError, sql).toBe(true);
      expect(leaks(r), `${sql}: ${text(r)}`).toEqual([]);
    }
  });

  it('an error raised for some PHI values only is no oracle: CASE WHEN over ssn cannot spell out an SSN', async () => {
    // 1 bit per call: the statement fails (division by zero) iff the condition over the masked column holds.
    const digits = '0123456789';
    let spelled = '';
    for (let k = 1; k <= 3; k++) {
      let lo = 0;
      let hi = 9;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const r = await call(bob, 'query', { sql: `SELECT CASE WHEN substr(ssn, ${k}, 1) <= '${digits[mid]}' THEN 1/(id-id) ELSE 1 END AS x FROM patients WHERE id = 1` });
        if (r.isError && refusal(r)?.status === 'denied') return; // refused by policy: safe
        if (r.isError) hi = mid;
        else lo = mid + 1;
      }
      spelled += digits[lo];
    }
    expect(spelled, 'the first three digits of patient 1 were read through the error/no-error bit').not.toBe('123');
  });

  it('whole rows, arrays, JSON, XML, subqueries, CTEs, UNIONs, casts, escapes and parameters stay masked everywhere', async () => {
    const cases: [string, string[]?][] = [
      ['TABLE patients'],
      ['SELECT p FROM patients p'],
      ['SELECT x FROM (SELECT p AS x FROM patients p) s'],
      ['SELECT ARRAY[name, ssn, email] AS a FROM patients'],
      ["SELECT to_jsonb(p) - 'id' AS j FROM patients p"],
      ['SELECT xmlagg(xmlelement(name x, ssn)) FROM patients'],
      ['WITH c AS (SELECT * FROM patients) SELECT * FROM c'],
      ["SELECT ssn FROM patients UNION ALL SELECT 'x'"],
      ['VALUES ((SELECT diagnosis FROM patients ORDER BY id LIMIT 1))'],
      ['SELECT * FROM patients NATURAL JOIN (SELECT 1 AS id) one'],
      ['SELECT U&"\\0073sn", "DOB"::text FROM (SELECT ssn, dob AS "DOB" FROM patients) q'],
      ['SELECT lower(email) AS e, dob + 0 AS d, dob::text AS t, name::bytea AS b FROM patients'],
      ['SELECT string_agg(notes, \',\') FROM visits'],
      ["SET DateStyle = 'SQL, DMY'; SET bytea_output = 'escape'; SELECT dob, convert_to(name, 'UTF8') FROM patients"],
      ['SELECT ssn FROM patients WHERE id = $1', ['1']],
      ['SELECT $1::text AS echo, ssn FROM patients WHERE id = 1', ['x']],
      ['SELECT jsonb_each_text(to_jsonb(p)) FROM patients p'],
      ['SELECT (SELECT array_agg(v.notes) FROM visits v WHERE v.patient_id = p.id) FROM patients p'],
      ['SELECT ssn::varchar(4) AS a, ssn::char(3) AS b, ssn::"char" AS c, (p).ssn AS d, (SELECT q FROM patients q WHERE q.id = 1).ssn AS e FROM patients p'],
    ];
    for (const client of [bob, await v1('bob')]) {
      for (const [sql, params] of cases) {
        const r = await call(client, 'query', { sql, ...(params ? { params } : {}) });
        expect(leaks(r), `${sql}: ${everything(r).slice(0, 400)}`).toEqual([]);
      }
    }
  });

  it('errors over masked columns are withheld (text and data-dependent SQLSTATE)', async () => {
    for (const sql of ['SELECT ssn::int FROM patients', "SELECT (name || '')::date FROM patients", 'SELECT diagnosis::numeric FROM patients', 'SELECT 1/(length(email) - length(email)) FROM patients', "SELECT to_number(notes, '999') FROM visits"]) {
      const r = await call(bob, 'query', { sql });
      expect(r.isError, sql).toBe(true);
      expect(leaks(r), `${sql}: ${text(r)}`).toEqual([]);
      if (refusal(r)?.status === 'error') expect(refusal(r)!.sqlstate, sql).toBe('22000');
    }
  });

  it('predicates over PHI are refused in every clause, in query and in explain', async () => {
    const sqls = [
      "SELECT id FROM patients WHERE ssn LIKE '123%'",
      "SELECT count(*) FILTER (WHERE ssn LIKE '123%') FROM patients",
      'SELECT id FROM patients ORDER BY dob',
      'SELECT count(*) FROM patients GROUP BY diagnosis',
      'SELECT id FROM patients LIMIT (SELECT length(diagnosis) FROM patients WHERE id = 1)',
      'SELECT generate_series(1, ascii(ssn)) FROM patients WHERE id = 1',
      "SELECT v.id FROM visits v JOIN patients p ON p.id = v.patient_id AND p.name = 'Ada Lovelace'",
      "SELECT 1 WHERE EXISTS (SELECT 1 FROM patients WHERE email LIKE 'ada%')",
    ];
    for (const sql of sqls) {
      for (const tool of ['query', 'explain']) {
        const r = await call(bob, tool, { sql });
        expect(r.isError, `${tool} ${sql}`).toBe(true);
        expect(leaks(r)).toEqual([]);
      }
    }
  });

  it('describe_table, list_tables, explain and approval_status carry no PHI', async () => {
    const results = [
      await call(bob, 'describe_table', { table: 'patients' }),
      await call(bob, 'describe_table', { table: 'visits' }),
      await call(bob, 'describe_table', { table: 'pg_authid', schema: 'pg_catalog' }),
      await call(bob, 'list_tables', {}),
      await call(bob, 'explain', { sql: 'SELECT * FROM patients p JOIN visits v ON v.patient_id = p.id WHERE p.id = 1' }),
      await call(bob, 'explain', { sql: 'SELECT name, ssn FROM patients WHERE id = $1', params: ['1'] }),
    ];
    for (const r of results) expect(leaks(r), everything(r).slice(0, 300)).toEqual([]);
  });

  it("another session's statement text (with PHI literals) is not readable through pg_stat_get_activity()", async () => {
    // pg_stat_activity is on the policy's sensitive_catalog list; the functions behind it are not.
    const slow = direct.query("SELECT pg_sleep(1.5), 'Ada Lovelace 123-45-6789' AS clinician_note");
    await sleep(300);
    const r = await call(bob, 'query', { sql: "SELECT pg_stat_get_backend_activity(s) AS q FROM pg_stat_get_backend_idset() s UNION ALL SELECT query FROM pg_stat_get_activity(NULL)" });
    await slow;
    expect(leaks(r), everything(r).slice(0, 600)).toEqual([]);
  });
});

describe('(b) statements the policy would deny or hold do not run', () => {
  it('stacked statements, transaction control, DO blocks, CTEs, functions, COPY, PREPARE, NUL bytes and comments cannot smuggle one', async () => {
    const visits = await count('visits');
    const cases: [string, string[]?][] = [
      ['SELECT 1; DROP TABLE visits'],
      ['COMMIT; DROP TABLE visits'],
      ['BEGIN; DELETE FROM visits; ROLLBACK'],
      ['ROLLBACK; DELETE FROM visits; COMMIT'],
      ['DO $$ BEGIN DROP TABLE visits; END $$'],
      ["DO $$ BEGIN EXECUTE 'DEL' || 'ETE FROM visits'; END $$"],
      ['WITH d AS (DELETE FROM visits RETURNING 1) SELECT count(*) FROM d'],
      ['EXPLAIN ANALYZE DELETE FROM visits'],
      ['TRUNCATE visits'],
      ['CREATE FUNCTION adv_f() RETURNS int LANGUAGE sql AS $$ DELETE FROM visits RETURNING 1 $$'],
      ["SELECT pg_read_file('/etc/passwd')"],
      ["SELECT pg_catalog.pg_read_file('/etc/hostname')"],
      ["SELECT lo_import('/etc/passwd')"],
      ["COPY visits TO '/tmp/adv-visits'"],
      ["COPY (SELECT 1) TO PROGRAM 'id'"],
      ['COPY visits FROM STDIN'],
      ['PREPARE p AS DELETE FROM visits; EXECUTE p'],
      ['DECLARE c CURSOR FOR SELECT 1'],
      ['SELECT 1\u0000; DROP TABLE visits'],
      ['/* WHERE id = 1 */ DELETE FROM visits -- WHERE id = 1'],
      ['DELETE FROM visits WHERE true'],
      ['DELETE FROM visits WHERE 1 = 1 OR id = 1'],
      ['DELETE FROM visits WHERE id > $1', ['0']],
      ['DELETE FROM visits WHERE id = 1; DELETE FROM visits WHERE id = 2'],
      ["UPDATE pg_settings SET setting = 'pg_catalog' WHERE name = 'search_path'"],
      ['SET search_path = pg_catalog'],
      ["SELECT set_config('search_path', 'pg_catalog', false)"],
      ['SET SESSION AUTHORIZATION DEFAULT'],
      ['SET "role" = \'postgres\''],
      ['GRANT ALL ON patients TO PUBLIC'],
      ['LISTEN adv'],
    ];
    for (const [sql, params] of cases) {
      const r = await call(bob, 'query', { sql, ...(params ? { params } : {}) });
      expect(r.isError, `${sql} ran: ${text(r)}`).toBe(true);
    }
    expect(await count('visits')).toBe(visits);
    expect((await direct.query("SELECT to_regclass('public.visits') AS t, to_regproc('public.adv_f') AS f")).rows[0]).toEqual({ t: 'visits', f: null });
  });

  it('the explain tool runs nothing: its EXPLAIN prefix cannot become ANALYZE or carry a second statement', async () => {
    const visits = await count('visits');
    for (const sql of [
      'ANALYZE visits',
      '(ANALYZE) DELETE FROM visits',
      'DELETE FROM visits',
      'SELECT 1; DELETE FROM visits',
      'WITH d AS (DELETE FROM visits WHERE id = 1 RETURNING 1) SELECT * FROM d',
      'DELETE FROM visits WHERE id = 1',
      'SELECT 1 --\n; DELETE FROM visits',
      '/*/ ANALYZE */ SELECT 1',
    ]) {
      await call(bob, 'explain', { sql });
    }
    expect(await count('visits')).toBe(visits);
  });

  it('very long and deeply nested SQL is refused or run, and the door keeps serving', async () => {
    for (const sql of ['SELECT ' + '('.repeat(50_000) + '1' + ')'.repeat(50_000), 'SELECT ' + 'NOT '.repeat(100_000) + 'true', 'SELECT 1' + ' + 1'.repeat(150_000), `SELECT '${'x'.repeat(900_000)}'`]) {
      const r = await rawCall(await token('bob'), sql);
      expect(r.status, sql.slice(0, 40)).toBeLessThan(500);
    }
    expect((await call(alice, 'query', { sql: 'SELECT 1 AS alive' })).isError).toBeFalsy();
  });
});

describe('(c) approvals bind to one statement, one identity, one run', () => {
  it('an approval runs for its requester only, with the identical text, once — even when two calls race', async () => {
    const sql = 'CREATE TABLE adv_approved (x int)';
    const first = await call(bob, 'query', { sql });
    const id = refusal(first)?.request_id;
    expect(refusal(first)?.status).toBe('approval_required');
    await decideLocally(join(stack.dir, 'approvals'), id!, 'approved', { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] });
    const exists = async () => (await direct.query("SELECT to_regclass('public.adv_approved') AS t")).rows[0].t !== null;

    // Another identity sending the identical statement files its own request; it does not ride on bob's.
    expect(refusal(await call(alice, 'query', { sql }))?.status).toBe('approval_required');
    expect(await exists()).toBe(false);
    // Neither does another statement text (trailing comment, case).
    for (const variant of [`${sql} -- same`, sql.toLowerCase(), `${sql};`]) {
      const r = await call(bob, 'query', { sql: variant });
      expect(r.isError, variant).toBe(true);
    }
    expect(await exists()).toBe(false);
    // Two identical calls at once: exactly one runs.
    const v1bob = await v1('bob');
    const [a, b] = await Promise.all([call(bob, 'query', { sql }), call(v1bob, 'query', { sql })]);
    await v1bob.close();
    expect([a, b].filter((r) => !r.isError)).toHaveLength(1);
    expect(await exists()).toBe(true);
    // And never again.
    const again = await call(bob, 'query', { sql });
    expect(again.isError).toBe(true);
    expect(refusal(again)?.request_id).not.toBe(id);
  });

  it('an approval binds the parameters: other values file a new request and change nothing', async () => {
    const before = (await direct.query('SELECT id, reason FROM visits ORDER BY id')).rows;
    const sql = 'UPDATE visits SET reason = $1 WHERE id > $2';
    const first = await call(bob, 'query', { sql, params: ['adv-approved', '0'] });
    expect(refusal(first)?.status, text(first)).toBe('approval_required');
    await decideLocally(join(stack.dir, 'approvals'), refusal(first)!.request_id!, 'approved', { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] });
    const other = await call(bob, 'query', { sql, params: ['adv-other', '0'] });
    expect(refusal(other)?.status).toBe('approval_required');
    expect((await direct.query('SELECT id, reason FROM visits ORDER BY id')).rows).toEqual(before);
    const ok = await call(bob, 'query', { sql, params: ['adv-approved', '0'] });
    expect(ok.isError, text(ok)).toBeFalsy();
    for (const row of before) await direct.query('UPDATE visits SET reason = $1 WHERE id = $2', [row.reason, row.id]);
  });

  it("approval_status tells another identity nothing about a request (not its statement, not that it exists)", async () => {
    const mine = await call(bob, 'query', { sql: 'DROP TABLE visits' });
    const id = refusal(mine)!.request_id!;
    const foreign = await call(alice, 'approval_status', { request_id: id });
    const none = await call(alice, 'approval_status', { request_id: 'req-000000000000' });
    expect(foreign.isError).toBe(true);
    expect(everything(foreign)).not.toContain('DROP');
    expect(text(foreign).replace(id, 'X')).toBe(text(none).replace('req-000000000000', 'X'));
  });
});

describe('(d) authentication, sessions, Host and Origin', () => {
  it('refuses alg=none, HS256 signed with the public JWKS, a token in the query, Basic, and near-miss audiences', async () => {
    const good = await token('bob');
    const [h, p] = good.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
    const jwks = await (await fetch(stack.issuer.jwksUrl)).text();
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: (JSON.parse(Buffer.from(h!, 'base64url').toString()) as { kid: string }).kid }).sign(new TextEncoder().encode(jwks));
    const u = new URL(url);
    const audiences = [`${url}/`, url.toUpperCase().replace('HTTP://', 'http://'), `http://localhost:${u.port}${u.pathname}`, `${u.origin}/`, u.origin, stack.gateway.mcp!.metadataUrl];
    const bad: Record<string, string> = { none: `Bearer ${none}`, hs256: `Bearer ${hs}`, basic: `Basic ${Buffer.from(`bob:${good}`).toString('base64')}`, empty: 'Bearer ' };
    for (const [i, aud] of audiences.entries()) bad[`aud ${i} ${aud}`] = `Bearer ${await stack.issuer.mint('bob', { audience: aud })}`;
    for (const [what, authorization] of Object.entries(bad)) {
      const r = await post(JSON.stringify(initialize), { authorization });
      expect(r.status, what).toBe(401);
    }
    const inQuery = await fetch(`${url}?access_token=${good}`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(initialize) });
    expect(inQuery.status).toBe(401);
  });

  it('a 2025-era session cannot be used, streamed or deleted by another subject', async () => {
    const bobToken = await token('bob');
    const init = await post(JSON.stringify(initialize), { authorization: `Bearer ${bobToken}` });
    const sid = init.headers.get('mcp-session-id')!;
    await init.text();
    const aliceAuth = `Bearer ${await token('alice')}`;
    const legacy = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    const asAlice = [
      await post(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'query', arguments: { sql: 'SELECT 1' } } }), { ...legacy, authorization: aliceAuth }),
      await fetch(url, { method: 'GET', headers: { ...legacy, accept: 'text/event-stream', authorization: aliceAuth } }),
      await fetch(url, { method: 'DELETE', headers: { ...legacy, authorization: aliceAuth } }),
    ];
    for (const r of asAlice) {
      expect(r.status, r.url).toBe(404);
      await r.text();
    }
    const still = await post(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} }), { ...legacy, authorization: `Bearer ${bobToken}` });
    expect(still.status).toBe(200);
    await still.text();
    await (await fetch(url, { method: 'DELETE', headers: { ...legacy, authorization: `Bearer ${bobToken}` } })).text();
  });

  it('Host and Origin look-alikes are refused before the token is looked at', async () => {
    const t = await token('bob');
    const port = new URL(url).port;
    for (const host of [`localhost.evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `evil.example:${port}`, `[::2]:${port}`]) {
      const r = await rawHttp({ headers: { host, ...JSON_HEADERS, authorization: `Bearer ${t}` }, chunks: [Buffer.from(JSON.stringify(initialize))] });
      expect(r.status, host).toBe(403);
    }
    for (const origin of ['null', 'http://localhost.evil.example', 'http://127.0.0.1@evil.example', 'https://evil.example', 'file://']) {
      const r = await post(JSON.stringify(initialize), { authorization: `Bearer ${t}`, origin });
      expect(r.status, origin).toBe(403);
    }
  });

  it('the client name an agent declares cannot inject upstream startup parameters (NUL: database, options)', async () => {
    const database = stack.pg.database;
    const sql = "SELECT current_database() AS db, current_setting('search_path') AS sp";
    const expected = [[database, '"$user", public']];
    for (const name of ['x\u0000database\u0000postgres', 'x\u0000options\u0000-c search_path=pg_catalog']) {
      for (const make of [() => v2('bob', name), () => v1('bob', name)]) {
        const c = await make();
        const r = await call(c, 'query', { sql });
        await c.close();
        if (r.isError) {
          // Refused before anything ran (the upstream connector refuses a NUL in a startup value), and said so.
          expect(refusal(r), JSON.stringify(name)).toMatchObject({ status: 'error', sqlstate: '08006' });
          expect(text(r), JSON.stringify(name)).toMatch(/could not connect to the upstream database/);
        } else {
          expect(rowsOf(r)[0], JSON.stringify(name)).toEqual(expected);
        }
      }
    }
  });
});

describe('(e) availability', () => {
  it('malformed JSON-RPC, batches, odd methods and content types get a 4xx and the door keeps serving', async () => {
    const auth = { authorization: `Bearer ${await token('bob')}` };
    const modern = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'query' };
    const bodies: [string, Record<string, string>?][] = [
      ['null'], ['42'], ['"x"'], ['[]'], ['{}'], ['{"jsonrpc":"2.0"'],
      [JSON.stringify([initialize, initialize])],
      ['{"jsonrpc":"2.0","id":{"a":1},"method":"tools/call","params":{"name":"query","arguments":"x"}}'],
      ['{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"__proto__","arguments":{}}}', modern],
      ['{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT 1","__proto__":{"x":1}}}}', modern],
      ['{"jsonrpc":"2.0","id":1,"method":"initialize","params":null}'],
      [JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query', arguments: { sql: 'SELECT 1' }, _meta: { ...META(), 'io.modelcontextprotocol/clientInfo': { name: { toString: 1 }, version: [] } } } }), modern],
      [JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query', arguments: { sql: 'SELECT 1', params: ['1', { a: 1 }] }, _meta: META() } }), modern],
      ['{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT 1"}}}', { 'mcp-protocol-version': '1999-01-01' }],
      ['{"jsonrpc":"2.0","method":"notifications/initialized"}'],
      ['\xff\xfe{'],
    ];
    for (const [body, headers] of bodies) {
      const r = await post(body, { ...auth, ...(headers ?? {}) });
      expect(r.status, body.slice(0, 60)).toBeLessThan(500);
      await r.text();
    }
    for (const method of ['GET', 'DELETE', 'PUT', 'OPTIONS', 'PATCH']) {
      const r = await fetch(url, { method, headers: auth });
      expect(r.status, method).toBeLessThan(500);
      await r.text();
    }
    // Deep nesting that the door's JSON handling walks recursively: an error, never a crash.
    const deep = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query","arguments":{"sql":"SELECT 1","x":${'['.repeat(200_000)}${']'.repeat(200_000)}}}}`;
    const d = await post(deep, { ...auth, ...modern });
    expect(await d.text()).not.toMatch(/stack|at .*\.(ts|js)/i);
    expect((await call(alice, 'query', { sql: 'SELECT 1 AS alive' })).isError).toBeFalsy();
  });

  it('bodies over max_request_bytes are refused 413, declared or chunked', async () => {
    const big = Buffer.alloc(1_100_000, 0x20);
    const auth = { authorization: `Bearer ${await token('bob')}` };
    const declared = await rawHttp({ headers: { ...JSON_HEADERS, ...auth, 'content-length': big.length }, chunks: [big] });
    expect(declared.status).toBe(413);
    const chunked = await rawHttp({ headers: { ...JSON_HEADERS, ...auth, 'transfer-encoding': 'chunked' }, chunks: Array.from({ length: 22 }, () => big.subarray(0, 50_000)) });
    expect(chunked.status).toBe(413);
  });

  it('an abandoned HTTP request cancels its statement upstream', async () => {
    const ac = new AbortController();
    const pending = rawCall(await token('bob'), 'SELECT pg_sleep(5) AS adv_abandoned', { signal: ac.signal }).catch(() => null);
    await sleep(500);
    ac.abort();
    await pending;
    await sleep(800);
    expect(Number((await direct.query("SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%adv_abandoned%' AND pid <> pg_backend_pid()")).rows[0].n)).toBe(0);
  });

  it('one call with many statements does not stall the event loop for everyone', async () => {
    let lag = 0;
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      lag = Math.max(lag, now - last - 10);
      last = now;
    }, 10);
    try {
      await rawCall(await token('bob'), 'SELECT 1;'.repeat(20_000));
    } finally {
      clearInterval(tick);
    }
    expect(lag, `the event loop was blocked for ${Math.round(lag)} ms`).toBeLessThan(500);
  });

  it('one identity cannot take every tool-call slot from the others', async () => {
    const t = await token('bob');
    const flood = Array.from({ length: MAX_CALLS }, () => rawCall(t, 'SELECT pg_sleep(2.5)').catch(() => null));
    await sleep(700);
    try {
      const r = await call(alice, 'query', { sql: 'SELECT 1 AS alive' });
      expect(r.isError, text(r)).toBeFalsy();
    } finally {
      await Promise.all(flood);
    }
  });

  it('one identity cannot fill every 2025-era session slot', async () => {
    const bobAuth = `Bearer ${await token('bob')}`;
    const sids: string[] = [];
    try {
      for (let i = 0; i < MAX_SESSIONS; i++) {
        const r = await post(JSON.stringify(initialize), { authorization: bobAuth });
        const sid = r.headers.get('mcp-session-id');
        await r.text();
        if (sid) sids.push(sid);
      }
      const asAlice = await post(JSON.stringify(initialize), { authorization: `Bearer ${await token('alice')}` });
      await asAlice.text();
      expect(asAlice.status).toBe(200);
    } finally {
      for (const sid of sids) await (await fetch(url, { method: 'DELETE', headers: { authorization: bobAuth, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } })).text();
    }
  });

  it('a contractor cannot lock a PHI table against everybody else', async () => {
    const lock = call(bob, 'query', { sql: 'BEGIN; LOCK TABLE patients IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT' });
    await sleep(300);
    const started = Date.now();
    const r = await call(alice, 'query', { sql: 'SELECT count(*) FROM patients' });
    const waited = Date.now() - started;
    await lock;
    expect(r.isError).toBeFalsy();
    expect(waited, `alice waited ${waited} ms behind bob's lock`).toBeLessThan(1500);
  });
});

describe('(f) evidence', () => {
  it('every statement that ran through the door has its decision, its result and its session in the evidence', async () => {
    let events = evidence();
    for (let i = 0, n = -1; i < 50 && n !== events.length; i++) {
      n = events.length;
      await sleep(200);
      events = evidence();
    }
    const mcpSessions = new Set(events.filter((e) => e.type === 'session_start' && e.data.front_door === 'mcp').map((e) => e.data.session_id as string));
    expect(mcpSessions.size).toBeGreaterThan(50);
    const ended = new Set(events.filter((e) => e.type === 'session_end').map((e) => e.data.session_id as string));
    const decisions = new Map(events.filter((e) => e.type === 'statement').map((e) => [e.data.decision_id as string, e]));
    const results = events.filter((e) => e.type === 'statement_result' && mcpSessions.has(e.data.session_id as string));
    for (const s of mcpSessions) expect(ended.has(s), `session ${s} has no end`).toBe(true);
    for (const r of results) {
      const d = decisions.get(r.data.decision_id as string);
      expect(d, `result ${r.data.decision_id} without a decision`).toBeDefined();
      expect(d!.data.session_id).toBe(r.data.session_id);
      if (r.data.outcome === 'ok') expect(['allow', 'mask'], `ran under ${d!.data.action}: ${d!.data.text}`).toContain(d!.data.action);
    }
    // What ran under an approval says so; the failing-row update is on record as an error.
    const approved = [...decisions.values()].filter((d) => (d.data.approval as { request_id?: string } | null)?.request_id);
    expect(approved.map((d) => d.data.text)).toEqual(expect.arrayContaining(['CREATE TABLE adv_approved (x int)', 'UPDATE visits SET reason = $1 WHERE id > $2']));
    const failing = [...decisions.values()].find((d) => d.data.text === 'UPDATE patients SET created_at = NULL WHERE id = 1');
    expect(results.find((r) => r.data.decision_id === failing?.data.decision_id)).toMatchObject({ data: { outcome: 'error', sqlstate: '23502' } });
  });
});
