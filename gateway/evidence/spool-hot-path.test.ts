// The spool's hot-path contract: post() (no promise per event) keeps order and reports failures, the open
// batch is written O_DSYNC (a write is durable when it returns), and one group costs one write.
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EvidenceError } from '../../engine/evidence/errors.ts';
import type { EvidenceEvent, EvidenceRecord } from '../../engine/evidence/events.ts';
import { verifyEvidence } from '../../engine/evidence/verify.ts';
import { listFiles } from './durable-fs.ts';
import { openSpool, type Spool } from './spool.ts';

const dirs: string[] = [];
const open: Spool[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
async function spoolAt(opts: Partial<Parameters<typeof openSpool>[0]> = {}): Promise<{ s: Spool; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-spool-hot-'));
  dirs.push(dir);
  const s = await openSpool({ dir, stream: 'gw-1', batchMaxLines: 1000, batchMaxAgeMs: 60_000, ...opts });
  open.push(s);
  return { s, dir };
}
async function records(s: Spool): Promise<EvidenceRecord[]> {
  const files = new Map<string, Uint8Array>();
  for (const rel of await listFiles(s.outbox)) files.set(rel, readFileSync(join(s.outbox, rel)));
  const out: EvidenceRecord[] = [];
  const r = await verifyEvidence(files, { onRecord: (x) => out.push(x) });
  expect(r.ok, JSON.stringify(r.findings)).toBe(true);
  return out;
}
const result = (i: number): EvidenceEvent => ({ type: 'statement_result', data: { session_id: 's', decision_id: `d-${i}`, outcome: 'ok', rows: i, duration_ms: 1, sqlstate: null } });

describe('spool hot path', () => {
  it('post() interleaves with append() in call order and is written with the same group', async () => {
    let writes = 0;
    const { s } = await spoolAt({
      io: {
        async writeAndSync(fh, data) {
          writes++;
          await fh.write(data);
        },
      },
    });
    const errors: unknown[] = [];
    const acks: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      if (i % 2) s.post(result(i), (err) => errors.push(err));
      else acks.push(s.append(result(i)));
    }
    await Promise.all(acks);
    await s.seal();
    expect(errors).toEqual([]);
    expect(writes).toBeLessThanOrEqual(2); // one group (plus nothing else pending)
    const rows = (await records(s)).filter((r) => r.type === 'statement_result').map((r) => (r.data as { rows: number }).rows);
    expect(rows).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('post() reports refused events at once and undurable ones (require_durable) with the event', async () => {
    let fail = false;
    const { s } = await spoolAt({
      io: {
        async writeAndSync(fh, data) {
          if (fail) throw new Error('EIO: simulated');
          await fh.write(data);
        },
      },
    });
    const seen: [unknown, EvidenceEvent][] = [];
    s.post({ type: 'statement_result', data: { session_id: 's' } } as unknown as EvidenceEvent, (err, ev) => seen.push([err, ev]));
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]).toMatchObject({ code: 'EVENT_INVALID' });
    fail = true;
    const ev = result(7);
    s.post(ev, (err, e) => seen.push([err, e]));
    await s.append(result(8)).catch(() => undefined); // same group: settles after the failed write
    expect(seen).toHaveLength(2);
    expect(seen[1]![0]).toBeInstanceOf(EvidenceError);
    expect(seen[1]![0]).toMatchObject({ code: 'SPOOL_UNAVAILABLE' });
    expect(seen[1]![1]).toBe(ev);
  });

  it.runIf(process.platform === 'linux')('opens the open batch O_DSYNC, so a write returns only once durable', async () => {
    const { s, dir } = await spoolAt();
    await s.append(result(1));
    const name = readdirSync(join(dir, 'open'))[0]!;
    const target = join(dir, 'open', name);
    const fd = readdirSync('/proc/self/fd').find((f) => {
      try {
        return readlinkSync(`/proc/self/fd/${f}`) === target;
      } catch {
        return false;
      }
    });
    expect(Number.isInteger(Number(fd)), `no open spool file among ${String(fd)}`).toBe(true);
    const flags = parseInt(/^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    expect(flags & constants.O_DSYNC).toBe(constants.O_DSYNC);
    expect(flags & constants.O_APPEND).toBe(constants.O_APPEND);
  });
});
