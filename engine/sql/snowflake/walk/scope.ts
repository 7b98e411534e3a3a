// What one walk over a Snowflake statement's AST shares: the facts it accumulates, the scopes and FROM
// items column references resolve in, and the namespace table names resolve against.
import type { Facts } from '../../facts.ts';
import type { Catalog, ColumnRef, ResultColumn } from '../../types.ts';
import { resolveTable, type CurrentNamespace, type TableName } from '../names.ts';
import type { WhereInfo } from '../../walk.ts';
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

/** A FROM item visible to column references. */
export interface Rel {
  /** Name a qualified reference uses: the alias, else the table / function name (folded). */
  name: string;
  /** Base table or view: 'DATABASE.SCHEMA' and the table; null for derived items. */
  schema: string | null;
  table: string | null;
  aliased: boolean;
  /** Catalog columns of a base table, null when unknown. */
  cols: string[] | null;
  /** Output columns of a subquery / CTE / view / table function; '*' entries stand for columns not known by name. */
  outs: ResultColumn[] | null;
  /** A catalog view expanded through its definition. */
  view: boolean;
}

export interface Scope {
  parent: Scope | null;
  rels: Rel[];
  ctes: Map<string, ResultColumn[]> | null;
  /** Column references resolved at this level; WHERE row-dependence compares it before/after. */
  local: number;
  /**
   * The select list's outputs by name: Snowflake lets WHERE, GROUP BY, HAVING, QUALIFY, ORDER BY and later
   * select items name an output (`SELECT ssn AS x ... WHERE x LIKE '1%'`) when no FROM item has that column.
   */
  outputs: Map<string, ResultColumn> | null;
}

/**
 * One statement's walk, shared by every part of it. `query` is the way back up: queries hold
 * expressions, which hold queries.
 */
export interface Walk {
  readonly facts: Facts;
  /** WHERE of the top-level statement (SELECT / UPDATE / DELETE). */
  readonly where: WhereInfo;
  readonly o: WalkOptions;
  /** The namespace unqualified names resolve in (the session's, or a view's while its body is walked). */
  current: CurrentNamespace;
  /** Name of the result column whose expression is being walked (for Unresolved.column). */
  col: string | undefined;
  /** Sources (by object) that flow only as the result of these calls on a direct copy of them: `COUNT(ssn)`. */
  readonly via: WeakMap<ColumnRef, ReadonlySet<string>>;
  /** Views expanded once per statement; their facts were recorded the first time. */
  readonly viewMemo: Map<string, ResultColumn[] | null>;
  readonly expanding: Set<string>;
  /** A query node (SELECT, set operation, VALUES) anywhere; returns its output columns. */
  query(node: Json, sc: Scope | null, d: number, top?: boolean, result?: boolean): ResultColumn[];
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

