// Evidence of what one statement delivered: the digest of its DataRows as the client got them (after masking)
// and, where its decision asks (capture_rows), the rows themselves, kept up to the decision's limits.
import type { Verdict } from '../../engine/engine.ts';
import { createRowDigest, type RowDigest } from '../../engine/evidence/response.ts';
import { executedStatement } from './session-model.ts';

/** What one statement delivered, for evidence: the digest of its DataRows as sent and the rows kept when its decision asked. */
export interface DeliveredRows {
  sha256: string;
  rows: number;
  bytes: number;
  captured: { columns: string[]; rows: (string | null)[][]; truncated: boolean } | null;
}

/** Rows being kept for a statement's evidence, up to its decision's limits. */
export interface Capture {
  columns: string[];
  rows: (string | null)[][];
  bytes: number;
  maxRows: number;
  maxBytes: number;
  truncated: boolean;
}

/**
 * The rows of the statement now answering, as delivered: started at its first DataRow, taken at its end (take()).
 *
 * @example
 * if (!delivered.started) delivered.start(captureOf(verdict, index));
 * delivered.add(out, rowStart + 5, rowEnd); // each DataRow's body as sent
 * const evidence = delivered.take(); // at CommandComplete
 */
export class DeliveredRowsRecorder {
  #digest: RowDigest | null = null;
  /** The delivered rows kept for the current statement, when its decision asks (capture_rows), bounded. */
  #capture: Capture | null = null;

  /** Whether the current statement has delivered a row. */
  get started(): boolean {
    return this.#digest !== null;
  }

  /** The statement's first row is arriving: `capture` says whether to keep its rows, and within which limits. */
  start(capture: Capture | null): void {
    this.#digest = createRowDigest();
    this.#capture = capture;
  }

  /** One DataRow body as the client gets it (buf[start, end)): into the statement's digest and, while it fits, its kept rows. */
  add(buf: Buffer, start: number, end: number): void {
    this.#digest!.framedAt(buf, start, end); // offsets, not a subarray per row (~40 ns each)
    const c = this.#capture;
    if (!c || c.truncated) return;
    const size = end - start;
    if (c.rows.length >= c.maxRows || c.bytes + size > c.maxBytes) {
      c.truncated = true;
      return;
    }
    c.rows.push(textValues(buf.subarray(start, end))); // a row kept for evidence is read within its own bounds
    c.bytes += size;
  }

  /** The digest of the rows delivered since the last take (an empty result's when none), and starts a new one. */
  take(): DeliveredRows {
    const d = (this.#digest ?? createRowDigest()).finish();
    const c = this.#capture;
    this.reset();
    return c ? { ...d, captured: { columns: c.columns, rows: c.rows, truncated: c.truncated } } : { ...d, captured: null };
  }

  /** Forgets the current statement's rows (the server is ready for the next query). */
  reset(): void {
    this.#digest = null;
    this.#capture = null;
  }
}

/** Whether the decision of statement `index` of `verdict` asks to keep its rows (decision.capture_rows), and within which limits. */
export function captureOf(verdict: Verdict | null, index: number): Capture | null {
  const limits = verdict?.decisions[index]?.capture_rows;
  if (!verdict || !limits) return null;
  const a = executedStatement(verdict.statements[index]!);
  return { columns: a.result_columns.map((c) => c.name), rows: [], bytes: 0, maxRows: limits.max_rows, maxBytes: limits.max_bytes, truncated: false };
}

/** The values of a DataRow body (from its column count on) as text; null for NULL. */
export function textValues(body: Buffer): (string | null)[] {
  const row: (string | null)[] = [];
  const count = body.readUInt16BE(0);
  let p = 2;
  for (let i = 0; i < count; i++) {
    const len = body.readInt32BE(p);
    row.push(len < 0 ? null : body.toString('utf8', p + 4, p + 4 + len));
    p += 4 + Math.max(len, 0);
  }
  return row;
}
