// The policy input and its hash: buildInput's fast statement copy and inputHash's cached fragments must
// give exactly what the straightforward definitions give (spread copy; sha256 of RFC 8785 JSON), always.
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeSql, loadParser } from '../sql/postgres/analyze.ts';
import type { StatementAnalysis } from '../sql/types.ts';
import { buildInput, INPUT_VERSION, inputHash, inputHashReference, normalizeConnection, normalizeIdentity, type ApprovalInput, type PolicyInput } from './input.ts';

/** buildInput as it was first written: the definition the fast version must match. */
function referenceInput(
  analysis: StatementAnalysis,
  fp: string | null,
  index: number,
  count: number,
  ctx: { identity: PolicyInput['identity']; connection: PolicyInput['connection']; approval?: ApprovalInput | null },
  now: Date,
): PolicyInput {
  return {
    version: INPUT_VERSION,
    identity: ctx.identity,
    connection: ctx.connection,
    statement: { ...analysis, parameters: analysis.parameters ?? null, fingerprint: fp, index, count, blast_radius: null },
    approval: ctx.approval ?? null,
    now: now.toISOString(),
  };
}

/** sha256 over the `canonicalize` package's RFC 8785 text: independent of the evidence serializer. */
const independentHash = (input: unknown): string => createHash('sha256').update(canonicalize(input)!, 'utf8').digest('hex');

/** The copy engine.ts makes of a cached analysis for a new text (its key order differs from the analyzer's). */
function withText(a: StatementAnalysis, text: string): StatementAnalysis {
  const { unresolved, ...rest } = a;
  return { ...rest, text, unresolved };
}

// Texts that stress JSON escaping: quotes, backslashes, controls, line separators, non-BMP, private use
// (the fragment markers use U+F8FF), and strings that look like the markers or like JSON syntax.
const TEXTS = [
  'SELECT 1',
  "SELECT 'it''s' AS \"q\"",
  'SELECT E\'\\\\n\\t\' -- back\\slash',
  'SELECT \u0000\u0001\u001f\u007f',
  'SELECT \u2028\u2029 AS sep',
  'SELECT \'😀 émoji 漢字 \ud83d\ude00\'',
  'SELECT \uf8ff AS private_use',
  'SELECT \'\uf8ffverdict-now-00000000-0000-0000-0000-000000000000\'',
  'SELECT \'","now":"2026-01-01T00:00:00.000Z"}\' AS injection',
  '',
  ' '.repeat(3) + 'x'.repeat(5000),
];

let seed = 7;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
function randomText(): string {
  const pool = ['a', 'Z', ' ', '"', '\\', '\n', '\t', '\u0000', '\u001f', 'é', '€', '\u2028', '😀', '\uf8ff', '{', '}', ':', ','];
  let s = '';
  for (let i = Math.floor(rnd() * 40); i > 0; i--) s += pool[Math.floor(rnd() * pool.length)];
  return s;
}

