// Expressions: the column values that flow into a value (lineage), the columns it compares on
// (predicates), the functions it calls, and whether a WHERE filters anything at all.
import { taggedVia, useOuts } from '../../lineage.ts';
import type { ColumnRef } from '../../types.ts';
import { andTruth, compareConst, constBool, constTruth, notTruth, orTruth, recordWhere, type Const, type Truth } from '../../walk.ts';
import { DYNAMIC_FUNCTIONS, OPERATORS, PURE_FUNCTIONS, isTextType } from '../functions.ts';
import { fold, kindOf } from '../names.ts';
import type { Json } from '../parser.ts';
import { columnRef, findRel, positionalRef, refParts, wholeRows } from './columns.ts';
import { check, type Rel, type Scope, type Walk, type WhereInfo } from './scope.ts';

/** Node kinds that carry no column value. */
const INERT: ReadonlySet<string> = new Set(['literal', 'boolean', 'null', 'placeholder', 'var', 'data_type', 'sql_comment']);

/** Body keys that may hold a lone child; a one-key object keyed so is a body, not a node. */
const BODY_KEYS: ReadonlySet<string> = new Set(['this', 'expression', 'expressions']);

/**
 * Walks an expression: column values that flow into it go to `sink` (lineage), columns it compares on go
 * to predicates when `pred`; functions and subqueries are recorded.
 */
export function ex(w: Walk, n: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
  if (!n || typeof n !== 'object') return;
  d = check(w, d);
  if (!isNode(n)) {
    anyEx(w, n, sc, sink, pred, d);
    return;
  }
  const k = kindOf(n);
  const b = n[k];
  if (INERT.has(k)) return;
  switch (k) {
    case 'column':
    case 'identifier':
    case 'dot': {
      const parts = refParts(n);
      if (parts) {
        columnRef(w, parts, sc, sink, pred);
        return;
      }
      break;
    }
    case 'star':
      wholeRows(w, starRels(b, sc), sc, sink, pred);
      return;
    case 'parameter':
      // `$2` is the second column of the FROM items; `?`, `:1` and `$name` are values bound at run time.
      if (b?.style === 'Dollar' && typeof b.index === 'number') positionalRef(w, b.index as number, sc, sink, pred);
      return;
    case 'subquery':
    case 'select':
    case 'union':
    case 'intersect':
    case 'except':
    case 'values':
      useOuts(w, w.query(n, sc, d), sink, pred);
      return;
    case 'exists':
      w.query(b.this, sc, d);
      return;
    case 'function': {
      const name = String(b.name ?? '').toLowerCase();
      call(w, name, PURE_FUNCTIONS.has(name), b, sc, sink, pred, d);
      return;
    }
    case 'method_call': {
      // A qualified call (db.schema.fn(...), schema.fn(...)): a user-defined function.
      const q = refParts(b.this) ?? [];
      const name = [...q, fold(b.method)].join('.').toLowerCase();
      call(w, name, false, { args: b.args }, sc, sink, pred, d);
      return;
    }
    case 'window_function':
      ex(w, b.this, sc, sink, pred, d);
      over(w, b.over, sc, d);
      return;
    case 'within_group':
      ex(w, b.this, sc, sink, pred, d);
      predicates(w, b.order_by, sc, d);
      return;
    case 'table': {
      // A table where a value is expected (odd syntax): all of its rows.
      const all = { select: { expressions: [{ star: {} }], from: { expressions: [n] } } };
      useOuts(w, w.query(all, sc, d), sink, pred);
      return;
    }
  }
  // Conditions decide what a value becomes (which CASE/IFF branch runs — one that fails, or not — whether
  // NULLIF yields NULL, which value GREATEST picks): wherever they stand, the columns they test are predicates.
  const name = OPERATORS.has(k) ? k : callName(k, b);
  if (TESTS.has(name)) anyEx(w, b, sc, null, true, d);
  if (OPERATORS.has(k)) anyEx(w, b, sc, sink, pred, d);
  else call(w, name, true, b, sc, sink, pred, d);
}

