// Per-call latency for the door benches (bench:mcp, bench:snowflake): series of one call at a time, warmed up,
// then measured in interleaved rounds so that every series meets the same noise of a shared machine.

/** One kind of call to time: `call` resolves when the call's answer is in (and checked). */
export interface Series {
  name: string;
  call: () => Promise<void>;
}

/** What one series measured: each call's latency (µs), the time spent calling (ms) and this process' CPU time in it (µs). */
export interface SeriesResult {
  name: string;
  latenciesUs: number[];
  elapsedMs: number;
  cpuUs: number;
}

/**
 * The summary a bench prints: p50/p99 in µs, calls per second at one call at a time, and the CPU time (user +
 * system, µs) this process spent per call — client and in-process gateway together; steadier than latency on a
 * shared machine.
 */
export interface SeriesSummary {
  calls: number;
  p50_us: number;
  p99_us: number;
  mean_us: number;
  calls_per_s: number;
  cpu_us_per_call: number;
}

/**
 * Runs every series alone for `warmupSeconds` (unmeasured), then `seconds` each, in `rounds` interleaved rounds
 * (series A, B, C, A, B, C, …). A call that throws ends the bench: a failing call is not a fast one.
 *
 * @example
 * const [direct, door] = await measureSeries([{ name: 'direct', call: a }, { name: 'door', call: b }], { seconds: 3, warmupSeconds: 1 });
 */
export async function measureSeries(series: Series[], options: { seconds: number; warmupSeconds: number; rounds?: number }): Promise<SeriesResult[]> {
  for (const s of series) await runFor(s, options.warmupSeconds * 1000, null);
  const results = series.map((s) => ({ name: s.name, latenciesUs: [] as number[], elapsedMs: 0, cpuUs: 0 }));
  const rounds = options.rounds ?? 3;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < series.length; i++) {
      const cpu = process.cpuUsage();
      results[i]!.elapsedMs += await runFor(series[i]!, (options.seconds * 1000) / rounds, results[i]!.latenciesUs);
      const used = process.cpuUsage(cpu);
      results[i]!.cpuUs += used.user + used.system;
    }
  }
  return results;
}

/** Calls `s` one at a time for `ms`; returns the time taken (ms), each call's latency pushed to `out`. */
async function runFor(s: Series, ms: number, out: number[] | null): Promise<number> {
  const start = performance.now();
  const end = start + ms;
  let now = start;
  do {
    const t = performance.now();
    await s.call();
    now = performance.now();
    out?.push((now - t) * 1000);
  } while (now < end);
  return now - start;
}

/**
 * p50, p99 and mean (µs, rounded), calls/s and CPU µs per call of a series.
 *
 * @example
 * summary({ name: 'x', latenciesUs: [100, 200], elapsedMs: 0.3, cpuUs: 150 }) // { calls: 2, p50_us: 200, … }
 */
export function summary(r: SeriesResult): SeriesSummary {
  const s = [...r.latenciesUs].sort((a, b) => a - b);
  const pct = (p: number) => Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!);
  return {
    calls: s.length,
    p50_us: pct(50),
    p99_us: pct(99),
    mean_us: Math.round(s.reduce((a, b) => a + b, 0) / s.length),
    calls_per_s: Math.round((s.length / r.elapsedMs) * 1000),
    cpu_us_per_call: Math.round(r.cpuUs / s.length),
  };
}

/** One human-readable line of a series' summary. */
export function formatLine(label: string, s: SeriesSummary): string {
  return `${label.padEnd(44)} p50 ${String(s.p50_us).padStart(7)} µs  p99 ${String(s.p99_us).padStart(7)} µs  ${String(s.calls_per_s).padStart(6)} calls/s  ${String(s.cpu_us_per_call).padStart(6)} µs CPU/call  (${s.calls} calls)\n`;
}
