// `npm run bench:masking`: streams 1,000,000 rows (6 columns) directly from PostgreSQL, through Verdict with
// no column masked, and through Verdict with 2 of the 6 masked, in one run; a minimal raw-protocol client
// counts DataRows so the client costs the same everywhere. The last line is one JSON object: rows/s of each
// (best of BENCH_RUNS interleaved runs, default 3), ratio_masked_vs_unmasked against target_masked_vs_unmasked,
// ratio_unmasked_vs_direct, and this process's CPU ns per row. BENCH_ROWS sets the row count.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'pg-protocol/dist/serializer.js';
import { validateConfig } from '../config/load.ts';
import { startDevIssuer } from '../identity/dev-issuer.ts';
import { createLogger } from '../ops/log.ts';
import { policiesDir } from '../policy/paths.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { AuthCode, BackendCode } from '../postgres/protocol/constants.ts';
import { startGateway } from '../server.ts';
import { startTestPostgres } from '../testing/postgres.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);

/** Runs one simple query on a fresh connection and counts the DataRows; returns rows/s. */
async function stream(port: number, user: string, password: string | null, database: string, sql: string): Promise<{ rows: number; perSecond: number }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((r) => socket.once('connect', r));
  socket.write(serialize.startup({ user, database }));
  let pending = Buffer.alloc(0);
  let rows = 0;
  let started = 0;
  let phase: 'auth' | 'query' = 'auth';
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let p = 0;
      while (p + 5 <= buf.length) {
        const type = buf[p]!;
        const len = buf.readUInt32BE(p + 1);
        if (p + 1 + len > buf.length) break;
        if (type === BackendCode.DataRow) rows++;
        else if (type === BackendCode.Authentication && buf.readUInt32BE(p + 5) === AuthCode.CleartextPassword) socket.write(serialize.password(password ?? ''));
        else if (type === BackendCode.ErrorResponse) return reject(new Error(`server error: ${buf.toString('utf8', p + 5, p + 1 + len).replace(/\0/g, ' ')}`));
        else if (type === BackendCode.ReadyForQuery) {
          if (phase === 'auth') {
            phase = 'query';
            started = performance.now();
            socket.write(serialize.query(sql));
          } else {
            const seconds = (performance.now() - started) / 1000;
            socket.end(serialize.end());
            return resolve({ rows, perSecond: rows / seconds });
          }
        }
        p += 1 + len;
      }
      pending = p < buf.length ? Buffer.from(buf.subarray(p)) : Buffer.alloc(0);
      buf = pending;
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'verdict-mbench-'));
const server = await startTestPostgres({ auth: 'trust' });
try {
  await server.exec(`
    CREATE TABLE bench_plain (id int, a text, b text, c text, ssn text, email text);
    INSERT INTO bench_plain SELECT g, 'alpha-' || g, 'bravo-' || g, 'charlie-' || g,
      lpad((g % 1000)::text, 3, '0') || '-' || lpad((g % 100)::text, 2, '0') || '-' || lpad((g % 10000)::text, 4, '0'),
      'user' || g || '@example.org' FROM generate_series(1, ${ROWS}) g;
    CREATE TABLE bench_phi AS SELECT * FROM bench_plain;
    ANALYZE;`);
  // The default policy plus the bench table's classification: ssn and email are PHI for analysts.
  const policies = join(dir, 'policies');
  cpSync(policiesDir, policies, { recursive: true });
  const cls = join(policies, 'classification', 'data.yaml');
  writeFileSync(cls, readFileSync(cls, 'utf8').replace('phi:\n', 'phi:\n  public.bench_phi:\n    ssn: ssn\n    email: email\n'));
  const { path: bundle } = policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'bench-masking', source: policies });
  const issuer = await startDevIssuer({ audience: 'verdict', users: [{ username: 'ann', email: 'ann@clinic.example', groups: ['analysts'] }] });
  const config = validateConfig({
    listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: null },
    identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
    upstreams: { bench: { host: '127.0.0.1', port: server.port, database: server.database, user: server.user, tls: { mode: 'disable' } } },
    policy: { bundle },
    approvals: { state_dir: join(dir, 'approvals') },
    masking: { hash_key: { value: 'bench' } },
    evidence: { instance: 'mbench', spool_dir: join(dir, 'evidence', 'spool'), publisher: { kind: 'local-git', repo: join(dir, 'evidence', 'repo'), branch: 'main' } },
    log: { level: 'error' },
  });
  const gw = await startGateway(config, { log: createLogger('error') });
  const token = await issuer.mint('ann');
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const series = {
    direct: () => stream(server.port, server.user, null, server.database, 'SELECT * FROM bench_plain'),
    unmasked: () => stream(gw.address.port, 'ann', token, 'bench', 'SELECT * FROM bench_plain'),
    masked: () => stream(gw.address.port, 'ann', token, 'bench', 'SELECT * FROM bench_phi'),
  };
  // Interleaved best-of-N (direct, unmasked, masked; again…): the machine is shared, so each series gets the
  // same chances, and the ratios compare runs made moments apart.
  // CPU time of this process (gateway and counting client) per row, least of the runs: what another session's
  // load on the machine disturbs least, so it shows where the time goes when rows/s are noisy.
  const top = { direct: 0, unmasked: 0, masked: 0 };
  const cpu = { direct: Infinity, unmasked: Infinity, masked: Infinity };
  for (let i = 0; i < runs; i++) {
    for (const name of ['direct', 'unmasked', 'masked'] as const) {
      const before = process.cpuUsage();
      const r = await series[name]();
      const used = process.cpuUsage(before);
      if (r.rows !== ROWS) throw new Error(`expected ${ROWS} rows, got ${r.rows}`);
      top[name] = Math.max(top[name], r.perSecond);
      cpu[name] = Math.min(cpu[name], ((used.user + used.system) * 1000) / ROWS);
    }
  }
  const { direct, unmasked, masked } = top;
  await gw.close();
  await issuer.close();
  console.log(
    JSON.stringify({
      bench: 'masking',
      rows: ROWS,
      columns: 6,
      masked_columns: 2,
      rows_per_s_direct: Math.round(direct),
      rows_per_s_unmasked: Math.round(unmasked),
      rows_per_s_masked: Math.round(masked),
      ratio_unmasked_vs_direct: Math.round((unmasked / direct) * 100) / 100,
      ratio_masked_vs_unmasked: Math.round((masked / unmasked) * 100) / 100,
      target_masked_vs_unmasked: 0.8,
      cpu_ns_per_row_direct: Math.round(cpu.direct),
      cpu_ns_per_row_unmasked: Math.round(cpu.unmasked),
      cpu_ns_per_row_masked: Math.round(cpu.masked),
    }),
  );
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