/** Operators and built-ins whose result tests their operands (compares, matches, or branches on them). */
const TESTS: ReadonlySet<string> = new Set([
  'eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'like', 'i_like', 'in', 'between', 'is_null', 'is_true', 'is_false', 'is',
  'null_safe_eq', 'null_safe_neq', 'similar_to', 'any', 'all', 'glob', 'match', 'and', 'or', 'not', 'case',
  'iff', 'nullif', 'greatest', 'least', 'decode', 'equal_null', 'nvl2', 'contains', 'startswith', 'endswith',
  'regexp_like', 'rlike', 'ilike', 'regexp_instr', 'position', 'charindex', 'if',
]);

/** Walks each expression as a predicate: its value decides which or how many rows come back. */
export function predicates(w: Walk, list: Json, sc: Scope, d: number): void {
  if (!list) return;
  for (const e of Array.isArray(list) ? list : [list]) ex(w, e, sc, null, true, d);
}

/**
 * A function call: its name recorded, its arguments walked. A direct copy of a column passed to a known
 * built-in reaches the value only as that call's result (`through`, e.g. COUNT(ssn)). An unknown function
 * could read any table: its result is unresolved lineage.
 */
export function call(w: Walk, name: string, known: boolean, b: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number, from = false): void {
  w.facts.functions.add(name);
  const dynamic = DYNAMIC_FUNCTIONS.get(name);
  if (dynamic) w.facts.unresolve(`dynamic_sql: ${dynamic}`, w.col);
  for (const key in b ?? {}) {
    const v = b[key];
    if (!v || typeof v !== 'object') continue;
    if (key === 'over') over(w, v, sc, d);
    else if (key === 'filter' || key === 'order_by') predicates(w, v, sc, d);
    else for (const a of Array.isArray(v) ? v : [v]) arg(w, a, name, known, sc, sink, pred || from, d);
  }
  if (known || dynamic) return;
  if (from) w.facts.unresolve(`unknown_set_function: ${name}() in FROM is not a known built-in; its columns and what they derive from are unknown`, undefined);
  else if (sink) w.facts.unresolve(`unknown_function: ${name}() is not a known pure built-in; it may read any table`, w.col);
}

function arg(w: Walk, a: Json, name: string, known: boolean, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
  const parts = sink && known ? refParts(copyOf(a)) : null;
  if (!parts) {
    ex(w, a, sc, sink, pred, d);
    return;
  }
  const tmp: ColumnRef[] = [];
  const plain = columnRef(w, parts, sc, tmp, pred);
  for (const src of tmp) (sink as ColumnRef[]).push(plain ? taggedVia(w, src, [name]) : src);
}

/** The expression a value is a direct copy of: through parentheses, named arguments and casts to text. */
export function copyOf(n: Json): Json {
  for (;;) {
    const k = kindOf(n);
    if (k === 'paren') n = n.paren.this;
    else if (k === 'named_argument') n = n.named_argument.value;
    else if ((k === 'cast' || k === 'try_cast') && isTextType(n[k].to)) n = n[k].this;
    else return n;
  }
}

/** The FROM items a `*` / `t.*` inside an expression covers. */
export function starRels(b: Json, sc: Scope): Rel[] {
  if (b?.table) {
    const r = findRel([fold(b.table)], sc);
    return r ? [r] : [];
  }
  return sc.rels;
}

function over(w: Walk, o: Json, sc: Scope, d: number): void {
  if (!o || typeof o !== 'object') return;
  predicates(w, o.partition_by, sc, d);
  predicates(w, o.order_by, sc, d);
  if (o.frame) ex(w, o.frame, sc, null, true, d);
}

/** The name a call shows in `functions`: as written where polyglot kept it, else its node kind. */
function callName(kind: string, b: Json): string {
  const n = typeof b?.original_name === 'string' ? b.original_name : typeof b?.name === 'string' ? b.name : kind;
  return n.toLowerCase();
}

/** Every child of an unfamiliar node or a node's body, so no function call or subquery escapes. */
function anyEx(w: Walk, b: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
  if (!b || typeof b !== 'object') return;
  for (const x of Array.isArray(b) ? b : Object.values(b)) if (x && typeof x === 'object') ex(w, x, sc, sink, pred, d);
}

