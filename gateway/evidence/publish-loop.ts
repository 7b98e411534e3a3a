// The publish loop: drains a spool's outbox into an EvidencePublisher off the data path. Its queue is
// the outbox on disk (bounded by nothing but the disk), so appends never wait for publishing.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { messageOf } from '../../engine/errors.ts';
import { decodeCheckpoint } from '../../engine/evidence/checkpoint.ts';
import { parseEvidencePath } from '../../engine/evidence/layout.ts';
import { listFiles } from './durable-fs.ts';
import { PublishError } from './errors.ts';
import type { EvidenceFile, EvidencePublisher } from './publisher.ts';

export interface PublishLoopOptions {
  outbox: string;
  publisher: EvidencePublisher;
  /** Sealed batches per commit (default 20): fewer commits keep within GitHub's content-write limits. */
  maxBatchesPerCommit?: number;
  minBackoffMs?: number;
  /** Pause after each commit so batches gather (default 1000; drain/stop skip it). */
  minIntervalMs?: number;
  maxBackoffMs?: number;
  onWarning?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface PublishStatus {
  /** Sealed batches waiting in the outbox (as of the last scan). */
  backlog: number;
  published: number;
  lastCommit: string | null;
  lastError: string | null;
  /** Consecutive failures (0 when healthy). */
  failures: number;
  /** Failed attempts since start. */
  failuresTotal: number;
  /** When the outbox was last found empty (ms since the epoch): the publish lag runs from here while a backlog waits. */
  caughtUpAt: number;
}

/**
 * Starts a loop that publishes the outbox whenever `notify()` is called (and retries failures with
 * jittered exponential backoff). Published files are removed from the outbox.
 *
 * @example
 * const loop = startPublishLoop({ outbox: spool.outbox, publisher })
 * loop.notify(); await loop.drain(10_000); await loop.stop()
 */
export function startPublishLoop(options: PublishLoopOptions) {
  const maxBatches = options.maxBatchesPerCommit ?? 20;
  const minBackoff = options.minBackoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 60_000;
  // After a commit, let sealed batches gather before the next one: each commit costs several git processes
  // (or GitHub writes under a ~80/min secondary limit); at 10k statements/s unpaced publishing took ~10% of
  // the gateway's CPU (cpu profile under bench:gateway). drain() and stop() skip the pause.
  const minInterval = options.minIntervalMs ?? 1000;
  const pace = wakeableSleep(); // the pause after a commit; drain() and stop() end it
  let draining = 0;
  const status: PublishStatus = { backlog: 0, published: 0, lastCommit: null, lastError: null, failures: 0, failuresTotal: 0, caughtUpAt: Date.now() };
  const rest = wakeableSleep(); // idle between scans, and the backoff after a failure; notify() ends it
  let dirty = true;
  let stopped = false;
  const idleWaiters: (() => void)[] = [];

  /** One commit's worth: the oldest sealed batches (checkpoint and batch both present) and due key sets. */
  async function nextChunk(): Promise<{ files: { rel: string; content: Buffer }[]; message: string; backlog: number } | null> {
    const all = await listFiles(options.outbox);
    const cps: { seq: number; rel: string; batch: string; last: number }[] = [];
    const keys: { seq: number; rel: string }[] = [];
    const present = new Set(all);
    for (const rel of all) {
      const p = parseEvidencePath(rel);
      if (p?.kind === 'checkpoint') cps.push({ seq: p.firstSeq, rel, batch: rel.replace(/\.checkpoint\.jws$/, '.jsonl'), last: 0 });
      else if (p?.kind === 'keys') keys.push({ seq: p.fromSeq, rel });
    }
    const ready = cps.filter((c) => present.has(c.batch)).sort((a, b) => a.seq - b.seq);
    if (ready.length === 0) return null;
    const chunk = ready.slice(0, maxBatches);
    const files: { rel: string; content: Buffer }[] = [];
    let lastSeq = 0;
    for (const c of chunk) {
      const cp = await readFile(join(options.outbox, c.rel));
      const d = decodeCheckpoint(cp);
      if (d.ok) lastSeq = Math.max(lastSeq, d.payload.batch.last_seq);
      files.push({ rel: c.batch, content: await readFile(join(options.outbox, c.batch)) }, { rel: c.rel, content: cp });
    }
    // A key set goes out with (or before) the first checkpoint it is needed for, never ahead of its announcement.
    for (const k of keys) if (k.seq <= lastSeq) files.unshift({ rel: k.rel, content: await readFile(join(options.outbox, k.rel)) });
    const stream = parseEvidencePath(chunk[0]!.rel)!.stream;
    return { files, message: `evidence ${stream}: seq ${chunk[0]!.seq}-${lastSeq} (${chunk.length} batch${chunk.length === 1 ? '' : 'es'})`, backlog: ready.length };
  }

  async function run(): Promise<void> {
    let backoff = minBackoff;
    while (!stopped) {
      if (!dirty) {
        for (const w of idleWaiters.splice(0)) w();
        await rest.sleep(5000); // also rescans periodically in case a notification was missed
        continue;
      }
      try {
        const chunk = await nextChunk();
        status.backlog = chunk?.backlog ?? 0;
        if (!chunk) {
          status.caughtUpAt = Date.now();
          dirty = false;
          continue;
        }
        const files: EvidenceFile[] = chunk.files.map((f) => ({ path: f.rel, content: f.content }));
        const r = await options.publisher.publish(files, chunk.message);
        for (const f of chunk.files) await rm(join(options.outbox, f.rel), { force: true });
        status.published += chunk.files.filter((f) => f.rel.endsWith('.checkpoint.jws')).length;
        status.lastCommit = r.commit;
        status.lastError = null;
        status.failures = 0;
        backoff = minBackoff;
        if (minInterval > 0 && !stopped && draining === 0) await pace.sleep(minInterval);
      } catch (err) {
        status.failures++;
        status.failuresTotal++;
        status.lastError = messageOf(err);
        const code = err instanceof PublishError ? err.code : 'RETRYABLE';
        options.onWarning?.('evidence publish failed; the spool keeps the batches and retries', { code, error: status.lastError, retry_in_ms: backoff });
        // CONFLICT and FATAL need a person; keep retrying slowly so the backlog drains once they fixed it.
        await rest.sleep((code === 'RETRYABLE' ? backoff : maxBackoff) * (0.5 + Math.random()));
        backoff = Math.min(maxBackoff, backoff * 2);
      }
    }
    for (const w of idleWaiters.splice(0)) w();
  }

  const running = run();

  return {
    status: (): PublishStatus => ({ ...status }),
    /** Something was sealed: publish soon. Never blocks. */
    notify(): void {
      dirty = true;
      rest.wake();
    },
    /** Resolves true when the outbox is empty, false after `timeoutMs`. */
    async drain(timeoutMs: number): Promise<boolean> {
      dirty = true;
      draining++;
      rest.wake();
      pace.wake();
      const idle = new Promise<boolean>((res) => idleWaiters.push(() => res(true)));
      let t: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((res) => (t = setTimeout(() => res(false), timeoutMs)));
      const r = await Promise.race([idle, timeout]);
      draining--;
      clearTimeout(t);
      return r && status.lastError === null;
    },
    async stop(): Promise<void> {
      stopped = true;
      rest.wake();
      pace.wake();
      await running;
    },
  };
}
export type PublishLoop = ReturnType<typeof startPublishLoop>;

/** A sleep that `wake()` ends at once (one sleeper at a time); waking nobody does nothing. */
function wakeableSleep() {
  let wake: (() => void) | null = null;
  return {
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        function done(): void {
          clearTimeout(t);
          wake = null;
          resolve();
        }
        wake = done;
      }),
    wake: () => wake?.(),
  };
}
