// Spool tests: durability before acknowledgement, sealing by size and age, recovery (torn tail, interrupted
// seal, failed writes) with gap records only for what was really lost, key rotation, the lock.
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EvidenceError } from '../../engine/evidence/errors.ts';
import type { EvidenceEvent, EvidenceRecord } from '../../engine/evidence/events.ts';
import { sessionEvents, testKey } from '../../engine/fixtures/evidence.ts';
import { verifyEvidence } from '../../engine/evidence/verify.ts';
import { listFiles } from './durable-fs.ts';
import { openSpool, type Spool } from './spool.ts';

const dirs: string[] = [];
const open: Spool[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'verdict-spool-'));
  dirs.push(d);
  return d;
}
async function spoolAt(dir: string, opts: Partial<Parameters<typeof openSpool>[0]> = {}): Promise<Spool> {
  const s = await openSpool({ dir, stream: 'gw-1', batchMaxLines: 10, batchMaxAgeMs: 60_000, ...opts });
  open.push(s);
  return s;
}
async function outboxFiles(s: Spool): Promise<Map<string, Uint8Array>> {
  const m = new Map<string, Uint8Array>();
  for (const rel of await listFiles(s.outbox)) m.set(rel, readFileSync(join(s.outbox, rel)));
  return m;
}
async function records(s: Spool): Promise<EvidenceRecord[]> {
  const out: EvidenceRecord[] = [];
  const r = await verifyEvidence(await outboxFiles(s), { onRecord: (x) => out.push(x) });
  expect(r.ok, JSON.stringify(r.findings)).toBe(true);
  return out;
}
const result = (i: number): EvidenceEvent => ({ type: 'statement_result', data: { session_id: 's', decision_id: `d-${i}`, outcome: 'ok', rows: i, duration_ms: 1, sqlstate: null } });

