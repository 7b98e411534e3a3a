// Answers held back from the client: a read may travel upstream while its decision is made durable or its catalog
// check runs, and from the first answer to it on, every byte for the client waits here, in order, until the unit
// is confirmed (released) or may not be answered as it ran (discarded).
import type { Unit } from './response-units.ts';

/** Whether `u` was sent before its check passed: its answers, and all after them, wait. */
export function isHeld(u: Unit | undefined): boolean {
  return u !== undefined && (u.type === 'query' || u.type === 'bind') && u.held === true;
}

/**
 * The bytes held for the client, beside the tracker's queue of units (whose `held` flags it clears on release).
 *
 * @example
 * const held = new HeldAnswers(tracker.units);
 * held.hold(result.subarray(heldFrom)); // in transform, from the first answer to a held unit on
 * socket.write(held.release()); // the unit's decision is durable and its check passed
 */
export class HeldAnswers {
  readonly #units: readonly Unit[];
  #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(units: readonly Unit[]) {
    this.#units = units;
  }

  /** Bytes waiting for a held unit's confirmation. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes wait: everything that comes for the client waits behind them. */
  get waiting(): boolean {
    return this.#chunks.length > 0;
  }

  /** Whether answers are being held: a held unit is queued, or bytes wait. */
  get holding(): boolean {
    if (this.#chunks.length > 0) return true;
    for (const u of this.#units) if (isHeld(u)) return true;
    return false;
  }

  /** Keeps `bytes` for the client, after those already held. */
  hold(bytes: Buffer): void {
    this.#chunks.push(bytes);
    this.#bytes += bytes.length;
  }

  /** The held units are confirmed: every byte held so far, to send now, in order; what follows is not held. */
  release(): Buffer {
    for (const u of this.#units) if ((u.type === 'query' || u.type === 'bind') && u.held) u.held = false;
    const out = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#bytes = 0;
    return out;
  }

  /** Drops every byte held; only once the held unit has been answered in full (its ReadyForQuery held too). */
  discard(): void {
    for (const u of this.#units) if (isHeld(u)) throw new Error('discardHeld before the held unit was answered');
    this.#chunks = [];
    this.#bytes = 0;
  }
}
