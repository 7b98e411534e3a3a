// What every dialect's walk shares apart from lineage: the nesting limit, CTE lookup through scopes,
// and the WHERE facts of the top-level statement.
import type { ResultColumn } from './types.ts';

/** The part of a dialect's Scope that CTE lookup walks. */
interface CteScope {
  parent: CteScope | null;
  ctes: Map<string, ResultColumn[]> | null;
}

/** Thrown when the tree is nested deeper than AnalyzeOptions.maxDepth; the caller turns it into 'unknown'. */
export class DepthError extends Error {
  readonly code = 'SQL_NESTING_LIMIT';
  constructor(readonly limit: number) {
    super(`statement nesting exceeds the limit of ${limit} levels`);
    this.name = 'DepthError';
  }
}

/** One level deeper; throws DepthError past the walk's limit. */
export function check(w: { readonly o: { readonly maxDepth: number } }, d: number): number {
  if (d > w.o.maxDepth) throw new DepthError(w.o.maxDepth);
  return d + 1;
}

/** The nearest CTE of that name, from this scope outwards. */
export function lookupCte(sc: CteScope | null, name: string): ResultColumn[] | null {
  for (let s = sc; s; s = s.parent) {
    const c = s.ctes?.get(name);
    if (c) return c;
  }
  return null;
}

/** WHERE of the top-level statement: whether there is one, and whether it filters nothing (WHERE true, 1=1). */
export interface WhereInfo {
  has: boolean;
  trivial: boolean;
}

/** Outcome of evaluating a WHERE: True, False, Null, row-dependent Unknown, row-independent Constant. */
export type Truth = 'T' | 'F' | 'N' | 'U' | 'C';

export function notTruth(v: Truth): Truth {
  return v === 'T' ? 'F' : v === 'F' ? 'T' : v;
}

export function orTruth(vals: readonly Truth[]): Truth {
  if (vals.includes('T')) return 'T';
  // A row-independent arm that may be true lets every row through.
  if (vals.includes('C')) return 'C';
  if (vals.includes('U')) return 'U';
  return vals.includes('N') ? 'N' : 'F';
}

export function andTruth(vals: readonly Truth[]): Truth {
  if (vals.includes('F')) return 'F';
  if (vals.includes('N')) return 'N';
  if (vals.includes('U')) return 'U';
  return vals.includes('C') ? 'C' : 'T';
}

/** The part of a walker's scope chain `markLocal` needs (both dialects' scopes fit). */
export interface LocalScope<R> {
  parent: LocalScope<R> | null;
  rels: R[];
  /** References to this scope's own rows (a count: the statement depends on them). */
  local: number;
}

/** Counts a reference to `rel`'s rows on the nearest scope that holds it. */
export function markLocal<R>(rel: R, sc: LocalScope<R>): void {
  for (let s: LocalScope<R> | null = sc; s; s = s.parent) {
    if (s.rels.includes(rel)) {
      s.local++;
      return;
    }
  }
}
