// `npm run bench:snowflake`: per-call latency (p50/p99, µs) and calls/s of a small SELECT (one row by id,
// unmasked and masked for a contractor) run with the real snowflake-sdk through Verdict's Snowflake door, against
// the same SELECT on the local Snowflake (emulator) directly, each on a kept session; and what a login costs on
// either side. Then ratios and the added latency per call. The last line is one JSON object.
// A statement through Verdict is two upstream statements: the INFORMATION_SCHEMA.TABLES read that checks that what
// it reads is still what the catalog classified (README "The Snowflake door"), then the statement. The emulator
// runs in this process: CPU per call counts it on both sides.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import snowflake from 'snowflake-sdk';
import { validateConfig } from '../config/load.ts';
import { startDevIssuer } from '../identity/dev-issuer.ts';
import { createLogger } from '../ops/log.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startGateway } from '../server.ts';
import { startSnowflakeEmulator } from '../emulators/snowflake/emulator.ts';
import { formatLine, measureSeries, summary, type Series, type SeriesSummary } from './per-call.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);

const PLAIN_SQL = 'SELECT ID, CREATED_AT FROM PATIENTS WHERE ID = 2';
const MASKED_SQL = 'SELECT ID, NAME, SSN FROM PATIENTS WHERE ID = 2';

snowflake.configure({ logLevel: 'OFF' });

/** Logs in; rejects when the login failed (connectAsync() without a callback resolves even then). */
function connect(options: snowflake.ConnectionOptions): Promise<snowflake.Connection> {
  const conn = snowflake.createConnection(options);
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}

function run(conn: snowflake.Connection, sqlText: string): Promise<unknown[][]> {
  return new Promise((resolve, reject) => {
    conn.execute({ sqlText, rowMode: 'array', fetchAsString: ['Number', 'Date'], complete: (err, _stmt, rows) => (err ? reject(err) : resolve((rows ?? []) as unknown[][])) });
  });
}

const destroy = (conn: snowflake.Connection) => new Promise<void>((resolve) => conn.destroy(() => resolve()));

