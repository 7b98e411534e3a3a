// `npm run bench:masking-rows`: the response tracker alone, in process, on bench:masking's rows (6 columns; ssn
// and email masked by partial and email): CPU ns per row unmasked and masked, with and without the evidence
// digest, and ns per value of each byte-level mask. No sockets or PostgreSQL, so it shows the rewrite's own cost
// on a shared machine where bench:masking's rows/s are noisy. BENCH_ROWS (default 200000) and BENCH_RUNS
// (default 7; the least is kept) tune it. The last line is one JSON object.
import type { Verdict } from '../../engine/engine.ts';
import type { Decision } from '../../engine/decision/decision.ts';
import { maskFunction, type MaskFn } from '../../engine/masking/methods.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { ResponseTracker } from '../postgres/responses.ts';
import type { RowPlan } from '../postgres/row-plan.ts';
import { SessionModel } from '../postgres/session-model.ts';
import { dataRow, rowDescription } from '../testing/backend-messages.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

const select = {
  text: 'SELECT', kind: 'select', command: 'SELECT', reads: [], writes: [], has_where: false, where_is_trivial: false, functions: [], predicates_on: [],
  result_columns: [], unresolved: [], data_modifying_cte: false, creates_table_from_query: false, copy: null, setting: null, setting_value: null,
  name: null, nested: [], opaque: false, parse_error: null, literal_dependent: false,
} as unknown as StatementAnalysis;
const verdict = { action: 'allow', decisions: [{ action: 'allow', masks: [] } as unknown as Decision], statements: [select] } as unknown as Verdict;
const ctx = { hashKey: Buffer.from('bench') };
const mask = (method: string, params: Record<string, unknown> = {}): MaskFn => maskFunction({ method: method as never, params }, ctx);
const partial = mask('partial', { keep_last: 4 });
const email = mask('email');

// bench:masking's table, framed as PostgreSQL sends it, cut into 64 KiB reads as a socket delivers them.
const ssnOf = (g: number) => `${String(g % 1000).padStart(3, '0')}-${String(g % 100).padStart(2, '0')}-${String(g % 10000).padStart(4, '0')}`;
const all = Buffer.concat(Array.from({ length: ROWS }, (_, i) => dataRow([String(i + 1), `alpha-${i + 1}`, `bravo-${i + 1}`, `charlie-${i + 1}`, ssnOf(i + 1), `user${i + 1}@example.org`])));
const chunks: Buffer[] = [];
for (let p = 0; p < all.length; p += 65536) chunks.push(Buffer.from(all.subarray(p, Math.min(all.length, p + 65536))));

/** CPU ns per row of one pass over the chunks. */
function stream(masked: boolean, digest: boolean): number {
  const t = new ResponseTracker(new SessionModel(() => null));
  t.digestRows = digest;
  const plan: RowPlan | null = masked ? { masks: [null, null, null, null, partial, email], formats: [0] } : null;
  t.push({ type: 'query', verdict, own: [{ plan, scrub: masked, ref: null }] });
  t.transform(rowDescription([23, 25, 25, 25, 25, 25]));
  let bytes = 0;
  const before = process.cpuUsage();
  for (const c of chunks) bytes += t.transform(c).length;
  const used = process.cpuUsage(before);
  if (bytes === 0) throw new Error('nothing came out');
  return ((used.user + used.system) * 1000) / ROWS;
}

/** CPU ns per value of a byte-level mask over SSN- or email-like values. */
function perValue(fn: MaskFn, values: Buffer[]): number {
  const out = Buffer.alloc(1024);
  const before = process.cpuUsage();
  for (let k = 0; k < ROWS; k++) {
    const v = values[k % values.length]!;
    if (fn.bytes!.put(v, 0, v.length, out, 0) === undefined) throw new Error(`${fn.method} took the text path`);
  }
  const used = process.cpuUsage(before);
  return ((used.user + used.system) * 1000) / ROWS;
}

const ssns = Array.from({ length: 1000 }, (_, g) => Buffer.from(ssnOf(g)));
const emails = Array.from({ length: 1000 }, (_, g) => Buffer.from(`user${g + 100000}@example.org`));
const series: Record<string, () => number> = {
  unmasked: () => stream(false, false),
  masked: () => stream(true, false),
  unmasked_digest: () => stream(false, true),
  masked_digest: () => stream(true, true),
  partial: () => perValue(partial, ssns),
  email: () => perValue(email, emails),
  redact: () => perValue(mask('redact'), ssns),
  hash: () => perValue(mask('hash'), ssns),
};
const least: Record<string, number> = {};
for (let i = 0; i < RUNS; i++) for (const [name, run] of Object.entries(series)) least[name] = Math.min(least[name] ?? Infinity, run());
const r = (n: number) => Math.round(n);
console.log(
  JSON.stringify({
    bench: 'masking-rows',
    rows: ROWS,
    ns_per_row_unmasked: r(least.unmasked!),
    ns_per_row_masked: r(least.masked!),
    ns_per_row_unmasked_digest: r(least.unmasked_digest!),
    ns_per_row_masked_digest: r(least.masked_digest!),
    ns_per_value: { partial: r(least.partial!), email: r(least.email!), redact: r(least.redact!), hash: r(least.hash!) },
  }),
);
