// One pass over a Snowflake statement's AST (polyglot's JSON): resolves tables and columns through scopes,
// CTEs, views and aliases, and accumulates the policy facts. Its parts live beside this file.
import { Facts } from '../../facts.ts';
import type { ColumnRef, ResultColumn } from '../../types.ts';
import type { CurrentNamespace } from '../names.ts';
import type { Json } from '../parser.ts';
import { queryOf } from './queries.ts';
import type { Scope, Walk, WalkOptions, WhereInfo } from './scope.ts';

/** Walks one statement's tree; create one per statement. */
export class Walker implements Walk {
  readonly facts = new Facts();
  readonly where: WhereInfo = { has: false, trivial: false };
  current: CurrentNamespace;
  col: string | undefined = undefined;
  readonly via = new WeakMap<ColumnRef, ReadonlySet<string>>();
  readonly viewMemo = new Map<string, ResultColumn[] | null>();
  readonly expanding = new Set<string>();

  constructor(readonly o: WalkOptions) {
    this.current = o.current;
  }

  query(node: Json, sc: Scope | null, d: number, top = false, result = top): ResultColumn[] {
    return queryOf(this, node, sc, d, top, result);
  }
}
