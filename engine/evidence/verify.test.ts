// The tamper suite over an in-memory repository: every kind of alteration, removal and forgery is
// detected with the right finding code, and an untouched repository verifies clean.
import { beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../canonical.ts';
import { decodeCheckpoint, signCheckpoint, type CheckpointPayload } from './checkpoint.ts';
import type { FindingCode } from './errors.ts';
import type { EvidenceEvent } from './events.ts';
import { buildRepository, sessionEvents, steppingClock, testKey } from '../fixtures/evidence.ts';
import { encodeKeySet, publishedKey, type SigningKey } from './keys.ts';
import { endorseRotation, ROTATION_RULE } from './rotation.ts';
import { verifyEvidence, type VerifyReport } from './verify.ts';
import { createStreamWriter } from './writer.ts';

type Files = Map<string, Uint8Array>;
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);
const codes = (r: VerifyReport) => [...new Set(r.findings.map((f) => f.code))].sort();

let pristine: Files;
let keyA: SigningKey;
let keyB: SigningKey;
let intruder: SigningKey;
const events = () => [...sessionEvents(1), ...sessionEvents(2), ...sessionEvents(3)];

beforeAll(async () => {
  [keyA, keyB, intruder] = await Promise.all([testKey('a'), testKey('b'), testKey('intruder')]);
  pristine = await buildRepository(events(), { key: keyA, rotate: { after: 20, to: keyB } });
});

const clone = (): Files => new Map([...pristine].map(([p, b]) => [p, b.slice()]));
const batches = (f: Files) => [...f.keys()].filter((p) => p.endsWith('.jsonl')).sort();
const linesOf = (f: Files, p: string) => text(f.get(p)).split('\n').slice(0, -1);
const setLines = (f: Files, p: string, lines: string[]) => f.set(p, bytes(lines.map((l) => l + '\n').join('')));

/** Re-signs the checkpoint beside `batch` over the batch's current bytes, as someone holding `key` would. */
async function reseal(f: Files, batch: string, key: SigningKey): Promise<void> {
  const cpPath = batch.replace(/\.jsonl$/, '.checkpoint.jws');
  const old = decodeCheckpoint(f.get(cpPath)!);
  if (!old.ok) throw new Error(old.problem);
  const lines = linesOf(f, batch);
  const last = lines.at(-1)!;
  const prevPath = old.payload.prev?.path;
  const prevBytes = prevPath ? f.get(prevPath) : undefined;
  const payload: CheckpointPayload = {
    ...old.payload,
    prev: prevPath && prevBytes ? { path: prevPath, sha256: sha256Hex(prevBytes) } : old.payload.prev,
    batch: { ...old.payload.batch, lines: lines.length, last_seq: (JSON.parse(last) as { seq: number }).seq, sha256: sha256Hex(f.get(batch)!) },
    head: { seq: (JSON.parse(last) as { seq: number }).seq, hash: sha256Hex(last) },
  };
  f.set(cpPath, bytes(await signCheckpoint(payload, key)));
}

describe('verifyEvidence: untouched evidence', () => {
  it('verifies clean, with heads, per-stream summary and every line visited', async () => {
    const seen: number[] = [];
    const r = await verifyEvidence(pristine, { onRecord: (rec) => seen.push(rec.seq) });
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ ok: true, clean: true });
    const total = 2 + events().length + 2; // two key announcements, start, events, stop
    expect(r.lines).toBe(total);
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(r.streams[0]).toMatchObject({ stream: 'gw-1', lines: total, gaps: 0, kids: [keyB.kid, keyA.kid].sort() });
    expect(r.heads['gw-1']!.seq).toBe(total);
  });

  it('accepts its own recorded head and pinned keys', async () => {
    const first = await verifyEvidence(pristine);
    const r = await verifyEvidence(pristine, { recordedHeads: first.heads, pinnedThumbprints: [keyA.thumbprint, keyB.thumbprint] });
    expect(r.clean).toBe(true);
  });

  it('verifies several streams side by side', async () => {
    const other = await buildRepository(sessionEvents(9), { stream: 'gw-2', key: keyB });
    const both = new Map([...pristine, ...other]);
    const r = await verifyEvidence(both);
    expect(r.clean).toBe(true);
    expect(r.streams.map((s) => s.stream)).toEqual(['gw-1', 'gw-2']);
  });
});