/** A node is an object with one key, its kind (`{ column: {...} }`); bodies and identifiers have several. */
export function isNode(x: Json): boolean {
  if (!x || typeof x !== 'object' || Array.isArray(x)) return false;
  let n = 0;
  let key = '';
  for (const k in x) {
    key = k;
    if (++n > 1) return false;
  }
  return n === 1 && !BODY_KEYS.has(key);
}

// ---- WHERE ----------------------------------------------------------------------------------

/** Walks a WHERE for reads and predicates, and tells whether it filters anything (WHERE TRUE / 1=1 do not). */
export function whereClause(w: Walk, where: Json, sc: Scope, d: number, info: WhereInfo | null): void {
  recordWhere(info, truth(w, where, sc, d));
}

const COMPARE: ReadonlyMap<string, string> = new Map([['eq', '='], ['neq', '<>'], ['lt', '<'], ['lte', '<='], ['gt', '>'], ['gte', '>=']]);

function truth(w: Walk, n: Json, sc: Scope, d: number): Truth {
  d = check(w, d);
  const k = kindOf(n);
  const b = n?.[k];
  switch (k) {
    case 'paren':
      return truth(w, b.this, sc, d);
    case 'and':
    case 'or': {
      const l = truth(w, b.left, sc, d);
      const r = truth(w, b.right, sc, d);
      return k === 'or' ? orTruth([l, r]) : andTruth([l, r]);
    }
    case 'not':
      return notTruth(truth(w, b.this, sc, d));
    case 'boolean':
    case 'null':
    case 'literal':
    case 'cast': {
      const v = constValue(n);
      if (v === undefined) break;
      w.facts.litDep = true;
      return constTruth(v, boolWord);
    }
    case 'is_null': {
      const v = constValue(b.this);
      if (v === undefined) break;
      w.facts.litDep = true;
      return (v === null) !== !!b.not ? 'T' : 'F';
    }
    default: {
      const op = COMPARE.get(k);
      if (!op) break;
      const l = constValue(b.left);
      const r = l === undefined ? undefined : constValue(b.right);
      if (l !== undefined && r !== undefined) {
        w.facts.litDep = true;
        // A boolean against a string stays undecided ('C'): no string-to-boolean conversion is assumed here.
        return compareConst(op, l, r, null);
      }
      if ((op === '=' || op === '<=' || op === '>=') && sameColumn(b.left, b.right)) {
        // `id = id` filters nothing but NULLs: as good as no WHERE.
        ex(w, n, sc, null, true, d);
        return 'C';
      }
    }
  }
  const before = sc.local;
  ex(w, n, sc, null, true, d);
  return sc.local > before ? 'U' : 'C';
}

function sameColumn(a: Json, b: Json): boolean {
  const x = refParts(a);
  const y = refParts(b);
  return !!x && !!y && x.join('.') === y.join('.');
}

/** Value of a constant expression (literal, possibly parenthesized, cast or negated); undefined if not constant. */
function constValue(n: Json): Const | undefined {
  const k = kindOf(n);
  const b = n?.[k];
  switch (k) {
    case 'null':
      return null;
    case 'boolean':
      return !!b?.value;
    case 'literal':
      if (b.literal_type === 'number') return Number(b.value);
      if (b.literal_type === 'string') return String(b.value);
      return undefined;
    case 'paren':
      return constValue(b.this);
    case 'neg': {
      const v = constValue(b.this);
      return typeof v === 'number' ? -v : undefined;
    }
    case 'cast': {
      const v = constValue(b.this);
      if (v === undefined) return undefined;
      if (b.to?.data_type === 'boolean') return v === null ? null : (constBool(v, boolWord) ?? undefined);
      return v;
    }
    default:
      return undefined;
  }
}

/** Snowflake's string-to-boolean words: true/t/yes/y/on/1 and false/f/no/n/off/0. */
function boolWord(s: string): boolean | null {
  if (['true', 't', 'yes', 'y', 'on', '1'].includes(s)) return true;
  if (['false', 'f', 'no', 'n', 'off', '0'].includes(s)) return false;
  return null;
}
