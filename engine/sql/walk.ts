// What every dialect's walk shares apart from lineage and column resolution: the walk's state and scopes,
// the nesting limit, CTE lookup, and judging a WHERE (truth values, constants) for the statement's facts.
import type { Flow } from './lineage.ts';
import type { ResultColumn } from './types.ts';

/** One level of name resolution (a query's FROM items and WITH); a dialect's Scope adds its own. */
export interface Scope<R> {
  parent: Scope<R> | null;
  rels: R[];
  ctes: Map<string, ResultColumn[]> | null;
  /** Column references resolved at this level; WHERE row-dependence compares it before/after. */
  local: number;
}

/**
 * One statement's walk, shared by every part of it (a dialect's Walk adds its own state). `query` is the
 * way back up: queries hold expressions, which hold queries.
 */
export interface Walk<N, S> extends Flow {
  /** WHERE of the top-level statement (SELECT / UPDATE / DELETE). */
  readonly where: WhereInfo;
  readonly o: { readonly maxDepth: number };
  /** Name of the result column whose expression is being walked (for Unresolved.column). */
  col: string | undefined;
  /** Views (PostgreSQL: and functions) expanded once per statement; their facts were recorded the first time. */
  readonly viewMemo: Map<string, ResultColumn[] | null>;
  /** The catalog objects being expanded now: one met again inside itself is not followed. */
  readonly expanding: Set<string>;
  /**
   * A query node anywhere; returns its output columns. `top`: its WHERE is the statement's; `result`: its
   * output list is the statement's result (names Unresolved.column).
   */
  query(node: N, sc: S | null, d: number, top?: boolean, result?: boolean): ResultColumn[];
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
export function lookupCte(sc: Scope<unknown> | null, name: string): ResultColumn[] | null {
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

/** Records a WHERE that evaluated to `t`: it filters nothing when it may be true whatever the row. */
export function recordWhere(info: WhereInfo | null, t: Truth): void {
  if (!info) return;
  info.has = true;
  info.trivial = t === 'T' || t === 'C';
}

/** A constant's value as a WHERE sees it (a literal, possibly cast or negated). */
export type Const = number | string | boolean | null;

/** The dialect's reading of a string as a boolean (trimmed, lower case, not empty); null when it is none. */
export type BoolWord = (s: string) => boolean | null;

/** A constant as a boolean: a number is true unless 0, NULL is null, a string as the dialect reads it. */
export function constBool(v: Const, word: BoolWord): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (v === null) return null;
  const s = v.trim().toLowerCase();
  if (!s) return null;
  return word(s);
}

/** A constant WHERE: true, false, NULL, or 'C' (row-independent) for a string that reads as no boolean. */
export function constTruth(v: Const, word: BoolWord): Truth {
  const b = constBool(v, word);
  return b === null ? (v === null ? 'N' : 'C') : b ? 'T' : 'F';
}

/**
 * `l op r` for two constants, op one of = <> != < > <= >=. NULL on either side is 'N'; a number and a
 * numeric string compare as numbers (1 = '1'); a boolean and a string compare as booleans only when the
 * dialect converts them (`boolWord`, PostgreSQL's untyped literals), any other pair of types is 'C'.
 * String ordering depends on the collation: only (in)equality of strings is certain.
 */
export function compareConst(op: string, l: Const, r: Const, boolWord: BoolWord | null): Truth {
  if (l === null || r === null) return 'N';
  let a: number | string | boolean = l;
  let b: number | string | boolean = r;
  if (typeof a !== typeof b) {
    if (typeof a === 'number' && typeof b === 'string' && b.trim() !== '' && !Number.isNaN(Number(b))) b = Number(b);
    else if (typeof b === 'number' && typeof a === 'string' && a.trim() !== '' && !Number.isNaN(Number(a))) a = Number(a);
    else if (boolWord && typeof a === 'boolean' && typeof b === 'string') {
      const x = constBool(b, boolWord);
      if (x === null) return 'C';
      b = x;
    } else if (boolWord && typeof b === 'boolean' && typeof a === 'string') {
      const x = constBool(a, boolWord);
      if (x === null) return 'C';
      a = x;
    } else return 'C';
  }
  if (typeof a === 'string' && op !== '=' && op !== '<>' && op !== '!=') return 'C';
  let res: boolean;
  switch (op) {
    case '=': res = a === b; break;
    case '<>':
    case '!=': res = a !== b; break;
    case '<': res = a < b; break;
    case '>': res = a > b; break;
    case '<=': res = a <= b; break;
    default: res = a >= b;
  }
  return res ? 'T' : 'F';
}