const ACCOUNT = 'VERDICT_BENCH';
const dir = mkdtempSync(join(tmpdir(), 'verdict-sf-bench-'));
// The local Snowflake with the clinic tables, and the service user Verdict logs in as with a key pair.
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateKey = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const sf = await startSnowflakeEmulator({ account: ACCOUNT, clinic: true, users: [{ name: 'svc_verdict', publicKeys: [keys.publicKey], roles: ['ANALYST', 'CONTRACTOR'], defaultRole: 'ANALYST' }] });
const issuer = await startDevIssuer({ audience: 'verdict' });
try {
  // The shipped policy (policies/): CLINIC.PUBLIC.PATIENTS' NAME and SSN are PHI, masked for contractors (bob).
  const { path: bundle } = policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'bench-snowflake' });
  const config = validateConfig({
    listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: null },
    identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
    snowflake_upstreams: {
      warehouse: { account: ACCOUNT, user: 'svc_verdict', private_key: { value: privateKey }, access_url: sf.url, database: 'CLINIC', schema: 'PUBLIC', role: 'ANALYST', role_by_group: { contractors: 'CONTRACTOR' } },
    },
    snowflake: { host: '127.0.0.1', port: 0, account: ACCOUNT },
    policy: { bundle, state_file: join(dir, 'policy-state.json') },
    approvals: { state_dir: join(dir, 'approvals') },
    masking: { hash_key: { value: 'bench' } },
    evidence: { instance: 'bench-snowflake', spool_dir: join(dir, 'evidence', 'spool'), publisher: { kind: 'local-git', repo: join(dir, 'evidence', 'repo'), branch: 'main' } },
    log: { level: 'error' },
  });
  const gw = await startGateway(config, { log: createLogger('error') });
  // Directly: the service user Verdict logs in as, under the role bob's group gets there (CONTRACTOR).
  const directOptions = { account: ACCOUNT, username: 'svc_verdict', authenticator: 'SNOWFLAKE_JWT', privateKey, accessUrl: sf.url, database: 'CLINIC', schema: 'PUBLIC', role: 'CONTRACTOR' } as snowflake.ConnectionOptions;
  const token = await issuer.mint('bob', { ttlSeconds: 3600 });
  const verdictOptions = { account: ACCOUNT, username: 'bob', authenticator: 'OAUTH', token, accessUrl: gw.snowflake!.url } as snowflake.ConnectionOptions;
  const direct = await connect(directOptions);
  const verdict = await connect(verdictOptions);

  const [[, realName, realSsn]] = (await run(direct, MASKED_SQL)) as [[string, string, string]];
  /** One statement; throws unless it returned its one row, masked where asked (never the real values). */
  const select = (conn: snowflake.Connection, sql: string, masked: boolean) => async () => {
    const rows = await run(conn, sql);
    if (rows.length !== 1) throw new Error(`${sql}: expected 1 row, got ${rows.length}`);
    if (sql === MASKED_SQL) {
      const [, name, ssn] = rows[0]! as string[];
      const shows = masked ? name !== realName && ssn !== realSsn : name === realName && ssn === realSsn;
      if (!shows) throw new Error(`${sql}: expected ${masked ? 'masked' : 'real'} values, got ${name}, ${ssn}`);
    }
  };
  const login = (options: snowflake.ConnectionOptions) => async () => destroy(await connect(options));

  const series: Series[] = [
    { name: 'direct', call: select(direct, PLAIN_SQL, false) },
    { name: 'verdict', call: select(verdict, PLAIN_SQL, false) },
    { name: 'direct_masked_sql', call: select(direct, MASKED_SQL, false) },
    { name: 'verdict_masked', call: select(verdict, MASKED_SQL, true) },
    { name: 'direct_login', call: login(directOptions) },
    { name: 'verdict_login', call: login(verdictOptions) },
  ];
  const results = (await measureSeries(series, { seconds: SECONDS, warmupSeconds: WARMUP_SECONDS })).map(summary);
  await destroy(direct);
  await destroy(verdict);
  await gw.close();

  const labels = ['direct (snowflake-sdk → local Snowflake)', 'through Verdict', 'direct (masked SQL)', 'through Verdict, masked', 'login, direct (key pair)', 'login, through Verdict (OAuth)'];
  results.forEach((s, i) => process.stdout.write(formatLine(labels[i]!, s)));
  const [d, v, dm, vm, dl, vl] = results as [SeriesSummary, SeriesSummary, SeriesSummary, SeriesSummary, SeriesSummary, SeriesSummary];
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  process.stdout.write(`Verdict vs direct: ${ratio(v.p50_us, d.p50_us)}× the latency (+${v.p50_us - d.p50_us} µs p50); masked: ${ratio(vm.p50_us, dm.p50_us)}× (+${vm.p50_us - dm.p50_us} µs p50)\n`);
  console.log(
    JSON.stringify({
      bench: 'snowflake',
      seconds: SECONDS,
      ...Object.fromEntries(
        series.flatMap((s, i) => [
          [`${s.name}_p50_us`, results[i]!.p50_us],
          [`${s.name}_p99_us`, results[i]!.p99_us],
          [`${s.name}_calls_per_s`, results[i]!.calls_per_s],
          [`${s.name}_cpu_us_per_call`, results[i]!.cpu_us_per_call],
        ]),
      ),
      ratio_p50: ratio(v.p50_us, d.p50_us),
      ratio_calls_per_s: ratio(v.calls_per_s, d.calls_per_s),
      added_p50_us: v.p50_us - d.p50_us,
      added_p99_us: v.p99_us - d.p99_us,
      masked_ratio_p50: ratio(vm.p50_us, dm.p50_us),
      masked_added_p50_us: vm.p50_us - dm.p50_us,
      login_added_p50_us: vl.p50_us - dl.p50_us,
    }),
  );
} finally {
  await issuer.close();
  await sf.close();
  rmSync(dir, { recursive: true, force: true });
}
