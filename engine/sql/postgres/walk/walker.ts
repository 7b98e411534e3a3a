// One pass over a raw parse tree (libpg-query JSON): resolves tables and columns through scopes, CTEs and
// aliases, and accumulates the policy facts. Its parts live beside this file; the Walker holds what they share.
import { Facts } from '../../facts.ts';
import type { ColumnRef, ResultColumn } from '../../types.ts';
import { tagOf, type Json } from '../names.ts';
import { deleteStmt, insertStmt, mergeStmt, updateStmt } from './dml.ts';
import { call } from './expressions.ts';
import { select } from './queries.ts';
import { nameList, rangeVarName, type FnLineage, type Scope, type Walk, type WalkOptions, type WhereInfo } from './scope.ts';
import { generic } from './utility.ts';

/** Walks one statement's tree; create one per statement. */
export class Walker implements Walk {
  readonly facts = new Facts();
  readonly where: WhereInfo = { has: false, trivial: false };
  col: string | undefined = undefined;
  fromCall: Json = null;
  lastShape: string[] | null = null;
  readonly viewMemo = new Map<string, ResultColumn[] | null>();
  readonly via = new WeakMap<ColumnRef, ReadonlySet<string>>();
  readonly fnMemo = new Map<string, FnLineage>();
  readonly expanding = new Set<string>();

  constructor(readonly o: WalkOptions) {}

  query(node: Json, sc: Scope | null, d: number, top = false, result = top): ResultColumn[] {
    const tag = tagOf(node);
    const b = node[tag];
    switch (tag) {
      case 'SelectStmt': return select(this, b, sc, d, top, result);
      case 'InsertStmt': return insertStmt(this, b, sc, d, result);
      case 'UpdateStmt': return updateStmt(this, b, sc, d, top, result);
      case 'DeleteStmt': return deleteStmt(this, b, sc, d, top, result);
      case 'MergeStmt': return mergeStmt(this, b, sc, d, result);
      default:
        generic(this, node, sc, d);
        return [];
    }
  }

  /** Table named by a RangeVar body. */
  rangeVarName(rv: Json): { schema: string; table: string } {
    return rangeVarName(this, rv);
  }

  /** Table named by a dotted String list (DROP TABLE s.t, COMMENT ON TABLE t). */
  nameList(items: Json[]): { schema: string; table: string } | null {
    return nameList(this, items);
  }

  /** DDL / DCL / utility statements (see utility.ts). */
  generic(n: Json, sc: Scope | null, d: number): void {
    generic(this, n, sc, d);
  }

  /** CALL p(...): the procedure's catalog lineage (facts, Unresolved) as for a function whose value is used. */
  call(fc: Json, d: number): void {
    call(this, fc, d);
  }
}
