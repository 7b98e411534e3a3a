// Format unit tests: canonical JSON against the reference implementation, the RFC 8037 thumbprint vector,
// layout paths, checkpoint decoding, event checks, and the committed golden repository (byte for byte).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calculateJwkThumbprint } from 'jose';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { canonicalJson, isCanonicalJson, sha256Hex, wellFormed } from '../canonical.ts';
import { decodeCheckpoint } from './checkpoint.ts';
import { eventProblem } from './events.ts';
import { goldenRepository } from '../fixtures/evidence-golden.ts';
import { TEST_KEYS } from '../fixtures/evidence.ts';
import { ed25519Thumbprint, kidOf, signingKeyFromJwk } from './keys.ts';
import { batchPath, checkpointPath, keySetPath, parseEvidencePath } from './layout.ts';
import { verifyEvidence } from './verify.ts';

function randomValue(depth: number, rnd: () => number): unknown {
  const pick = Math.floor(rnd() * (depth > 3 ? 5 : 7));
  const strs = ['', 'a', 'é', '\u2028', 'tab\t', 'quote"', '\\', '€', '😀', '10', '9', '\u0000', 'Z', 'z', '_'];
  switch (pick) {
    case 0:
      return null;
    case 1:
      return rnd() < 0.5;
    case 2:
      return [0, -0, 1, -1.5, 1e21, 1e-7, 123456789.125, 2 ** 53, Number.MIN_VALUE, 0.1 + 0.2][Math.floor(rnd() * 10)];
    case 3:
    case 4:
      return strs[Math.floor(rnd() * strs.length)];
    case 5:
      return Array.from({ length: Math.floor(rnd() * 4) }, () => randomValue(depth + 1, rnd));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 5); i > 0; i--) o[strs[Math.floor(rnd() * strs.length)]!] = randomValue(depth + 1, rnd);
      return o;
    }
  }
}

describe('canonical JSON (RFC 8785)', () => {
  it('matches the canonicalize reference on 5,000 random values, and isCanonicalJson agrees', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 5000; i++) {
      const v = randomValue(0, rnd);
      const c = canonicalJson(v);
      expect(c).toBe(canonicalize(v));
      expect(isCanonicalJson(c, JSON.parse(c))).toBe(true);
    }
  });

  it('orders keys by UTF-16 code units (integer-like keys too) and rejects other orders and whitespace', () => {
    const text = canonicalJson({ b: 1, a: { '9': 1, '10': 2 }, '€': 0, '😀': 0 });
    expect(text).toBe('{"a":{"10":2,"9":1},"b":1,"€":0,"😀":0}');
    expect(isCanonicalJson(text, JSON.parse(text))).toBe(true);
    expect(isCanonicalJson('{"b":1,"a":2}', { b: 1, a: 2 })).toBe(false);
    expect(isCanonicalJson('{"a": 1}', { a: 1 })).toBe(false);
    expect(isCanonicalJson('{"a":1.0}', { a: 1 })).toBe(false);
    expect(isCanonicalJson('{"a":"\\u0041"}', { a: 'A' })).toBe(false);
  });

  it('refuses what JCS cannot represent, and wellFormed repairs lone surrogates', () => {
    expect(() => canonicalJson({ a: NaN })).toThrow();
    expect(() => canonicalJson({ a: 'x\ud800' })).toThrow();
    expect(canonicalJson(wellFormed({ a: 'x\ud800' }))).toBe('{"a":"x\ufffd"}');
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('keys and layout', () => {
  it('computes RFC 7638 thumbprints (RFC 8037 appendix A.3 vector) like jose does', async () => {
    const x = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo';
    expect(ed25519Thumbprint(x)).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
    expect(ed25519Thumbprint(x)).toBe(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x }));
    expect(kidOf(x)).toBe('kPrK_qmxVWaYVA9w');
  });

  it('computes and parses every path of the layout', () => {
    const ts = '2026-01-05T23:59:59.999Z';
    expect(batchPath('gw-1', 1001, ts)).toBe('streams/gw-1/2026/01/05/000000001001.jsonl');
    expect(checkpointPath('gw-1', 1001, ts)).toBe('streams/gw-1/2026/01/05/000000001001.checkpoint.jws');
    expect(keySetPath('gw-1', 7)).toBe('keys/gw-1/000000000007.jwks.json');
    expect(parseEvidencePath(batchPath('gw-1', 1001, ts))).toEqual({ kind: 'batch', stream: 'gw-1', firstSeq: 1001, date: '2026-01-05' });
    expect(parseEvidencePath('keys/gw-1/000000000007.jwks.json')).toEqual({ kind: 'keys', stream: 'gw-1', fromSeq: 7 });
    expect(parseEvidencePath('streams/GW/2026/01/05/000000000001.jsonl')).toBeNull();
    expect(parseEvidencePath('README.md')).toBeNull();
    expect(() => batchPath('../x', 1, ts)).toThrow(/stream id/);
    expect(() => batchPath('gw-1', 0, ts)).toThrow(/≥ 1/);
  });
});