describe('spool', () => {
  it('acknowledges an append only after it is on disk, and seals full batches into the outbox', async () => {
    const dir = tempDir();
    const s = await spoolAt(dir);
    await s.append(result(0));
    // durable means: in the open batch file on disk by the time append() resolved
    const openFile = readdirSync(join(dir, 'open'))[0]!;
    expect(readFileSync(join(dir, 'open', openFile), 'utf8')).toContain('"decision_id":"d-0"');
    await Promise.all(Array.from({ length: 25 }, (_, i) => s.append(result(i + 1))));
    await s.seal();
    const recs = await records(s);
    expect(recs.map((r) => r.seq)).toEqual(Array.from({ length: 27 }, (_, i) => i + 1)); // key_rotation + 26 events
    expect(recs[0]!.type).toBe('key_rotation');
    const batches = [...(await outboxFiles(s)).keys()].filter((p) => p.endsWith('.jsonl'));
    expect(batches).toHaveLength(3); // 10 + 10 + 7
    expect(s.status()).toMatchObject({ writable: true, lostEvents: 0, openLines: 0 });
  });

  it('groups concurrent appends into few writes (group commit)', async () => {
    let writes = 0;
    const s = await spoolAt(tempDir(), {
      batchMaxLines: 1000,
      io: {
        async writeAndSync(fh, data) {
          writes++;
          await fh.write(data);
          await fh.datasync();
        },
      },
    });
    await Promise.all(Array.from({ length: 500 }, (_, i) => s.append(result(i))));
    expect(writes).toBeLessThan(50);
  });

  it('seals an open batch once it is older than batchMaxAgeMs', async () => {
    const s = await spoolAt(tempDir(), { batchMaxAgeMs: 40 });
    await s.append(result(1));
    await new Promise((r) => setTimeout(r, 300));
    expect([...(await outboxFiles(s)).keys()].some((p) => p.endsWith('.checkpoint.jws'))).toBe(true);
  });

  it('rejects malformed events and appends after close', async () => {
    const s = await spoolAt(tempDir());
    await expect(s.append({ type: 'statement', data: {} } as EvidenceEvent)).rejects.toMatchObject({ code: 'EVENT_INVALID' });
    await s.close();
    await expect(s.append(result(1))).rejects.toMatchObject({ code: 'SPOOL_CLOSED' });
  });

  it('refuses a second writer on the same spool directory', async () => {
    const dir = tempDir();
    await spoolAt(dir);
    writeFileSync(join(dir, 'LOCK'), `${process.ppid}\n`); // a live process that is not us
    await expect(openSpool({ dir, stream: 'gw-1' })).rejects.toMatchObject({ code: 'SPOOL_LOCKED' });
  });

  it('recovers a torn tail: keeps every complete line, seals it, records the cut as a gap', async () => {
    const dir = tempDir();
    const s = await spoolAt(dir);
    for (let i = 0; i < 5; i++) await s.append(result(i));
    // simulate kill -9 in the middle of a group write: no close(), half a line at the end
    const openFile = join(dir, 'open', readdirSync(join(dir, 'open'))[0]!);
    appendFileSync(openFile, '{"data":{"decision_id":"d-torn","outc');
    open.pop();
    rmSync(join(dir, 'LOCK'));
    const s2 = await spoolAt(dir);
    expect(s2.recovery).toMatchObject({ adoptedLines: 6, discardedBytes: 37, gapWritten: true, sealedBatches: 1 });
    const recs = await records(s2);
    expect(recs.filter((r) => r.type === 'statement_result')).toHaveLength(5);
    const gap = recs.find((r) => r.type === 'gap')!;
    expect(gap.data).toMatchObject({ reason: 'torn_tail', after_seq: 6, lost_events: null, discarded_bytes: 37 });
    expect(readdirSync(join(dir, 'quarantine'))).toHaveLength(1);
    // the chain continues after recovery
    await s2.append(result(99));
    await s2.seal();
    expect((await records(s2)).at(-1)!.seq).toBe(8);
  });

  it('writes no gap when nothing was lost (clean crash between group writes)', async () => {
    const dir = tempDir();
    const s = await spoolAt(dir);
    for (let i = 0; i < 3; i++) await s.append(result(i));
    open.pop();
    rmSync(join(dir, 'LOCK'));
    const s2 = await spoolAt(dir);
    expect(s2.recovery).toMatchObject({ adoptedLines: 4, discardedBytes: 0, gapWritten: false, sealedBatches: 1 });
    expect((await records(s2)).some((r) => r.type === 'gap')).toBe(false);
  });

  it('completes a seal interrupted between the checkpoint and moving the batch', async () => {
    const dir = tempDir();
    const s = await spoolAt(dir);
    for (let i = 0; i < 4; i++) await s.append(result(i));
    await s.seal();
    const files = await outboxFiles(s);
    const batch = [...files.keys()].find((p) => p.endsWith('.jsonl'))!;
    await s.close();
    open.pop();
    // put the batch back into open/ as if the rename never happened; head.json still from before
    writeFileSync(join(dir, 'open', '000000000001.jsonl'), files.get(batch)!);
    rmSync(join(s.outbox, batch));
    rmSync(join(dir, 'head.json'));
    const s2 = await spoolAt(dir);
    expect(s2.recovery).toMatchObject({ completedSeals: 1, gapWritten: false });
    await s2.append(result(5));
    await s2.seal();
    expect((await records(s2)).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('require_durable: a failed write rejects the append (statement refused), then heals and records the loss', async () => {
    let fail = false;
    const s = await spoolAt(tempDir(), {
      io: {
        async writeAndSync(fh, data) {
          if (fail) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
          await fh.write(data);
          await fh.datasync();
        },
      },
    });
    await s.append(result(1));
    fail = true;
    const err = await s.append(result(2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EvidenceError);
    expect(err).toMatchObject({ code: 'SPOOL_UNAVAILABLE', message: expect.stringContaining('ENOSPC') });
    expect(s.status()).toMatchObject({ writable: false, lostEvents: 1 });
    // while failing (and within the retry pause) appends fail fast
    await expect(s.append(result(3))).rejects.toMatchObject({ code: 'SPOOL_UNAVAILABLE' });
    fail = false;
    await new Promise((r) => setTimeout(r, 1100));
    await s.append(result(4));
    await s.seal();
    const recs = await records(s);
    const gap = recs.find((r) => r.type === 'gap');
    expect(gap?.data).toMatchObject({ reason: 'spool_write_failed', lost_events: 2 });
    expect(recs.filter((r) => r.type === 'statement_result').map((r) => (r.data as { rows: number }).rows)).toEqual([1, 4]);
  });

  it('require_durable false: appends resolve even when the write fails; the loss becomes a gap', async () => {
    let fail = false;
    const s = await spoolAt(tempDir(), {
      requireDurable: false,
      io: {
        async writeAndSync(fh, data) {
          if (fail) throw new Error('EIO');
          await fh.write(data);
          await fh.datasync();
        },
      },
    });
    fail = true;
    await expect(s.append(result(1))).resolves.toBeUndefined();
    expect(s.status()).toMatchObject({ writable: false, lostEvents: 1 });
    fail = false;
    await new Promise((r) => setTimeout(r, 1100));
    await s.append(result(2));
    await s.seal();
    expect((await records(s)).find((r) => r.type === 'gap')?.data).toMatchObject({ reason: 'spool_write_failed', lost_events: 1 });
  });

  it('rotates the signing key: old key seals what came before, a key_rotation line and key set announce the new one', async () => {
    const dir = tempDir();
    const s = await spoolAt(dir);
    for (const e of sessionEvents(1)) await s.append(e);
    const before = s.status().kid;
    const kid = await s.rotateKey();
    expect(kid).not.toBe(before);
    for (const e of sessionEvents(2)) await s.append(e);
    await s.seal();
    const files = await outboxFiles(s);
    const r = await verifyEvidence(files);
    expect(r.clean, JSON.stringify(r.findings)).toBe(true);
    expect(r.streams[0]!.kids.sort()).toEqual([before, kid].sort());
    expect([...files.keys()].filter((p) => p.startsWith('keys/'))).toHaveLength(2);
    // restart keeps the rotated key without announcing it again
    await s.close();
    open.pop();
    const s2 = await spoolAt(dir);
    expect(s2.status().kid).toBe(kid);
    await s2.append(result(1));
    await s2.seal();
    const after = await records(s2);
    expect(after.filter((x) => x.type === 'key_rotation')).toHaveLength(2);
    // the rotation carries the old key's signature over the new key at its seq
    expect(after.filter((x) => x.type === 'key_rotation').map((x) => 'endorsement' in x.data)).toEqual([false, true]);
  });

  it('refuses to start under a configured key that replaces one it does not hold, and rotates signed once given it', async () => {
    const dir = tempDir();
    const [a, b] = await Promise.all([testKey('a'), testKey('b')]);
    const s = await spoolAt(dir, { key: a });
    await s.append(result(1));
    await s.close();
    open.pop();
    const refused = await spoolAt(dir, { key: b }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(EvidenceError);
    expect(refused).toMatchObject({ code: 'KEY_INVALID', message: expect.stringContaining(`must be signed by ${a.kid}`) });
    const s2 = await spoolAt(dir, { key: b, previousKeys: [a] });
    await s2.append(result(2));
    await s2.seal();
    const r = await verifyEvidence(await outboxFiles(s2), { pinnedThumbprints: [a.thumbprint] });
    expect(r.clean, JSON.stringify(r.findings)).toBe(true);
    expect(r.streams[0]!.kids).toEqual([a.kid, b.kid].sort());
  });
});

describe('spool: events JCS cannot represent', () => {
  it('repairs lone surrogates and rejects only the event that cannot be serialized', async () => {
    const s = await spoolAt(tempDir());
    const bad = { type: 'gateway_stop', data: { reason: 'x', extra: Number.NaN } } as EvidenceEvent;
    const results = await Promise.allSettled([s.append(result(1)), s.append(bad), s.append({ type: 'gateway_stop', data: { reason: 'bad \ud800 text' } })]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'EVENT_INVALID' });
    await s.seal();
    const recs = await records(s);
    expect(recs.at(-1)!.data).toEqual({ reason: 'bad \ufffd text' });
    expect(s.status().writable).toBe(true);
  });
});
