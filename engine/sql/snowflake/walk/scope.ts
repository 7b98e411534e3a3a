// What one walk over a Snowflake statement's AST adds to the shared walk (engine/sql/walk.ts): its
// scopes and options, and the namespace table names resolve against.
import type { FromItem } from '../../columns.ts';
import type { Catalog, ResultColumn } from '../../types.ts';
import type { Scope as BaseScope, Walk as BaseWalk } from '../../walk.ts';
import { resolveTable, type CurrentNamespace, type TableName } from '../names.ts';
import type { Json } from '../parser.ts';

export { STAR } from '../../lineage.ts';
export { check, DepthError, lookupCte, type WhereInfo } from '../../walk.ts';

export interface WalkOptions {
  catalog: Catalog | undefined;
  /** The session's current database and schema; a view's body resolves in the view's own. */
  current: CurrentNamespace;
  maxDepth: number;
  /** Snowflake's parser, for view definitions from the catalog. */
  parse: (sql: string) => { ast: Json[] } | { error: string };
}

/** A FROM item visible to column references: Snowflake has no kinds beyond the shared ones. */
export type Rel = FromItem;

export interface Scope extends BaseScope<Rel> {
  parent: Scope | null;
  /**
   * The select list's outputs by name: Snowflake lets WHERE, GROUP BY, HAVING, QUALIFY, ORDER BY and later
   * select items name an output (`SELECT ssn AS x ... WHERE x LIKE '1%'`) when no FROM item has that column.
   */
  outputs: Map<string, ResultColumn> | null;
}

/** One statement's walk: what every dialect's walk holds, and the namespace names resolve in. */
export interface Walk extends BaseWalk<Json, Scope> {
  readonly o: WalkOptions;
  /** The namespace unqualified names resolve in (the session's, or a view's while its body is walked). */
  current: CurrentNamespace;
}

export function newScope(parent: Scope | null): Scope {
  return { parent, rels: [], ctes: null, local: 0, outputs: null };
}

/** A table name of one to three folded parts, resolved in the walk's current namespace. */
export function tableName(w: Walk, parts: string[]): TableName {
  return resolveTable(parts, w.current);
}

export function catalogCols(w: Walk, t: TableName): string[] | null {
  return w.o.catalog?.tables[`${t.schema}.${t.table}`] ?? null;
}

export function derivedRel(name: string, outs: ResultColumn[]): Rel {
  return { name, schema: null, table: null, aliased: true, cols: null, outs, view: false };
}