describe('checkpoints and events', () => {
  it('decodes only exact checkpoint files', () => {
    expect(decodeCheckpoint('a.b.c')).toMatchObject({ ok: false });
    expect(decodeCheckpoint('not-a-jws\n')).toMatchObject({ ok: false, problem: expect.stringContaining('three') });
  });

  it('names the first missing or mistyped field of an event', () => {
    expect(eventProblem('gateway_stop', { reason: 'x' })).toBeNull();
    expect(eventProblem('gateway_stop', {})).toBe('gateway_stop.data.reason: expected string');
    expect(eventProblem('nope', {})).toMatch(/unknown event type/);
    expect(eventProblem('statement_result', { session_id: 's', decision_id: 'd', outcome: 'ok', rows: 'many', duration_ms: 1, sqlstate: null })).toBe(
      'statement_result.data.rows: expected number or null',
    );
  });
});

describe('golden repository (engine/evidence/testdata/golden, regenerate it as docs/evidence-format.md says)', () => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'golden');
  const onDisk = new Map<string, Uint8Array>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile() && e.name !== 'expected-report.json') onDisk.set(relative(dir, join(e.parentPath, e.name)).split(sep).join('/'), readFileSync(join(e.parentPath, e.name)));

  it('is what the writer produces today, byte for byte (the format has not drifted)', async () => {
    const now = await goldenRepository();
    expect([...onDisk.keys()].sort()).toEqual([...now.keys()].sort());
    for (const [p, b] of now) expect(Buffer.from(onDisk.get(p)!).toString('utf8'), p).toBe(Buffer.from(b).toString('utf8'));
  });

  it('verifies to the committed expected report', async () => {
    const expected = JSON.parse(readFileSync(join(dir, 'expected-report.json'), 'utf8')) as Record<string, unknown>;
    const r = await verifyEvidence(onDisk);
    expect({ ok: r.ok, clean: r.clean, findings: r.findings, heads: r.heads, lines: r.lines }).toEqual(expected);
  });
});

describe('a repository written before signed rotations (testdata/golden-unsigned-rotation: format v1 as first published)', () => {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'golden-unsigned-rotation');
  const files = new Map<string, Uint8Array>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) files.set(relative(dir, join(e.parentPath, e.name)).split(sep).join('/'), readFileSync(join(e.parentPath, e.name)));

  it('still verifies: intact, with its unsigned rotation disclosed as a warning', async () => {
    const r = await verifyEvidence(files);
    expect(r.ok).toBe(true);
    expect(r.findings.map((f) => [f.code, f.severity, f.seq])).toEqual([
      ['GAP_RECORDED', 'warning', 27],
      ['KEY_ROTATION_LEGACY', 'warning', 29],
    ]);
  });

  it('needs both keys pinned: the first key alone does not vouch for an unsigned rotation', async () => {
    const [a, b] = [await signingKeyFromJwk(TEST_KEYS.a), await signingKeyFromJwk(TEST_KEYS.b)];
    expect((await verifyEvidence(files, { pinnedThumbprints: [a.thumbprint] })).findings.map((f) => f.code)).toContain('KEY_NOT_PINNED');
    expect((await verifyEvidence(files, { pinnedThumbprints: [a.thumbprint, b.thumbprint] })).ok).toBe(true);
  });
});
