// DDL / DCL / utility statements: queries inside are analyzed, every table they name is a write,
// functions are recorded, literals noted.
import { funcName, isNode, tagOf, type Json } from '../names.ts';
import { check, rangeVarName, STAR, type Scope, type Walk } from './scope.ts';

/**
 * DDL / DCL / utility statements: queries inside are analyzed, every table they name is a
 * write (the statement changes or depends on it), functions are recorded, literals noted.
 */
export function generic(w: Walk, n: Json, sc: Scope | null, d: number): void {
  d = check(w, d);
  if (!n || typeof n !== 'object') return;
  if (Array.isArray(n)) {
    for (const x of n) generic(w, x, sc, d);
    return;
  }
  if (!isNode(n)) {
    // Some fields hold a RangeVar body without its wrapper (CreateStmt.relation, IndexStmt.relation).
    if (typeof n.relname === 'string' && 'relpersistence' in n) {
      const t = rangeVarName(w, n);
      w.facts.write(t.schema, t.table, [STAR]);
      return;
    }
    for (const k in n) {
      const v = n[k];
      if (v && typeof v === 'object') generic(w, v, sc, d);
    }
    return;
  }
  const tag = tagOf(n);
  const b = n[tag];
  switch (tag) {
    case 'SelectStmt':
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      w.query(n, sc, d);
      return;
    case 'RangeVar': {
      const t = rangeVarName(w, b);
      w.facts.write(t.schema, t.table, [STAR]);
      return;
    }
    case 'FuncCall':
      w.facts.functions.add(funcName(b));
      break;
    case 'A_Const':
      w.facts.litDep = true;
      return;
    case 'DefElem':
      if (b.arg) w.facts.litDep = true;
      break;
    case 'ColumnRef':
      return;
    case 'SubLink':
      if (b.testexpr) generic(w, b.testexpr, sc, d);
      w.query(b.subselect, sc, d);
      return;
  }
  for (const k in b) {
    const v = b[k];
    if (v && typeof v === 'object') generic(w, v, sc, d);
  }
}
