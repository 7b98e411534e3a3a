// The hash chain of one stream: each line is the canonical JSON of its record and carries the sha256
// of the previous line, so changing, removing or reordering any line breaks every link after it.
import { canonicalJson, sha256Hex } from '../canonical.ts';
import { FORMAT_VERSION, type EvidenceEvent, type EvidenceRecord } from './events.ts';
import { assertStreamId } from './layout.ts';

/** The end of a chain: the last line's sequence number and hash (seq 0 / null before the first line). */
export interface ChainHead {
  seq: number;
  hash: string | null;
}

/** The head of an empty stream. */
export const GENESIS: ChainHead = Object.freeze({ seq: 0, hash: null });

/** A line ready to be written: its text (without the newline), its hash, and the new head. */
export interface EncodedLine {
  record: EvidenceRecord;
  text: string;
  hash: string;
}

/**
 * Puts `event` on the chain after `head`: assigns seq and prev, serializes canonically, hashes.
 *
 * @example
 * const a = appendToChain(GENESIS, 'gw-1', '2026-01-05T10:00:00.000Z', { type: 'gateway_stop', data: { reason: 'test' } })
 * const b = appendToChain({ seq: a.record.seq, hash: a.hash }, 'gw-1', a.record.ts, ...)
 */
export function appendToChain(head: ChainHead, stream: string, ts: string, event: EvidenceEvent): EncodedLine {
  const record = { v: FORMAT_VERSION, stream, seq: head.seq + 1, ts, prev: head.hash, type: event.type, data: event.data } as EvidenceRecord;
  const text = canonicalJson(record);
  return { record, text, hash: sha256Hex(text) };
}

/**
 * The hash of a line as the next line's `prev` must carry it: sha256 of its canonical JSON text.
 *
 * @example
 * lineHash('{"data":{...},"prev":null,...}')
 */
export function lineHash(text: string | Uint8Array): string {
  return sha256Hex(text);
}

/**
 * A chain builder for one stream that keeps the head and keeps timestamps from going backwards
 * (wall clocks step back under NTP; the format promises non-decreasing `ts`).
 *
 * @example
 * const chain = createChain('gw-1'); const line = chain.append(event, new Date())
 */
export function createChain(stream: string, head: ChainHead = GENESIS, lastTs = '') {
  assertStreamId(stream);
  let current: ChainHead = { ...head };
  let ts = lastTs;
  // A group of events shares one Date; toISOString costs ~1 µs, so it runs once per distinct time.
  let isoMs = NaN;
  let iso = '';
  return {
    get head(): ChainHead {
      return current;
    },
    get lastTs(): string {
      return ts;
    },
    append(event: EvidenceEvent, now: Date): EncodedLine {
      const ms = now.getTime();
      if (ms !== isoMs) {
        iso = now.toISOString();
        isoMs = ms;
      }
      if (iso > ts) ts = iso;
      const line = appendToChain(current, stream, ts, event);
      current = { seq: line.record.seq, hash: line.hash };
      return line;
    },
  };
}
export type Chain = ReturnType<typeof createChain>;