describe('verifyEvidence: tamper suite', () => {
  const cases: { name: string; tamper: (f: Files) => Promise<void> | void; want: FindingCode[]; recorded?: boolean }[] = [
    {
      name: 'modify a field (deny → allow) in a line',
      tamper: (f) => {
        const p = batches(f).find((b) => text(f.get(b)).includes('"action":"deny"'))!;
        setLines(f, p, linesOf(f, p).map((l) => l.replace('"action":"deny"', '"action":"allow"')));
      },
      want: ['CHECKPOINT_BATCH_HASH_MISMATCH', 'CHECKPOINT_HEAD_MISMATCH', 'PREV_HASH_MISMATCH'],
    },
    {
      name: 'modify a field and re-link the chain after it',
      tamper: (f) => {
        const p = batches(f)[0]!;
        const out: string[] = [];
        let prev: string | null = null;
        for (const l of linesOf(f, p)) {
          const r = JSON.parse(l) as { prev: string | null; data: { text?: string } };
          if (out.length) r.prev = prev;
          if (r.data.text) r.data.text = 'SELECT 1';
          const t = canonicalJson(r);
          out.push(t);
          prev = sha256Hex(t);
        }
        setLines(f, p, out);
      },
      want: ['CHECKPOINT_BATCH_HASH_MISMATCH', 'CHECKPOINT_HEAD_MISMATCH', 'PREV_HASH_MISMATCH'],
    },
    {
      name: 'delete a line',
      tamper: (f) => {
        const p = batches(f)[1]!;
        setLines(f, p, linesOf(f, p).filter((_, i) => i !== 3));
      },
      want: ['CHECKPOINT_BATCH_HASH_MISMATCH', 'CHECKPOINT_LINE_COUNT_MISMATCH', 'PREV_HASH_MISMATCH', 'SEQ_MISMATCH'],
    },
    {
      name: 'reorder two lines',
      tamper: (f) => {
        const p = batches(f)[1]!;
        const l = linesOf(f, p);
        [l[2], l[3]] = [l[3]!, l[2]!];
        setLines(f, p, l);
      },
      want: ['CHECKPOINT_BATCH_HASH_MISMATCH', 'PREV_HASH_MISMATCH', 'SEQ_MISMATCH', 'TIME_REGRESSION'],
    },
    {
      name: 'duplicate a line',
      tamper: (f) => {
        const p = batches(f)[1]!;
        const l = linesOf(f, p);
        l.splice(4, 0, l[4]!);
        setLines(f, p, l);
      },
      want: ['CHECKPOINT_BATCH_HASH_MISMATCH', 'CHECKPOINT_LINE_COUNT_MISMATCH', 'PREV_HASH_MISMATCH', 'SEQ_MISMATCH'],
    },
    {
      name: 'truncate a file mid-line',
      tamper: (f) => {
        const p = batches(f)[2]!;
        f.set(p, f.get(p)!.slice(0, Math.floor(f.get(p)!.length / 2)));
      },
      want: [
        'CHECKPOINT_BATCH_HASH_MISMATCH',
        'CHECKPOINT_HEAD_MISMATCH',
        'CHECKPOINT_LINE_COUNT_MISMATCH',
        'FILE_NOT_NEWLINE_TERMINATED',
        'LINE_NOT_JSON',
        'PREV_HASH_MISMATCH',
        'SEQ_MISMATCH',
      ],
    },
    {
      name: 'remove a batch file',
      tamper: (f) => void f.delete(batches(f)[1]!),
      want: ['CHECKPOINT_WITHOUT_BATCH', 'PREV_HASH_MISMATCH', 'SEQ_MISMATCH'],
    },
    {
      name: 'remove a checkpoint file',
      tamper: (f) => void f.delete(batches(f)[1]!.replace('.jsonl', '.checkpoint.jws')),
      want: ['BATCH_WITHOUT_CHECKPOINT', 'CHECKPOINT_CHAIN_BROKEN', 'CHECKPOINT_SEQ_GAP'],
    },
    {
      name: 'remove a whole batch (file and checkpoint)',
      tamper: (f) => {
        const p = batches(f)[1]!;
        f.delete(p);
        f.delete(p.replace('.jsonl', '.checkpoint.jws'));
      },
      want: ['CHECKPOINT_CHAIN_BROKEN', 'CHECKPOINT_SEQ_GAP', 'PREV_HASH_MISMATCH', 'SEQ_MISMATCH'],
    },
    {
      name: 'remove the last batch (only a recorded head can tell)',
      recorded: true,
      tamper: (f) => {
        const p = batches(f).at(-1)!;
        f.delete(p);
        f.delete(p.replace('.jsonl', '.checkpoint.jws'));
      },
      want: ['RECORDED_HEAD_MISSING'],
    },
    {
      name: 'corrupt a signature',
      tamper: (f) => {
        const p = batches(f)[0]!.replace('.jsonl', '.checkpoint.jws');
        const t = text(f.get(p));
        const i = t.length - 10;
        f.set(p, bytes(t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1)));
      },
      want: ['CHECKPOINT_CHAIN_BROKEN', 'CHECKPOINT_SIGNATURE_INVALID'],
    },
    {
      name: 're-sign an altered batch with an unknown key',
      tamper: async (f) => {
        const p = batches(f)[3]!;
        setLines(f, p, linesOf(f, p).slice(0, -1));
        await reseal(f, p, intruder);
      },
      want: ['CHECKPOINT_CHAIN_BROKEN', 'CHECKPOINT_SEQ_GAP', 'KEY_NOT_ANNOUNCED', 'KEY_UNKNOWN', 'PREV_HASH_MISMATCH', 'SEQ_MISMATCH'],
    },
    {
      name: 'forge an unsealed line at the end of a batch',
      tamper: (f) => {
        const p = batches(f).at(-1)!;
        const l = linesOf(f, p);
        const last = JSON.parse(l.at(-1)!) as { seq: number; ts: string };
        const forged = { ...last, seq: last.seq + 1, prev: sha256Hex(l.at(-1)!), type: 'gateway_stop', data: { reason: 'forged' } };
        setLines(f, p, [...l, canonicalJson(forged)]);
      },
      want: ['CHECKPOINT_BATCH_HASH_MISMATCH', 'CHECKPOINT_HEAD_MISMATCH', 'CHECKPOINT_LINE_COUNT_MISMATCH'],
    },
    {
      name: 'forge an unsealed batch file after the last one',
      tamper: (f) => {
        const p = batches(f).at(-1)!;
        const l = linesOf(f, p);
        const last = JSON.parse(l.at(-1)!) as { seq: number; ts: string };
        const forged = { ...last, seq: last.seq + 1, prev: sha256Hex(l.at(-1)!), type: 'gateway_stop', data: { reason: 'forged' } };
        f.set(p.replace(/\d{12}\.jsonl$/, String(last.seq + 1).padStart(12, '0') + '.jsonl'), bytes(canonicalJson(forged) + '\n'));
      },
      want: ['BATCH_WITHOUT_CHECKPOINT'],
    },
    {
      name: 'swap the key set for one holding an intruder key, everything re-signed',
      tamper: async (f) => {
        for (const k of [...f.keys()].filter((p) => p.startsWith('keys/')))
          f.set(k, bytes(encodeKeySet({ v: 1, stream: 'gw-1', from_seq: Number(k.match(/(\d+)\.jwks/)![1]), keys: [publishedKey(intruder, '2026-01-01T00:00:00.000Z')] })));
        for (const p of batches(f)) await reseal(f, p, intruder);
      },
      // the chain's key_rotation lines (hash-linked, sealed) name keys A and B: the swapped set cannot match them
      want: ['KEY_NOT_ANNOUNCED', 'KEY_UNKNOWN'],
    },
    {
      name: 'edit a key set: replace a public key under its kid',
      tamper: (f) => {
        const k = 'keys/gw-1/000000000001.jwks.json';
        f.set(k, bytes(text(f.get(k)).replace(keyA.publicJwk.x, intruder.publicJwk.x)));
      },
      want: ['KEY_SET_MALFORMED'],
    },
    {
      name: 'backdate a key set: close key A before it signed',
      tamper: (f) => {
        const k = [...f.keys()].filter((p) => p.startsWith('keys/')).sort().at(-1)!;
        const set = JSON.parse(text(f.get(k))) as { keys: { valid_until: string | null; valid_from: string }[] };
        set.keys[0]!.valid_until = set.keys[0]!.valid_from;
        f.set(k, bytes(canonicalJson(set) + '\n'));
      },
      want: ['KEY_NOT_VALID_AT_TIME'],
    },
    {
      name: 'move a batch to another day',
      tamper: (f) => {
        const p = batches(f)[1]!;
        const cp = p.replace('.jsonl', '.checkpoint.jws');
        for (const x of [p, cp]) {
          f.set(x.replace('/2026/01/05/', '/2026/01/04/'), f.get(x)!);
          f.delete(x);
        }
      },
      want: ['CHECKPOINT_CHAIN_BROKEN', 'PATH_MISMATCH'],
    },
    {
      name: 'reformat a line (same record, not canonical)',
      tamper: async (f) => {
        const p = batches(f)[2]!;
        setLines(f, p, linesOf(f, p).map((l, i) => (i === 0 ? JSON.stringify(JSON.parse(l), null, 1).replace(/\n/g, '') : l)));
      },
      want: ['CHECKPOINT_BATCH_HASH_MISMATCH', 'LINE_NOT_CANONICAL', 'PREV_HASH_MISMATCH'],
    },
    {
      name: 'rewrite history with the real key (recorded head)',
      recorded: true,
      tamper: async (f) => {
        const altered = events().map((e) => (e.type === 'statement' && e.data.action === 'deny' ? { ...e, data: { ...e.data, action: 'allow' as const } } : e));
        const evil = await buildRepository(altered, { key: keyA, rotate: { after: 20, to: keyB } });
        f.clear();
        for (const [p, b] of evil) f.set(p, b);
      },
      want: ['RECORDED_HEAD_MISMATCH'],
    },
    {
      name: 'drop an unknown file into the stream area',
      tamper: (f) => void f.set('streams/gw-1/notes.txt', bytes('hello')),
      want: ['UNEXPECTED_FILE'],
    },
  ];

  for (const c of cases) {
    it(`detects: ${c.name}`, async () => {
      const f = clone();
      await c.tamper(f);
      const recordedHeads = c.recorded ? (await verifyEvidence(pristine)).heads : undefined;
      const r = await verifyEvidence(f, recordedHeads ? { recordedHeads } : {});
      expect(codes(r), JSON.stringify(r.findings.map((x) => [x.code, x.file.slice(-25), x.line, x.message]), null, 0)).toEqual(c.want);
      if (c.want.some((w) => w !== 'UNEXPECTED_FILE')) expect(r.ok).toBe(false);
      for (const fd of r.findings) expect(fd.message.length).toBeGreaterThan(5);
    });
  }

  it('keeps the evidence: a changed line yields expected and computed hashes and the line number', async () => {
    const f = clone();
    const p = batches(f)[1]!;
    const l = linesOf(f, p);
    const changed = l[2]!.replace(/("data":\{)/, '$1"note":"edited",');
    l[2] = changed;
    setLines(f, p, l);
    const r = await verifyEvidence(f);
    const prev = r.findings.find((x) => x.code === 'PREV_HASH_MISMATCH')!;
    // line 4 commits to the original line 3 (expected); the verifier hashes line 3 as it is now (computed)
    expect(prev).toMatchObject({ file: p, line: 4, stream: 'gw-1', severity: 'error', expected: sha256Hex(linesOf(pristine, p)[2]!), computed: sha256Hex(changed) });
    const hash = r.findings.find((x) => x.code === 'CHECKPOINT_BATCH_HASH_MISMATCH')!;
    expect(hash).toMatchObject({ expected: sha256Hex(pristine.get(p)!), computed: sha256Hex(f.get(p)!) });
  });

  it('detects a total rewrite with a new key when keys are pinned', async () => {
    const evil = await buildRepository(events(), { key: intruder });
    const r = await verifyEvidence(evil, { pinnedThumbprints: [keyA.thumbprint, keyB.thumbprint] });
    expect(codes(r)).toEqual(['KEY_NOT_PINNED']);
  });
});