describe('policy input', () => {
  let analyses: StatementAnalysis[];
  beforeAll(async () => {
    await loadParser();
    analyses = [
      'SELECT abalance FROM pgbench_accounts WHERE aid = 1',
      'UPDATE t SET a = 1 WHERE b = 2 RETURNING a, lower(c)',
      "COPY t TO '/tmp/x'",
      'SET search_path = x',
      "DO $$ BEGIN EXECUTE 'select 1'; END $$",
      'SELEC broken',
      'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d',
    ].flatMap((sql) => analyzeSql(sql));
  });

  const identity = normalizeIdentity({ sub: 'alice', email: 'alice@example.com', groups: ['b', 'a', 'é'], issuer: 'https://idp' });
  const connection = normalizeConnection({ name: 'main', front_door: 'postgres', client_addr: '10.0.0.1', application_name: 'psql "x"' });

  it('builds the same input as the spread definition', () => {
    const now = new Date('2026-03-04T05:06:07.089Z');
    for (const a of [...analyses, ...analyses.map((x) => withText(x, 'other text'))]) {
      for (const approval of [null, { request_id: 'r', approved_by: ['x'], review_ids: ['1'] }]) {
        const got = buildInput(a, 'fp', 1, 3, { identity, connection, approval }, now);
        const want = referenceInput(a, 'fp', 1, 3, { identity, connection, approval }, now);
        expect(got).toEqual(want);
        expect(Object.keys(got.statement).sort()).toEqual(Object.keys(want.statement).sort());
        expect(Object.keys(got)).toEqual(Object.keys(want));
      }
    }
  });

  it('hashes exactly like sha256 over canonicalize(), for repeated shapes with changing text and time', () => {
    const ctxs = [
      { identity, connection },
      { identity: normalizeIdentity({ sub: 'bob' }), connection },
      { identity, connection, approval: { request_id: 'req-1', approved_by: ['carol'], review_ids: ['9'] } },
    ];
    let checked = 0;
    let t = Date.parse('2026-01-01T00:00:00.000Z');
    for (const base of analyses) {
      for (const ctx of ctxs) {
        // Like the engine: one analysis kept by the cache, a copy with the new text per hit.
        for (let i = 0; i < 40; i++) {
          const text = i < TEXTS.length ? TEXTS[i]! : randomText();
          t += Math.floor(rnd() * 3); // often the same millisecond
          const input = buildInput(withText(base, text), i % 7 === 0 ? null : 'select ?', 0, 1, ctx, new Date(t));
          const h = inputHash(input);
          expect(h).toBe(independentHash(referenceInput(withText(base, text), i % 7 === 0 ? null : 'select ?', 0, 1, ctx, new Date(t))));
          expect(h).toBe(inputHashReference(input));
          checked++;
        }
      }
    }
    expect(checked).toBe(analyses.length * ctxs.length * 40);
  });

  it('sees every change outside text and now (no stale fragments)', () => {
    const a = analyses[1]!;
    const ctx = { identity, connection };
    const now = new Date('2026-01-01T00:00:00.000Z');
    const variants: PolicyInput[] = [];
    for (let i = 0; i < 3; i++) variants.push(buildInput(withText(a, 'x'), 'fp', 0, 1, ctx, now)); // warm the cache
    variants.push(buildInput(withText(a, 'x'), 'fp2', 0, 1, ctx, now));
    variants.push(buildInput(withText(a, 'x'), 'fp', 1, 2, ctx, now));
    variants.push(buildInput(withText(a, 'x'), 'fp', 0, 1, { identity, connection: { ...connection, database: 'other' } }, now));
    variants.push(buildInput({ ...withText(a, 'x'), has_where: !a.has_where }, 'fp', 0, 1, ctx, now));
    variants.push(buildInput({ ...withText(a, 'x'), reads: [] }, 'fp', 0, 1, ctx, now));
    const extra = buildInput(withText(a, 'x'), 'fp', 0, 1, ctx, now);
    (extra.statement as unknown as Record<string, unknown>).added = 'member';
    variants.push(extra);
    const withoutNow = buildInput(withText(a, 'x'), 'fp', 0, 1, ctx, now) as Partial<PolicyInput>;
    delete withoutNow.now;
    variants.push(withoutNow as PolicyInput);
    for (let round = 0; round < 3; round++) for (const v of variants) expect(inputHash(v)).toBe(independentHash(v));
    expect(new Set(variants.slice(2).map(inputHash)).size).toBe(variants.length - 2);
  });

  it('takes the fragment path for repeated shapes: nested objects are matched by identity, not content', () => {
    // The engine never mutates a cached analysis (its decision cache replays it by reference); this shows
    // the fast path is really taken, and why that rule matters.
    const a = { ...analyses[0]!, reads: analyses[0]!.reads.map((r) => ({ ...r, columns: [...r.columns] })) };
    const ctx = { identity, connection };
    const now = new Date('2026-01-01T00:00:00.000Z');
    for (let i = 0; i < 3; i++) inputHash(buildInput(withText(a, 'q'), 'fp', 0, 1, ctx, now));
    const before = inputHash(buildInput(withText(a, 'q'), 'fp', 0, 1, ctx, now));
    a.reads[0]!.columns.push('mutated_in_place');
    const input = buildInput(withText(a, 'q'), 'fp', 0, 1, ctx, now);
    expect(inputHashReference(input)).not.toBe(before);
    expect(inputHash(input)).toBe(before);
  });

  it('refuses lone surrogates as the reference does, also once the shape is cached', () => {
    const a = analyses[0]!;
    const ctx = { identity, connection };
    for (let i = 0; i < 3; i++) inputHash(buildInput(withText(a, 'ok'), 'fp', 0, 1, ctx, new Date()));
    const bad = buildInput(withText(a, 'x\ud800y'), 'fp', 0, 1, ctx, new Date());
    const thrown = (f: () => unknown): unknown => {
      try {
        f();
      } catch (err) {
        return err;
      }
      return null;
    };
    const want = thrown(() => inputHashReference(bad));
    expect(want).toBeInstanceOf(Error);
    expect(thrown(() => inputHash(bad))).toEqual(want);
    // A text that merely spells a surrogate escape is fine.
    const spelled = buildInput(withText(a, 'x\\ud800y'), 'fp', 0, 1, ctx, new Date());
    expect(inputHash(spelled)).toBe(independentHash(spelled));
  });
});
