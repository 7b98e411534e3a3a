// The write hot path must not change a byte: lines against the `canonicalize` reference (with the key-order
// memo warm and cold), the batch hash fed in chunks against sha256 of the file, and time stamps per group.
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalString } from '../canonical.ts';
import { appendToChain, createChain, GENESIS } from './chain.ts';
import type { EvidenceEvent } from './events.ts';
import { sessionEvents, testKey } from '../fixtures/evidence.ts';
import { createStreamWriter } from './writer.ts';

let seed = 11;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const STRS = ['', 'a', 'é', '\u2028', 'tab\t', 'quote"', '\\', '€', '😀', '\u0000', '\u001f', '\uf8ff', '{"a":1}', 'x\\ud800'];
const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
const text = () => Array.from({ length: Math.floor(rnd() * 6) }, () => pick(STRS)).join('');

function statementEvent(i: number): EvidenceEvent {
  // Key orders vary (as different callers build them), extra members and undefined values too.
  const data: Record<string, unknown> = {
    session_id: `s-${i % 3}`,
    decision_id: `d-${i}`,
    text: text(),
    text_redacted: rnd() < 0.2,
    fingerprint: rnd() < 0.3 ? null : text(),
    kind: rnd() < 0.5 ? undefined : 'select',
    action: pick(['allow', 'mask', 'approve', 'deny']),
    reasons: [{ rule: 'r.' + text(), message: text() }],
    input_hash: 'a'.repeat(64),
    policy_revision: text() || 'rev',
    masks: rnd() < 0.5 ? [] : [{ column: { schema: 'public', table: text(), column: 'c' }, method: 'partial', params: { keep: 4, [text()]: 1.5 } }],
    approval: rnd() < 0.8 ? null : { request_id: 'q', approved_by: [text()] },
    cached: rnd() < 0.5,
  };
  if (rnd() < 0.3) {
    const reordered: Record<string, unknown> = {};
    for (const k of Object.keys(data).reverse()) reordered[k] = data[k];
    return { type: 'statement', data: reordered } as unknown as EvidenceEvent;
  }
  return { type: 'statement', data } as unknown as EvidenceEvent;
}

function resultEvent(i: number): EvidenceEvent {
  return {
    type: 'statement_result',
    data: { session_id: `s-${i % 3}`, decision_id: `d-${i}`, outcome: 'ok', rows: rnd() < 0.5 ? null : Math.floor(rnd() * 1e6), duration_ms: rnd() * 10, sqlstate: null, command_tag: rnd() < 0.5 ? null : `SELECT ${i}` },
  };
}

describe('evidence lines on the hot path', () => {
  it('are exactly canonicalize(record) for 3,000 statement and result events with escapes and unicode', () => {
    let head = GENESIS;
    for (let i = 0; i < 3000; i++) {
      const event = i % 2 ? resultEvent(i) : statementEvent(i);
      const ts = new Date(Date.UTC(2026, 0, 5, 10, 0, 0, i)).toISOString();
      const line = appendToChain(head, 'gw-1', ts, event);
      const record = { v: 1, stream: 'gw-1', seq: head.seq + 1, ts, prev: head.hash, type: event.type, data: event.data };
      expect(line.text).toBe(canonicalize(record));
      expect(line.hash).toBe(createHash('sha256').update(line.text, 'utf8').digest('hex'));
      head = { seq: line.record.seq, hash: line.hash };
    }
  });

  it('serialize objects with one key order and many others alike (the sorted-order memo is per order)', () => {
    const a = { b: 1, a: 2, c: { z: 1, y: [{ q: 1, p: 2 }] } };
    const b = { a: 2, c: { y: [{ p: 2, q: 1 }], z: 1 }, b: 1 };
    for (let i = 0; i < 3; i++) {
      expect(canonicalJson(a)).toBe(canonicalize(a));
      expect(canonicalJson(b)).toBe(canonicalJson(a));
    }
    expect(canonicalJson({ b: 1, a: undefined })).toBe('{"b":1}');
    expect(canonicalJson({ b: 1, a: 2, x: 3 })).toBe('{"a":2,"b":1,"x":3}'); // same first key, longer
    expect(canonicalJson({ b: 1 })).toBe('{"b":1}'); // same first key, shorter
    expect(canonicalJson({ '10': 1, '9': 2, b: 3 })).toBe('{"10":1,"9":2,"b":3}');
    expect(canonicalString('a"\u2028\ud83d\ude00')).toBe(JSON.stringify('a"\u2028\ud83d\ude00'));
    expect(canonicalString('x\ud800')).toBeNull();
  });

  it('keep ts non-decreasing and correct when a group shares one Date', () => {
    const chain = createChain('gw-1');
    const t = new Date('2026-01-05T10:00:00.123Z');
    const l1 = chain.append(resultEvent(1), t);
    const l2 = chain.append(resultEvent(2), t);
    const l3 = chain.append(resultEvent(3), new Date('2026-01-05T10:00:00.001Z')); // clock stepped back
    const l4 = chain.append(resultEvent(4), new Date('2026-01-05T10:00:01.000Z'));
    expect([l1, l2, l3, l4].map((l) => l.record.ts)).toEqual(['2026-01-05T10:00:00.123Z', '2026-01-05T10:00:00.123Z', '2026-01-05T10:00:00.123Z', '2026-01-05T10:00:01.000Z']);
  });

  it('seal a batch whose sha256 is that of the file, across hash chunks', async () => {
    for (const n of [1, 255, 256, 257, 700]) {
      const w = createStreamWriter('gw-1', await testKey('a'));
      const lines = [(await w.announceKey(new Date('2026-01-05T10:00:00.000Z'))).line.text];
      const events = Array.from({ length: Math.ceil(n / 10) }, (_, i) => sessionEvents(i)).flat();
      for (let i = 0; lines.length < n; i++) lines.push(w.append(events[i % events.length]!, new Date(Date.UTC(2026, 0, 5, 10, 0, 1, i))).text);
      const sealed = (await w.seal(new Date('2026-01-05T10:01:00.000Z')))!;
      expect(sealed.lines).toBe(n);
      expect(sealed.payload.batch.sha256).toBe(createHash('sha256').update(lines.join('\n') + '\n', 'utf8').digest('hex'));
    }
  });
});