describe('verifyEvidence: disclosed facts and cross-references', () => {
  it('reports gap records as warnings: ok, but not clean', async () => {
    const gap: EvidenceEvent = { type: 'gap', data: { reason: 'torn_tail', after_seq: 5, lost_events: null, discarded_bytes: 120, detail: 'a torn write was discarded' } };
    const r = await verifyEvidence(await buildRepository([...sessionEvents(1), gap], { key: keyA }));
    expect(r).toMatchObject({ ok: true, clean: false });
    expect(r.findings).toEqual([expect.objectContaining({ code: 'GAP_RECORDED', severity: 'warning' })]);
    expect(r.streams[0]!.gaps).toBe(1);
  });

  it('requires a granted approval for a statement that relies on one', async () => {
    const ev = sessionEvents(1).filter((e) => e.type !== 'approval_granted');
    const r = await verifyEvidence(await buildRepository(ev, { key: keyA }));
    expect(codes(r)).toEqual(['APPROVAL_REFERENCE_MISSING']);
    expect(r.findings[0]).toMatchObject({ line: expect.any(Number), seq: expect.any(Number) });
  });

  it('finds an approval both granted and rejected', async () => {
    const ev: EvidenceEvent[] = [...sessionEvents(1), { type: 'approval_rejected', data: { request_id: 'req-1', by: 'dave', reason: 'no' } }];
    expect(codes(await verifyEvidence(await buildRepository(ev, { key: keyA })))).toEqual(['APPROVAL_STATE_CONFLICT']);
  });

  it('checks a response folded into its result as it checks a statement_response line', async () => {
    const decision = sessionEvents(1).find((e) => e.type === 'statement')!.data.decision_id;
    const result = (decision_id: string, response: unknown) =>
      ({ type: 'statement_result', data: { session_id: 's-0001', decision_id, outcome: 'ok', rows: 1, duration_ms: 1, sqlstate: null, response } }) as unknown as EvidenceEvent;
    const digest = { sha256: 'ab'.repeat(32), rows: 1, bytes: 9 };
    expect((await verifyEvidence(await buildRepository([...sessionEvents(1), result(decision, digest)], { key: keyA }))).findings).toEqual([]);
    for (const bad of [{ ...digest, sha256: 'xyz' }, { ...digest, bytes: 1 }, { ...digest, rows: -1 }, 'ab'.repeat(32), null]) {
      const r = await verifyEvidence(await buildRepository([...sessionEvents(1), result(decision, bad)], { key: keyA }));
      expect(codes(r)).toEqual(['RESPONSE_MALFORMED']);
    }
    // a folded response of a decision no statement line records
    expect(codes(await verifyEvidence(await buildRepository([...sessionEvents(1), result('no-such-decision', digest)], { key: keyA })))).toEqual(['RESPONSE_DECISION_MISSING']);
  });

  it('checks each line against the event schema', async () => {
    const bad = { type: 'statement', data: { session_id: 's' } } as unknown as EvidenceEvent;
    const r = await verifyEvidence(await buildRepository([bad], { key: keyA, clock: steppingClock() }));
    expect(codes(r)).toEqual(['LINE_SCHEMA']);
    expect(r.findings[0]!.message).toContain('statement.data.decision_id');
  });
});

