// WHERE (evaluated for triviality while it is walked: WHERE true / 1=1 / x OR true filter nothing) and
// GROUP BY / ORDER BY / DISTINCT ON, whose ordinals and output names refer to the target list.
import type { ResultColumn } from '../../types.ts';
import { andTruth, compareConst, constBool, constTruth, notTruth, orTruth, recordWhere, type Const, type Truth } from '../../walk.ts';
import { strList, tagOf, type Json } from '../names.ts';
import { relHas } from './columns.ts';
import { ex } from './expressions.ts';
import { check, type Scope, type Walk, type WhereInfo } from './scope.ts';

/** GROUP BY / ORDER BY / DISTINCT ON: ordinals and output names refer to the target list. */
export function orderLike(w: Walk, items: Json[] | undefined, sc: Scope, outs: ResultColumn[], d: number): void {
  if (!items) return;
  for (const it of items) {
    const node = it.SortBy ? it.SortBy.node : it;
    if (!node) continue;
    const ival = node.A_Const?.ival;
    if (ival) {
      const o = outs[(ival.ival as number) - 1];
      if (o) for (const src of o.sources) w.facts.pred(src);
      continue;
    }
    const f = node.ColumnRef?.fields as Json[] | undefined;
    if (f && f.length === 1 && f[0].String) {
      const name = f[0].String.sval as string;
      const o = outs.find((x) => x.name === name);
      if (o && !(outs.length && inputHasSure(name, sc))) {
        for (const src of o.sources) w.facts.pred(src);
        continue;
      }
    }
    ex(w, node, sc, null, true, d);
  }
}

function inputHasSure(col: string, sc: Scope): boolean {
  for (const r of sc.rels) if (relHas(r, col) === 1 && !r.outs) return true;
  return false;
}

export function whereClause(w: Walk, where: Json, sc: Scope, d: number, info: WhereInfo | null): void {
  recordWhere(info, truth(w, where, sc, d));
}

/** Evaluates a WHERE for triviality while walking it once for reads and predicates. */
function truth(w: Walk, n: Json, sc: Scope, d: number): Truth {
  d = check(w, d);
  const tag = tagOf(n);
  const b = n[tag];
  switch (tag) {
    case 'BoolExpr': {
      const vals: Truth[] = [];
      for (const a of (b.args ?? []) as Json[]) vals.push(truth(w, a, sc, d));
      if (b.boolop === 'NOT_EXPR') return notTruth(vals[0] ?? 'U');
      return b.boolop === 'OR_EXPR' ? orTruth(vals) : andTruth(vals);
    }
    case 'A_Expr': {
      const cmp = constCompare(b);
      if (cmp) {
        w.facts.litDep = true;
        return cmp;
      }
      if (b.kind === 'AEXPR_OP' && sameColumn(b.lexpr, b.rexpr) && ['=', '>=', '<='].includes(opName(b))) {
        // `id = id` filters nothing but NULLs: as good as no WHERE.
        ex(w, n, sc, null, true, d);
        return 'C';
      }
      break;
    }
    case 'NullTest': {
      const v = constValue(b.arg);
      if (v !== undefined) {
        w.facts.litDep = true;
        const isNull = v === null;
        return (b.nulltesttype === 'IS_NULL') === isNull ? 'T' : 'F';
      }
      break;
    }
    case 'BooleanTest': {
      const inner = truth(w, b.arg, sc, d);
      if (inner === 'U' || inner === 'C') return inner;
      switch (b.booltesttype) {
        case 'IS_TRUE': return inner === 'T' ? 'T' : 'F';
        case 'IS_NOT_TRUE': return inner === 'T' ? 'F' : 'T';
        case 'IS_FALSE': return inner === 'F' ? 'T' : 'F';
        case 'IS_NOT_FALSE': return inner === 'F' ? 'F' : 'T';
        case 'IS_UNKNOWN': return inner === 'N' ? 'T' : 'F';
        case 'IS_NOT_UNKNOWN': return inner === 'N' ? 'F' : 'T';
      }
      return 'U';
    }
    case 'A_Const':
    case 'TypeCast': {
      const v = constValue(n);
      if (v !== undefined) {
        w.facts.litDep = true;
        return constTruth(v, boolin);
      }
      break;
    }
  }
  const before = sc.local;
  ex(w, n, sc, null, true, d);
  return sc.local > before ? 'U' : 'C';
}

function constCompare(b: Json): Truth | null {
  if (b.kind === 'AEXPR_OP') {
    const op = opName(b);
    if (!COMPARE.has(op)) return null;
    const l = constValue(b.lexpr);
    if (l === undefined) return null;
    const r = constValue(b.rexpr);
    if (r === undefined) return null;
    return compareConst(op, l, r, boolin);
  }
  if (b.kind === 'AEXPR_IN') {
    const l = constValue(b.lexpr);
    const items = b.rexpr?.List?.items as Json[] | undefined;
    if (l === undefined || !items) return null;
    let res: Truth = 'F';
    for (const it of items) {
      const r = constValue(it);
      if (r === undefined) return null;
      const c = compareConst('=', l, r, boolin);
      if (c === 'T') res = 'T';
      else if (c !== 'F' && res !== 'T') res = c;
    }
    return opName(b) === '<>' ? notTruth(res) : res;
  }
  return null;
}

function sameColumn(a: Json, b: Json): boolean {
  const fa = a?.ColumnRef?.fields as Json[] | undefined;
  const fb = b?.ColumnRef?.fields as Json[] | undefined;
  if (!fa || !fb || fa.length !== fb.length) return false;
  for (let i = 0; i < fa.length; i++) {
    const x = fa[i].String?.sval;
    if (x === undefined || x !== fb[i].String?.sval) return false;
  }
  return true;
}

function opName(b: Json): string {
  const names = b.name as Json[] | undefined;
  return (names?.[names.length - 1]?.String?.sval as string | undefined) ?? '';
}

const COMPARE = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

/** Value of a constant expression (literal, possibly cast or negated); undefined if not constant. */
function constValue(n: Json): Const | undefined {
  if (!n) return undefined;
  const c = n.A_Const;
  if (c) {
    if (c.isnull) return null;
    if (c.ival) return (c.ival.ival as number | undefined) ?? 0;
    if (c.fval) return Number(c.fval.fval);
    if (c.boolval) return c.boolval.boolval === true;
    if (c.sval) return (c.sval.sval as string | undefined) ?? '';
    if (c.bsval) return undefined;
    return undefined;
  }
  const tc = n.TypeCast;
  if (tc) {
    const v = constValue(tc.arg);
    if (v === undefined) return undefined;
    const names = strList(tc.typeName?.names as Json[] | undefined);
    const t = names[names.length - 1];
    if (t === 'bool' || t === 'boolean') {
      if (v === null) return null;
      const bv = constBool(v, boolin);
      return bv === null ? undefined : bv;
    }
    return v;
  }
  const e = n.A_Expr;
  if (e && e.kind === 'AEXPR_OP' && !e.lexpr && opName(e) === '-') {
    const v = constValue(e.rexpr);
    return typeof v === 'number' ? -v : undefined;
  }
  return undefined;
}

/** PostgreSQL boolin's words: t/true/y/yes/on/1 and f/false/n/no/off/0, and their unique prefixes. */
function boolin(s: string): boolean | null {
  if ('true'.startsWith(s) || 'yes'.startsWith(s) || s === 'on' || s === '1') return true;
  if ('false'.startsWith(s) || 'no'.startsWith(s) || s === 'off' || s === 'of' || s === '0') return false;
  return null;
}
