// `npm run bench:engine`: decision latency over a realistic statement corpus, cached and uncached,
// with the bare libpg-query parse measured in the same run as the baseline. Last line: one JSON object.
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseSync } from 'libpg-query';
import { createEngine, type DecideContext } from '../engine.ts';
import { loadBundle } from '../policy/bundle.ts';
import { normalizeConnection, normalizeIdentity } from '../policy/input.ts';

/** Statement templates; `$n` is replaced by a varying literal so each call is a new text of a known shape. */
const CORPUS: { kind: string; sql: (n: number) => string }[] = [
  { kind: 'oltp', sql: (n) => `SELECT id, name FROM patients WHERE id = ${n}` },
  { kind: 'oltp', sql: (n) => `SELECT ssn, email FROM patients WHERE mrn = 'MRN-${n}'` },
  { kind: 'oltp', sql: (n) => `SELECT v.id, v.visit_date FROM visits v WHERE v.patient_id = ${n} ORDER BY v.visit_date DESC LIMIT 10` },
  {
    kind: 'join',
    sql: (n) =>
      `SELECT p.name, p.date_of_birth, v.diagnosis, c.diagnosis_code, c.member_id FROM patients p ` +
      `JOIN visits v ON v.patient_id = p.id LEFT JOIN claims c ON c.patient_id = p.id ` +
      `WHERE p.id = ${n} AND v.visit_date > '2025-01-01' ORDER BY v.visit_date`,
  },
  {
    kind: 'join',
    sql: (n) =>
      `WITH recent AS (SELECT patient_id, count(*) AS n FROM visits WHERE visit_date > now() - interval '${n} days' ` +
      `GROUP BY patient_id) SELECT p.id, p.email, r.n FROM patients p JOIN recent r ON r.patient_id = p.id WHERE r.n > 3`,
  },
  { kind: 'dml', sql: (n) => `UPDATE patients SET phone = '555-${n}' WHERE id = ${n}` },
  { kind: 'dml', sql: (n) => `INSERT INTO visits (patient_id, diagnosis, visit_date) VALUES (${n}, 'J06.9', '2026-01-05')` },
  { kind: 'dml', sql: (n) => `DELETE FROM visits WHERE id = ${n}` },
  { kind: 'ddl', sql: (n) => `CREATE INDEX visits_idx_${n} ON visits (patient_id, visit_date)` },
  { kind: 'ddl', sql: (n) => `ALTER TABLE visits ADD COLUMN extra_${n} text` },
];

const ctx: DecideContext = {
  identity: normalizeIdentity({ sub: 'bench', groups: ['analysts'] }),
  connection: normalizeConnection({ front_door: 'postgres', database: 'clinic' }),
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Times `fn` per call over `rounds` passes of the corpus; returns sorted per-call microseconds. */
function timeCalls(rounds: number, fn: (sql: string) => void, offset: number): number[] {
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const t of CORPUS) {
      const sql = t.sql(offset + r);
      const start = performance.now();
      fn(sql);
      samples.push((performance.now() - start) * 1000);
    }
  }
  return samples.sort((a, b) => a - b);
}

// The bundle `npm run policy:build` writes (the bench script builds it first).
const defaultBundlePath = fileURLToPath(new URL('../../.build/bundle.tar.gz', import.meta.url));
const bundle = await loadBundle(process.env.VERDICT_BUNDLE ?? defaultBundlePath);
const cached = await createEngine({ bundle });
const uncached = await createEngine({ bundle, cache: { maxEntries: 0 } });

const rounds = Number(process.env.BENCH_ROUNDS ?? 2000);
// Warm up the JIT and the cache (one entry per shape and identity).
timeCalls(200, (s) => cached.decide(s, ctx), 0);
timeCalls(100, (s) => uncached.decide(s, ctx), 0);
timeCalls(100, (s) => parseSync(s), 0);

const parse = timeCalls(rounds, (s) => parseSync(s), 10_000);
const unc = timeCalls(rounds, (s) => uncached.decide(s, ctx), 20_000);
const hit = timeCalls(rounds, (s) => cached.decide(s, ctx), 30_000);

const byKind: Record<string, number> = {};
for (const kind of new Set(CORPUS.map((c) => c.kind))) {
  const subset = CORPUS.filter((c) => c.kind === kind);
  const s: number[] = [];
  for (let r = 0; r < 300; r++) {
    for (const t of subset) {
      const sql = t.sql(40_000 + r);
      const start = performance.now();
      uncached.decide(sql, ctx);
      s.push((performance.now() - start) * 1000);
    }
  }
  byKind[`uncached_p50_us_${kind}`] = round(percentile(s.sort((a, b) => a - b), 50));
}

// Throughput: a mixed stream through the cached engine (the gateway's steady state), one core.
const n = rounds * CORPUS.length;
const t0 = performance.now();
for (let i = 0; i < n; i++) cached.decide(CORPUS[i % CORPUS.length]!.sql(50_000 + i), ctx);
const decisionsPerS = n / ((performance.now() - t0) / 1000);

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

const result = {
  bench: 'engine',
  statements: CORPUS.length,
  samples_per_series: rounds * CORPUS.length,
  cached_p50_us: round(percentile(hit, 50)),
  cached_p99_us: round(percentile(hit, 99)),
  uncached_p50_us: round(percentile(unc, 50)),
  uncached_p99_us: round(percentile(unc, 99)),
  parse_only_p50_us: round(percentile(parse, 50)),
  ratio_uncached_vs_parse_p50: round(percentile(unc, 50) / percentile(parse, 50)),
  ratio_cached_vs_uncached_p50: round(percentile(hit, 50) / percentile(unc, 50)),
  ...byKind,
  decisions_per_s: Math.round(decisionsPerS),
  cache_hit_rate: round(cached.cache.hits / Math.max(1, cached.cache.hits + cached.cache.misses)),
  target_cached_p50_us: 5,
  target_uncached_p50_us: 150,
};
console.log(JSON.stringify(result));
