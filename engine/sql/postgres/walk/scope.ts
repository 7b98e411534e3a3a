// What one walk over a PostgreSQL parse tree adds to the shared walk (engine/sql/walk.ts): its kinds of
// FROM item, its scopes and options, and how table names resolve (search path, catalog).
import type { FromItem } from '../../columns.ts';
import type { Catalog, ColumnRef, StatementAnalysis } from '../../types.ts';
import type { Scope as BaseScope, Walk as BaseWalk } from '../../walk.ts';
import { strList, type Json } from '../names.ts';

export { STAR } from '../../lineage.ts';
export { check, DepthError, lookupCte, type WhereInfo } from '../../walk.ts';

/** A FROM item visible to column references, with the kinds only PostgreSQL has. */
export interface Rel extends FromItem {
  /** Alias column names `t AS x(a, b)` that rename a base table's columns by position. */
  renamed: string[] | null;
  /** Function in FROM: every column derives from all of `outs[0].sources`, names are unknown. */
  fn: boolean;
  /** RETURNING old/new, ON CONFLICT excluded: reachable only by name, never by a bare column or '*'. */
  hidden: boolean;
  /**
   * Values the statement writes into this relation (INSERT/UPDATE/MERGE target, `new`, `excluded`):
   * column → sources of the assigned expressions ('*' key: any column). RETURNING sees them.
   */
  assigned: Map<string, ColumnRef[]> | null;
}

export interface Scope extends BaseScope<Rel> {
  parent: Scope | null;
  /** JOIN ... USING / NATURAL at this level: `*` shows their join columns once (see expandList). */
  groups?: JoinGroup[];
}

/** A USING / NATURAL join: rels[0..mid) are its left side, rels[mid..) its right side. */
export interface JoinGroup {
  rels: Rel[];
  mid: number;
  /** The merged column names; null = NATURAL whose common names are unknown without a catalog. */
  using: string[] | null;
  full: boolean;
}

export interface WalkOptions {
  catalog: Catalog | undefined;
  searchPath: string[];
  maxDepth: number;
  /** Most statements one string may hold (AnalyzeOptions.maxStatements); optional for callers that build their own options. */
  maxStatements?: number;
  /** PostgreSQL's parser, for view definitions and SQL function bodies from the catalog. */
  parse?: (sql: string) => Json;
  /** The statements of a function body in a procedural language (plpgsql), as CREATE FUNCTION finds them. */
  analyzeBody?: (language: string, body: string, o: WalkOptions, d: number, returnsSet: boolean) => BodyFacts;
}

/** Statements found in a procedural function body; opaque = it runs dynamic SQL or cannot be read. */
export interface BodyFacts {
  nested: StatementAnalysis[];
  opaque: boolean;
}

/** A catalog function's lineage: what its result derives from, and its output columns when known. */
export interface FnLineage {
  sources: ColumnRef[];
  /** Output column names (from its body's final query), null when unknown. */
  shape: string[] | null;
}

/** One statement's walk: what every dialect's walk holds, and what is memoized per statement. */
export interface Walk extends BaseWalk<Json, Scope> {
  readonly o: WalkOptions;
  /** The FuncCall body being walked as a FROM item (its unresolvedness is reported differently). */
  fromCall: Json;
  /** Output names of the catalog function just walked as a FROM item (set by funcLineage). */
  lastShape: string[] | null;
  readonly fnMemo: Map<string, FnLineage>;
}

export function newScope(parent: Scope | null): Scope {
  return { parent, rels: [], ctes: null, local: 0 };
}

/** Schema of a table reference: as written, else the first search-path schema that has it. */
function resolveSchema(w: Walk, schema: string | undefined, table: string): string {
  if (schema) return schema;
  const cat = w.o.catalog;
  if (cat) {
    const views = cat.views;
    if (cat.tables['pg_catalog.' + table]) return 'pg_catalog';
    for (const s of w.o.searchPath) if (cat.tables[s + '.' + table] || views?.[s + '.' + table] !== undefined) return s;
  }
  if (table.startsWith('pg_')) return 'pg_catalog';
  return w.o.searchPath[0] ?? 'public';
}

export function catalogCols(w: Walk, schema: string, table: string): string[] | null {
  return w.o.catalog?.tables[schema + '.' + table] ?? null;
}

/** Table named by a RangeVar body. */
export function rangeVarName(w: Walk, rv: Json): { schema: string; table: string } {
  const table = rv.relname as string;
  return { schema: resolveSchema(w, rv.schemaname as string | undefined, table), table };
}

/** Table named by a dotted String list (DROP TABLE s.t, COMMENT ON TABLE t). */
export function nameList(w: Walk, items: Json[]): { schema: string; table: string } | null {
  const names = strList(items);
  const table = names[names.length - 1];
  if (!table) return null;
  return { schema: resolveSchema(w, names.length > 1 ? names[names.length - 2] : undefined, table), table };
}
