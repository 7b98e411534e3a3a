// Benchmark: events/s into the spool (group fsync + sealing with signed checkpoints) and verify lines/s.
// Run: npm run bench:evidence -- [--events N] [--concurrency C]. Last line: one JSON object.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { EvidenceEvent } from '../../engine/evidence/events.ts';
import { sessionEvents } from '../../engine/fixtures/evidence.ts';
import { verifyEvidence } from '../../engine/evidence/verify.ts';
import { listFiles } from '../evidence/durable-fs.ts';
import { openSpool } from '../evidence/spool.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '200000' }, concurrency: { type: 'string', default: '512' }, 'batch-lines': { type: 'string', default: '1000' } } });
const total = Number(values.events);
const concurrency = Number(values.concurrency);
const dir = mkdtempSync(join(tmpdir(), 'verdict-evidence-bench-'));

try {
  // A pool of realistic events (sessions with statements of every action), reused round-robin.
  const pool: EvidenceEvent[] = [];
  for (let i = 0; pool.length < 5000; i++) pool.push(...sessionEvents(i));

  const spool = await openSpool({ dir: join(dir, 'spool'), stream: 'bench-1', batchMaxLines: Number(values['batch-lines']), batchMaxAgeMs: 1000 });
  // `concurrency` callers (sessions) each await their own append before the next, as the gateway does
  // with require_durable: throughput comes from group commit, not from skipping the wait.
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        await spool.append(pool[i % pool.length]!);
      }
    }),
  );
  await spool.seal();
  const appendMs = performance.now() - t0;
  await spool.close();

  const files = new Map<string, Uint8Array>();
  for (const rel of await listFiles(spool.outbox)) files.set(rel, readFileSync(join(spool.outbox, rel)));
  const batches = [...files.keys()].filter((p) => p.endsWith('.jsonl')).length;
  // Best of three: the first pass also pays for JIT warm-up, which a long audit amortizes.
  let verifyMs = Infinity;
  let report = await verifyEvidence(files);
  for (let i = 0; i < 3; i++) {
    const t1 = performance.now();
    report = await verifyEvidence(files);
    verifyMs = Math.min(verifyMs, performance.now() - t1);
  }
  if (!report.clean) throw new Error(`bench evidence did not verify clean: ${JSON.stringify(report.findings.slice(0, 3))}`);

  const result = {
    bench: 'evidence',
    events: total,
    concurrency,
    batch_lines: Number(values['batch-lines']),
    batches,
    append_events_per_s: Math.round(total / (appendMs / 1000)),
    append_ms: Math.round(appendMs),
    verify_lines: report.lines,
    verify_lines_per_s: Math.round(report.lines / (verifyMs / 1000)),
    verify_ms: Math.round(verifyMs),
    targets: { append_events_per_s: 20000, verify_lines_per_s: 100000 },
  };
  process.stderr.write(`spool: ${result.append_events_per_s} events/s (${total} events, ${concurrency} concurrent callers, ${batches} sealed batches); verify: ${result.verify_lines_per_s} lines/s\n`);
  console.log(JSON.stringify(result));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