describe('verifyEvidence: key rotations are signed by the key they replace', () => {
  /**
   * The forgery of issue "trust anchor": a key snapshot that adds the intruder's key, a rotation line announcing
   * it, a forged approval and a statement relying on it, sealed by a checkpoint the intruder signs.
   */
  async function forgeRotation(f: Files, rotation: Record<string, unknown>): Promise<void> {
    const lastBatch = batches(f).at(-1)!;
    const lastLine = linesOf(f, lastBatch).at(-1)!;
    const last = JSON.parse(lastLine) as { seq: number; ts: string };
    const cpPath = lastBatch.replace(/\.jsonl$/, '.checkpoint.jws');
    const cp = decodeCheckpoint(f.get(cpPath)!);
    if (!cp.ok) throw new Error(cp.problem);
    const seq = last.seq + 1;
    const keysPath = `keys/gw-1/${String(seq).padStart(12, '0')}.jwks.json`;
    const latestKeys = [...f.keys()].filter((p) => p.startsWith('keys/gw-1/')).sort().at(-1)!;
    const set = JSON.parse(text(f.get(latestKeys))) as { keys: ReturnType<typeof publishedKey>[] };
    const at = new Date(Date.parse(cp.payload.sealed_at) + 1000);
    const keys = set.keys.map((k) => (k.valid_until === null ? { ...k, valid_until: at.toISOString() } : k));
    f.set(keysPath, bytes(encodeKeySet({ v: 1, stream: 'gw-1', from_seq: seq, keys: [...keys, publishedKey(intruder, at.toISOString())] })));
    // A writer that believes the intruder key is already announced: it chains and seals what we hand it.
    const w = createStreamWriter('gw-1', intruder, {
      head: { seq: last.seq, hash: sha256Hex(lastLine) },
      lastTs: last.ts,
      announcedKid: intruder.kid,
      prevCheckpoint: { path: cpPath, sha256: sha256Hex(f.get(cpPath)!), sealedAt: cp.payload.sealed_at, lastSeq: last.seq },
      keySet: null,
    });
    const out = [
      w.append({ type: 'key_rotation', data: { kid: intruder.kid, thumbprint: intruder.thumbprint, previous_kid: keyB.kid, keys_path: keysPath, ...rotation } }, at),
      w.append({ type: 'approval_granted', data: { request_id: 'req-7', approved_by: ['carol'], review_ids: ['rev-forged'] } }, at),
      w.append(sessionEvents(7).find((e) => e.type === 'statement' && e.data.approval !== null)!, at),
    ].map((l) => l.text + '\n');
    const sealed = (await w.seal(at))!;
    f.set(sealed.batchPath, bytes(out.join('')));
    f.set(sealed.checkpointPath, bytes(sealed.checkpoint));
  }

  it('catches an intruder key added with a rotation line, without --pin', async () => {
    const f = clone();
    await forgeRotation(f, {});
    const r = await verifyEvidence(f);
    expect(codes(r)).toEqual(['KEY_ROTATION_UNSIGNED']);
    expect(r.ok).toBe(false);
    expect(r.findings[0]).toMatchObject({ stream: 'gw-1', expected: keyB.kid, line: 1 });
  });

  it('catches a rotation the intruder "endorsed" with its own key, or replayed from another position', async () => {
    const genuine = (JSON.parse(linesOf(pristine, batches(pristine).find((b) => text(pristine.get(b)).includes('"endorsement"'))!).find((l) => l.includes('"endorsement"'))!) as {
      data: { endorsement: string };
    }).data.endorsement;
    for (const endorsement of [
      await endorseRotation(
        { v: 1, type: 'key_rotation', stream: 'gw-1', seq: 48, kid: intruder.kid, thumbprint: intruder.thumbprint, previous_kid: keyB.kid, previous_thumbprint: keyB.thumbprint },
        { kid: keyB.kid, privateKey: intruder.privateKey },
      ),
      genuine,
    ]) {
      const f = clone();
      await forgeRotation(f, { rotations: ROTATION_RULE, endorsement });
      const r = await verifyEvidence(f);
      expect(codes(r)).toEqual(['KEY_ROTATION_SIGNATURE_INVALID']);
    }
  });

  it('refuses a downgrade: a rotation without the rule, in a stream that declared it', async () => {
    const f = clone();
    await forgeRotation(f, { rotations: 'none' });
    expect(codes(await verifyEvidence(f))).toEqual(['KEY_ROTATION_UNSIGNED']);
  });

  it('pins a whole stream by its first key, which the report names as its anchor', async () => {
    const r = await verifyEvidence(pristine, { pinnedThumbprints: [keyA.thumbprint] });
    expect(r.clean).toBe(true);
    expect(r.streams[0]!.anchor).toEqual({ kid: keyA.kid, thumbprint: keyA.thumbprint });
    expect(codes(await verifyEvidence(pristine, { pinnedThumbprints: [keyB.thumbprint] }))).toEqual(['KEY_NOT_PINNED']);
  });
});
