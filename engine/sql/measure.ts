// What measuring a write's blast radius needs whatever the dialect: refusing calls a measuring count would
// run too, and checking that a rewritten parse tree still holds the statement's own predicate.
import type { Measurement } from './types.ts';

/**
 * Why a measuring count cannot be run (the write calls functions that are not known pure, or whose result
 * changes between the count and the write); null when it can. `base`: the name the dialect's function
 * lists use for a recorded call.
 */
export function impureCalls(functions: readonly string[], base: (f: string) => string, pure: ReadonlySet<string>, volatile: ReadonlySet<string>): Measurement | null {
  const impure = functions.filter((f) => {
    const name = base(f);
    return !pure.has(name) || volatile.has(name);
  });
  if (impure.length === 0) return null;
  return { error: `it calls ${impure.join(', ')}, which a measuring count would run too, or whose result changes between the count and the write` };
}

/** Structural equality of two parse trees, ignoring the keys `skip` names (source positions, comments). */
export function sameTree(a: unknown, b: unknown, skip: (key: string) => boolean): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => !skip(k));
  const kb = Object.keys(b).filter((k) => !skip(k));
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!sameTree((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], skip)) return false;
  return true;
}
