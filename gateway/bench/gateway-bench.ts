// `npm run bench:gateway`: pgbench -S (simple and prepared, 8 clients, fixed duration) directly against
// PostgreSQL, through pgbouncer (session pooling) and through Verdict with the default policy, in one
// run, with each proxy's CPU time per transaction — and through a bare Node.js forwarder (node-forwarder.ts),
// the floor any proxy on Node.js stands on; then the latency at 1 client (p50, p99) of each, and the
// system calls per transaction of Verdict's process and pgbouncer's (strace -c over a fixed number of
// transactions). The last line is one JSON object.
// Knobs: BENCH_SECONDS (per run, default 10), BENCH_MORE_CLIENTS (a second client count for pgbouncer and Verdict,
// default 32; 0 skips), BENCH_DURABLE=0 (evidence not awaited), BENCH_CATALOG_CHECK=0
// (no per-statement catalog version check), BENCH_SYSCALL_TX (transactions per client traced, default 500),
// BENCH_CPU_PROFILE=<dir> (a V8 CPU profile of the gateway's thread during each 8-client run through Verdict,
// written as <dir>/verdict-<mode>.cpuprofile: the whole-run profile is mostly the other runs' idle time).
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { promisify } from 'node:util';
import { validateConfig } from '../config/load.ts';
import { startDevIssuer } from '../identity/dev-issuer.ts';
import { createLogger } from '../ops/log.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startGateway } from '../server.ts';
import { findPgBin, startTestPostgres } from '../testing/postgres.ts';

const run = promisify(execFile);
const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = 8;

function ensurePgbouncer(): string {
  const which = spawnSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' });
  if (which.status === 0) return which.stdout.trim();
  if (process.getuid?.() !== 0) throw new Error('pgbouncer is needed for the baseline: install it (Debian: apt-get install pgbouncer)');
  process.stderr.write('bench: installing pgbouncer from Debian (apt-get install pgbouncer)\n');
  spawnSync('apt-get', ['update'], { stdio: 'inherit' });
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'pgbouncer'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error('installing pgbouncer failed');
  return '/usr/sbin/pgbouncer';
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

interface PgbenchResult {
  tps: number;
  failed: number;
  transactions: number;
}

async function pgbench(args: string[], env: Record<string, string>): Promise<PgbenchResult> {
  const { stdout } = await run('pgbench', ['-n', ...args], { env: { ...process.env, PGSSLMODE: 'disable', PGGSSENCMODE: 'disable', ...env }, maxBuffer: 1 << 24 });
  const tps = /tps = ([\d.]+)/.exec(stdout);
  const failed = /number of failed transactions: (\d+)/.exec(stdout);
  const processed = /number of transactions actually processed: (\d+)/.exec(stdout);
  if (!tps) throw new Error(`pgbench printed no tps:\n${stdout}`);
  return { tps: Number(tps[1]), failed: Number(failed?.[1] ?? 0), transactions: Number(processed?.[1] ?? NaN) };
}

/** Per-transaction latencies (µs) at 1 client, from pgbench's transaction log. */
async function latencies(mode: 'simple' | 'prepared', target: string[], env: Record<string, string>, dir: string, tag: string): Promise<number[]> {
  const prefix = join(dir, `lat-${tag}-${mode}`);
  await run('pgbench', ['-n', '-S', '-M', mode, '-c', '1', '-T', String(Math.max(3, DURATION / 2)), '-l', `--log-prefix=${prefix}`, ...target], {
    env: { ...process.env, PGSSLMODE: 'disable', PGGSSENCMODE: 'disable', ...env },
    cwd: dir,
  });
  const files = readdirSync(dir).filter((f) => f.startsWith(`lat-${tag}-${mode}`));
  const values = files.flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => Number(l.split(' ')[2])),
  );
  return values.filter(Number.isFinite).sort((a, b) => a - b);
}

/**
 * CPU time (user + system, µs) a process — or one of its threads, `tid` — has used so far: /proc/<pid>/stat (or
 * /proc/<pid>/task/<tid>/stat) utime + stime, in clock ticks of 10 ms.
 */
function cpuMicros(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** The threads of a process (strace -p takes each: without -f it would follow only the one given). */
function threadsOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number);
}

