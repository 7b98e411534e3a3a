// `npm run bench:mcp`: per-call latency (p50/p99, µs) and calls/s of the MCP `query` tool with the official
// SDK client (one row by primary key, unmasked and masked for a contractor), against the same SELECT run
// directly on PostgreSQL with node-postgres, on a fresh connection per call (an MCP call is a session of its
// own) and on a kept one; then ratios and the added latency per call. The last line is one JSON object.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { validateConfig } from '../config/load.ts';
import { startDevIssuer } from '../identity/dev-issuer.ts';
import { createLogger } from '../ops/log.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startGateway } from '../server.ts';
import { callTool, textOf, v1Client, v2Client, type McpTestClient, type ToolResult } from '../testing/mcp-clients.ts';
import { startTestPostgres } from '../testing/postgres.ts';
import { formatLine, measureSeries, summary, type Series } from './per-call.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
/** v2 (the SDK's v2 client, current revision), v2-legacy (its 2025 handshake, a session) or v1. */
const CLIENT = process.env.BENCH_MCP_CLIENT ?? 'v2';
if (!['v2', 'v2-legacy', 'v1'].includes(CLIENT)) throw new Error(`BENCH_MCP_CLIENT: v2, v2-legacy or v1, not ${CLIENT}`);

const PLAIN_SQL = 'SELECT id, created_at FROM patients WHERE id = 2';
const MASKED_SQL = 'SELECT id, name, ssn, dob FROM patients WHERE id = 2';

