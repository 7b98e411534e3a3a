// The row digest: one value however rows are fed (cells, framed bodies, offsets into a shared buffer, batched
// or not), equal to sha256 over the framed rows in order.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRowDigest } from './response.ts';

/** A row framed as a DataRow body: count, then per cell its length (-1 for NULL) and UTF-8 bytes. */
function frame(cells: readonly (string | null)[]): Buffer {
  const parts = [Buffer.from([cells.length >> 8, cells.length & 255])];
  for (const c of cells) {
    const b = c === null ? null : Buffer.from(c, 'utf8');
    const len = Buffer.alloc(4);
    len.writeInt32BE(b === null ? -1 : b.length);
    parts.push(len, ...(b ? [b] : []));
  }
  return Buffer.concat(parts);
}

const cells = fc.array(fc.option(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ minLength: 900, maxLength: 3000 })), { nil: null }), { maxLength: 6 });

describe('createRowDigest', () => {
  it('gives sha256 over the framed rows whether fed as cells, bodies or offsets, in any mix', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(cells, fc.constantFrom('row', 'framed', 'framedAt')), { maxLength: 300 }), (rows) => {
        const bodies = rows.map(([c]) => frame(c));
        const shared = Buffer.concat([Buffer.from('pad'), ...bodies]);
        const want = createHash('sha256');
        for (const b of bodies) want.update(b);
        const d = createRowDigest();
        let at = 3;
        rows.forEach(([c, how], i) => {
          const n = bodies[i]!.length;
          if (how === 'row') d.row(c);
          else if (how === 'framed') d.framed(bodies[i]!);
          else d.framedAt(shared, at, at + n);
          at += n;
        });
        expect(d.finish()).toEqual({ sha256: want.digest('hex'), rows: rows.length, bytes: bodies.reduce((s, b) => s + b.length, 0) });
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('does not keep a reference to the bytes it was given: a buffer reused after framedAt changes nothing', () => {
    const buf = frame(['123-45-6789', 'ada@example.org']);
    const want = createHash('sha256').update(buf).digest('hex');
    const d = createRowDigest();
    d.framedAt(buf, 0, buf.length);
    buf.fill(0);
    expect(d.finish().sha256).toBe(want);
  });
});