/**
 * System calls the processes `pids` (all their threads) make per transaction while pgbench runs `tx` transactions
 * per client (8 clients) through them: strace -c, counted, not timed (tracing slows them down). null when strace
 * is missing or may not attach.
 */
async function syscallsPerTransaction(pids: number[], mode: 'simple' | 'prepared', target: string[], env: Record<string, string>, dir: string, tx: number): Promise<{ total: number; write: number; read: number } | null> {
  if (spawnSync('sh', ['-c', 'command -v strace'], { encoding: 'utf8' }).status !== 0) return null;
  const out = join(dir, `strace-${pids.join('-')}-${mode}.txt`);
  const tids = pids.flatMap(threadsOf);
  const tracer = spawn('strace', ['-c', '-o', out, ...tids.flatMap((t) => ['-p', String(t)])], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500));
  if (tracer.exitCode !== null) return null;
  await pgbench(['-S', '-M', mode, '-c', String(CLIENTS), '-j', '2', '-t', String(tx), ...target], env);
  const exited = new Promise((r) => tracer.once('exit', r));
  tracer.kill('SIGINT');
  await exited;
  const text = readFileSync(out, 'utf8');
  // "% time  seconds  usecs/call  calls  [errors]  syscall" per line (strace -c).
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)(?:\s+\d+)?\s+([a-z_0-9]+)$/gm)) if (m[2] !== 'total') counts.set(m[2]!, Number(m[1]));
  const calls = (name: string) => counts.get(name) ?? 0;
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const n = CLIENTS * tx;
  const per = (v: number) => Math.round((v / n) * 100) / 100;
  return { total: per(total), write: per(calls('write') + calls('writev') + calls('sendto') + calls('sendmsg')), read: per(calls('read') + calls('recvfrom') + calls('recvmsg')) };
}