const dir = mkdtempSync(join(tmpdir(), 'verdict-mcp-bench-'));
const server = await startTestPostgres({ auth: 'trust' });
try {
  await server.exec(`
    CREATE TABLE patients (id int PRIMARY KEY, name text NOT NULL, ssn text NOT NULL, dob date NOT NULL, created_at timestamptz NOT NULL DEFAULT '2026-01-05 09:00:00+00');
    INSERT INTO patients (id, name, ssn, dob) SELECT g, 'Patient ' || g, lpad(g::text, 3, '0') || '-45-6789', DATE '1950-01-01' + g FROM generate_series(1, 1000) g;
    ANALYZE;`);
  // The default policy: public.patients' name, ssn and dob are PHI, masked for contractors (bob).
  const issuer = await startDevIssuer({ audience: 'verdict' });
  const { path: bundle } = policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'bench-mcp' });
  const config = validateConfig({
    listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: null },
    identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
    upstreams: { bench: { host: '127.0.0.1', port: server.port, database: server.database, user: server.user, tls: { mode: 'disable' } } },
    mcp: { host: '127.0.0.1', port: 0 },
    policy: { bundle },
    approvals: { state_dir: join(dir, 'approvals') },
    masking: { hash_key: { value: 'bench' } },
    evidence: { instance: 'bench-mcp', spool_dir: join(dir, 'evidence', 'spool'), publisher: { kind: 'local-git', repo: join(dir, 'evidence', 'repo'), branch: 'main' } },
    log: { level: 'error' },
  });
  const gw = await startGateway(config, { log: createLogger('error') });
  const url = gw.mcp!.url;
  const token = await issuer.mint('bob', { audience: url, ttlSeconds: 3600 });
  const client: McpTestClient =
    CLIENT === 'v1' ? await v1Client(url, token, { name: 'bench' }) : await v2Client(url, token, { mode: CLIENT === 'v2-legacy' ? 'legacy' : 'auto', name: 'bench' });

  const kept = new pg.Client(server.url);
  await kept.connect();
  const { rows: raw } = await kept.query<{ name: string; ssn: string }>(MASKED_SQL);
  /** One tool call; throws unless it ran and returned one row (masked where asked, never the real values). */
  const viaMcp = (sql: string, masked: boolean) => async () => {
    const r: ToolResult = await callTool(client, 'query', { sql });
    if (r.isError) throw new Error(`the MCP call failed: ${textOf(r)}`);
    const out = (r.structuredContent as { results: { rows: unknown[][]; columns: { masked: boolean }[] }[] }).results[0]!;
    if (out.rows.length !== 1) throw new Error(`expected 1 row, got ${out.rows.length}`);
    if (out.columns.some((c) => c.masked) !== masked) throw new Error(`${sql}: expected ${masked ? 'masked' : 'unmasked'} columns`);
    if (masked && JSON.stringify(r).includes(raw[0]!.ssn)) throw new Error('the masked call returned the real SSN');
  };
  const direct = {
    fresh: (sql: string) => async () => {
      const c = new pg.Client(server.url);
      await c.connect();
      try {
        if ((await c.query(sql)).rows.length !== 1) throw new Error('expected 1 row');
      } finally {
        await c.end();
      }
    },
    kept: (sql: string) => async () => {
      if ((await kept.query(sql)).rows.length !== 1) throw new Error('expected 1 row');
    },
  };

  const series: Series[] = [
    { name: 'direct_fresh', call: direct.fresh(PLAIN_SQL) },
    { name: 'direct_kept', call: direct.kept(PLAIN_SQL) },
    { name: 'mcp', call: viaMcp(PLAIN_SQL, false) },
    { name: 'direct_fresh_masked_sql', call: direct.fresh(MASKED_SQL) },
    { name: 'direct_kept_masked_sql', call: direct.kept(MASKED_SQL) },
    { name: 'mcp_masked', call: viaMcp(MASKED_SQL, true) },
  ];
  const results = await measureSeries(series, { seconds: SECONDS, warmupSeconds: WARMUP_SECONDS });
  await kept.end();
  await client.close();
  await gw.close();
  await issuer.close();

  const [fresh, keptR, mcp, freshM, keptM, mcpM] = results.map(summary);
  const lines = [
    ['direct, fresh connection per call', fresh!],
    ['direct, kept connection', keptR!],
    [`MCP query tool (${CLIENT} client)`, mcp!],
    ['direct, fresh connection (masked SQL)', freshM!],
    ['direct, kept connection (masked SQL)', keptM!],
    [`MCP query tool, masked (${CLIENT} client)`, mcpM!],
  ] as const;
  for (const [label, s] of lines) process.stdout.write(formatLine(label, s));
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  process.stdout.write(
    `MCP vs fresh connection: ${ratio(mcp!.p50_us, fresh!.p50_us)}× the latency (+${mcp!.p50_us - fresh!.p50_us} µs p50); masked: ${ratio(mcpM!.p50_us, freshM!.p50_us)}× (+${mcpM!.p50_us - freshM!.p50_us} µs p50)\n`,
  );
  console.log(
    JSON.stringify({
      bench: 'mcp',
      client: CLIENT,
      seconds: SECONDS,
      ...Object.fromEntries(
        (
          [
            ['direct_fresh', fresh!],
            ['direct_kept', keptR!],
            ['mcp', mcp!],
            ['direct_fresh_masked_sql', freshM!],
            ['direct_kept_masked_sql', keptM!],
            ['mcp_masked', mcpM!],
          ] as const
        ).flatMap(([k, s]) => [
          [`${k}_p50_us`, s.p50_us],
          [`${k}_p99_us`, s.p99_us],
          [`${k}_calls_per_s`, s.calls_per_s],
          [`${k}_cpu_us_per_call`, s.cpu_us_per_call],
        ]),
      ),
      ratio_p50_vs_fresh: ratio(mcp!.p50_us, fresh!.p50_us),
      ratio_p50_vs_kept: ratio(mcp!.p50_us, keptR!.p50_us),
      ratio_calls_per_s_vs_fresh: ratio(mcp!.calls_per_s, fresh!.calls_per_s),
      added_p50_us_vs_fresh: mcp!.p50_us - fresh!.p50_us,
      added_p99_us_vs_fresh: mcp!.p99_us - fresh!.p99_us,
      added_p50_us_vs_kept: mcp!.p50_us - keptR!.p50_us,
      masked_ratio_p50_vs_fresh: ratio(mcpM!.p50_us, freshM!.p50_us),
      masked_added_p50_us_vs_fresh: mcpM!.p50_us - freshM!.p50_us,
      masked_added_p50_us_vs_unmasked: mcpM!.p50_us - mcp!.p50_us,
      added_cpu_us_per_call_vs_fresh: mcp!.cpu_us_per_call - fresh!.cpu_us_per_call,
    }),
  );
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