/** With BENCH_CPU_PROFILE set, a V8 CPU profile of this thread from now until stop(name). */
async function startProfile(): Promise<{ stop(name: string): Promise<void> } | null> {
  const out = process.env.BENCH_CPU_PROFILE;
  if (!out) return null;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 }); // µs
  await session.post('Profiler.start');
  return {
    async stop(name) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(join(out, `${name}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;

const dir = mkdtempSync(join(tmpdir(), 'verdict-bench-'));
const children: ChildProcess[] = [];
const server = await startTestPostgres({ auth: 'trust' });
try {
  const bin = findPgBin()!;
  await run(`${bin}/pgbench`, ['-i', '-s', '10', '-q', '--no-vacuum', server.url]);
  const direct = ['-h', '127.0.0.1', '-p', String(server.port), '-U', server.user, server.database];

  // pgbouncer, session pooling (one server connection per client, like Verdict), no TLS, trust.
  const pgbouncer = ensurePgbouncer();
  const bouncerPort = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(join(dir, 'users.txt'), `"${server.user}" ""\n`);
  writeFileSync(
    ini,
    `[databases]\n${server.database} = host=127.0.0.1 port=${server.port} dbname=${server.database}\n` +
      `[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${bouncerPort}\nauth_type = trust\nauth_file = ${join(dir, 'users.txt')}\n` +
      `pool_mode = session\nmax_client_conn = 200\ndefault_pool_size = 100\nunix_socket_dir =\nlogfile = ${join(dir, 'pgbouncer.log')}\n`,
  );
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout);
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout);
    for (const f of [dir, ini, join(dir, 'users.txt')]) chownSync(f, uid, gid);
  }
  const bouncer = spawn(process.getuid?.() === 0 ? 'runuser' : pgbouncer, process.getuid?.() === 0 ? ['-u', 'postgres', '--', pgbouncer, ini] : [ini], {
    stdio: 'ignore',
  });
  children.push(bouncer);
  await new Promise((r) => setTimeout(r, 1000));
  const viaBouncer = ['-h', '127.0.0.1', '-p', String(bouncerPort), '-U', server.user, server.database];
  // pgbouncer's own process (under runuser when the bench runs as root).
  const bouncerPid =
    Number(
      spawnSync('pgrep', ['-x', 'pgbouncer'], { encoding: 'utf8' })
        .stdout.trim()
        .split('\n')
        .find((pid) => pid !== '' && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(ini)),
    ) || 0;

  // The Node.js floor: a forwarder that only copies bytes, in its own process like pgbouncer.
  const forwarder = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'node-forwarder.ts'), String(server.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(forwarder);
  const forwarderPort = await new Promise<number>((resolve, reject) => {
    forwarder.stdout!.setEncoding('utf8').once('data', (line: string) => {
      const m = /^listening (\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`node-forwarder printed ${JSON.stringify(line)}`));
    });
    forwarder.once('exit', (code) => reject(new Error(`node-forwarder exited with ${code}`)));
  });
  const viaForwarder = ['-h', '127.0.0.1', '-p', String(forwarderPort), '-U', server.user, server.database];

  // Verdict with the default policy.
  const issuer = await startDevIssuer({ audience: 'verdict' });
  const { path: bundle } = policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'bench' });
  const config = validateConfig({
    listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: null },
    identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
    upstreams: { bench: { host: '127.0.0.1', port: server.port, database: server.database, user: server.user, tls: { mode: 'disable' }, catalog_check: process.env.BENCH_CATALOG_CHECK !== '0' } },
    policy: { bundle },
    approvals: { state_dir: join(dir, 'approvals') },
    masking: { hash_key: { value: 'bench' } },
    evidence: {
      instance: 'bench',
      spool_dir: join(dir, 'evidence', 'spool'),
      require_durable: process.env.BENCH_DURABLE !== '0',
      batch: { max_lines: Number(process.env.BENCH_BATCH_LINES ?? 20_000), max_age_ms: 5000 },
      publisher: { kind: 'local-git', repo: join(dir, 'evidence', 'repo'), branch: 'main' },
    },
    log: { level: 'error' },
  });
  const gw = await startGateway(config, { log: createLogger('error') });
  const token = await issuer.mint('alice', { ttlSeconds: 3600 });
  const viaVerdict = ['-h', '127.0.0.1', '-p', String(gw.address.port), '-U', 'alice', 'bench'];
  const verdictEnv = { PGPASSWORD: token };

  const result: Record<string, number | string> = { bench: 'gateway', clients: CLIENTS, seconds: DURATION };
  for (const mode of ['simple', 'prepared'] as const) {
    const common = ['-S', '-M', mode, '-c', String(CLIENTS), '-j', '2', '-T', String(DURATION)];
    const d = await pgbench([...common, ...direct], {});
    const bouncerCpu = bouncerPid ? cpuMicros(bouncerPid) : NaN;
    const b = await pgbench([...common, ...viaBouncer], {});
    const bouncerUsed = bouncerPid ? cpuMicros(bouncerPid) - bouncerCpu : NaN;
    const forwarderCpu = cpuMicros(forwarder.pid!);
    const f = await pgbench([...common, ...viaForwarder], {});
    const forwarderUsed = cpuMicros(forwarder.pid!) - forwarderCpu;
    const profiler = await startProfile();
    const mainCpu = cpuMicros(process.pid, process.pid);
    const verdictCpu = process.cpuUsage();
    const v = await pgbench([...common, ...viaVerdict], verdictEnv);
    const verdictUsed = process.cpuUsage(verdictCpu);
    const mainUsed = cpuMicros(process.pid, process.pid) - mainCpu;
    await profiler?.stop(`verdict-${mode}`);
    if (v.failed > 0) throw new Error(`${v.failed} transactions failed through Verdict`);
    // CPU per transaction: the proxy's own cost, steadier than TPS on a shared machine (all threads of each).
    result[`cpu_us_per_tx_pgbouncer_${mode}`] = Math.round(bouncerUsed / b.transactions);
    result[`cpu_us_per_tx_node_forwarder_${mode}`] = Math.round(forwarderUsed / f.transactions);
    result[`cpu_us_per_tx_verdict_${mode}`] = Math.round((verdictUsed.user + verdictUsed.system) / v.transactions);
    // Of which in the kernel (socket and spool system calls), and on the event loop's thread (the rest: V8's
    // garbage-collection and compiler threads, libuv's pool writing and fsyncing the spool).
    result[`cpu_sys_us_per_tx_verdict_${mode}`] = Math.round(verdictUsed.system / v.transactions);
    result[`cpu_main_thread_us_per_tx_verdict_${mode}`] = Math.round(mainUsed / v.transactions);
    result[`tps_direct_${mode}`] = Math.round(d.tps);
    result[`tps_pgbouncer_${mode}`] = Math.round(b.tps);
    result[`tps_node_forwarder_${mode}`] = Math.round(f.tps);
    result[`tps_verdict_${mode}`] = Math.round(v.tps);
    result[`ratio_vs_pgbouncer_${mode}`] = Math.round((v.tps / b.tps) * 100) / 100;
    // What a proxy on Node.js reaches at best on this machine, and how much of that Verdict keeps.
    result[`ratio_node_forwarder_vs_pgbouncer_${mode}`] = Math.round((f.tps / b.tps) * 100) / 100;
    result[`ratio_vs_node_forwarder_${mode}`] = Math.round((v.tps / f.tps) * 100) / 100;
  }
  // With more clients: throughput that rises with them was waiting on something (a check, durability) rather
  // than short of CPU at 8 (BENCH_MORE_CLIENTS, default 32; 0 skips).
  const more = Number(process.env.BENCH_MORE_CLIENTS ?? 32);
  if (more > 0) {
    for (const mode of ['simple', 'prepared'] as const) {
      const common = ['-S', '-M', mode, '-c', String(more), '-j', '2', '-T', String(DURATION)];
      const b = await pgbench([...common, ...viaBouncer], {});
      const v = await pgbench([...common, ...viaVerdict], verdictEnv);
      if (v.failed > 0) throw new Error(`${v.failed} transactions failed through Verdict`);
      result[`tps_pgbouncer_${mode}_${more}_clients`] = Math.round(b.tps);
      result[`tps_verdict_${mode}_${more}_clients`] = Math.round(v.tps);
      result[`ratio_vs_pgbouncer_${mode}_${more}_clients`] = Math.round((v.tps / b.tps) * 100) / 100;
    }
  }
  // Latency at 1 client: what Verdict adds, against what pgbouncer adds, over PostgreSQL directly.
  for (const mode of ['simple', 'prepared'] as const) {
    const ld = await latencies(mode, direct, {}, dir, 'direct');
    const lb = await latencies(mode, viaBouncer, {}, dir, 'pgbouncer');
    const lf = await latencies(mode, viaForwarder, {}, dir, 'forwarder');
    const lv = await latencies(mode, viaVerdict, verdictEnv, dir, 'verdict');
    for (const p of [50, 99] as const) {
      result[`latency_direct_${mode}_p${p}_us`] = pct(ld, p);
      result[`added_latency_pgbouncer_${mode}_p${p}_us`] = pct(lb, p) - pct(ld, p);
      result[`added_latency_node_forwarder_${mode}_p${p}_us`] = pct(lf, p) - pct(ld, p);
      result[`added_latency_verdict_${mode}_p${p}_us`] = pct(lv, p) - pct(ld, p);
    }
  }
  // System calls per transaction (the prepared protocol's cost is mostly socket writes): Verdict's process
  // (every thread: the event loop and the thread pool's fsyncs) against pgbouncer's.
  const tx = Number(process.env.BENCH_SYSCALL_TX ?? 500);
  for (const mode of ['simple', 'prepared'] as const) {
    const v = await syscallsPerTransaction([process.pid], mode, viaVerdict, verdictEnv, dir, tx);
    const b = bouncerPid ? await syscallsPerTransaction([bouncerPid], mode, viaBouncer, {}, dir, tx) : null;
    if (v) [result[`syscalls_per_tx_verdict_${mode}`], result[`writes_per_tx_verdict_${mode}`]] = [v.total, v.write];
    if (b) [result[`syscalls_per_tx_pgbouncer_${mode}`], result[`writes_per_tx_pgbouncer_${mode}`]] = [b.total, b.write];
  }
  result.target_ratio_vs_pgbouncer = 0.8;
  await gw.close();
  await issuer.close();
  console.log(JSON.stringify(result));
} finally {
  for (const c of children) c.kill('SIGTERM');
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
