// One pass over a raw parse tree (libpg-query JSON): resolves tables and columns through scopes,
// CTEs and aliases, and accumulates the policy facts (reads, writes, lineage, predicates, WHERE).
import type { Catalog, CatalogFunction, ColumnRef, JsonKey, ResultColumn, StatementAnalysis, ThroughRef, Unresolved } from './types.ts';
import { figureName, tagOf, type Json } from './names.ts';
import { DYNAMIC_FUNCTIONS, PURE_FUNCTIONS, SRF_COLUMNS, builtinName } from './functions.ts';

/** Thrown when the tree is nested deeper than AnalyzeOptions.maxDepth; the caller turns it into 'unknown'. */
export class DepthError extends Error {
  readonly code = 'SQL_NESTING_LIMIT';
  constructor(readonly limit: number) {
    super(`statement nesting exceeds the limit of ${limit} levels`);
    this.name = 'DepthError';
  }
}

interface Access {
  schema: string;
  table: string;
  cols: Set<string>;
}

/** Facts of one top-level statement, merged as the walk finds them. */
export class Facts {
  readonly reads = new Map<string, Access>();
  readonly writes = new Map<string, Access>();
  readonly functions = new Set<string>();
  readonly preds = new Map<string, ColumnRef>();
  readonly unresolved = new Map<string, Unresolved>();
  dataModifyingCte = false;
  createsTable = false;
  opaque = false;
  litDep = false;
  /** A data-modifying CTE ran UPDATE/DELETE without a WHERE / with a trivial one. */
  cteWhereMissing = false;
  cteWhereTrivial = false;

  read(schema: string, table: string, col: string | null): void {
    add(this.reads, schema, table, col);
  }
  write(schema: string, table: string, cols: readonly string[]): void {
    const a = add(this.writes, schema, table, null);
    for (const c of cols) a.cols.add(c);
  }
  pred(r: ColumnRef): void {
    const k = r.schema + '\u0000' + r.table + '\u0000' + r.column;
    if (!this.preds.has(k)) this.preds.set(k, r);
  }
  unresolve(reason: string, column: string | undefined): void {
    const k = column === undefined ? reason : reason + '\u0000' + column;
    if (!this.unresolved.has(k)) this.unresolved.set(k, column === undefined ? { reason } : { reason, column });
  }
}

function add(m: Map<string, Access>, schema: string, table: string, col: string | null): Access {
  const k = schema + '\u0000' + table;
  let a = m.get(k);
  if (!a) {
    a = { schema, table, cols: new Set() };
    m.set(k, a);
  }
  if (col !== null) a.cols.add(col);
  return a;
}

/** A FROM item visible to column references. */
interface Rel {
  /** Name a qualified reference uses: the alias, else the table / function name. */
  name: string;
  /** Base table (schema/table set) or derived (outs set). */
  schema: string | null;
  table: string | null;
  aliased: boolean;
  /** Catalog columns of a base table, null when unknown. */
  cols: string[] | null;
  /** Alias column names `t AS x(a, b)` that rename a base table's columns by position. */
  renamed: string[] | null;
  /** Output columns of a subquery / CTE; '*' entries stand for columns not known by name. */
  outs: ResultColumn[] | null;
  /** Function in FROM: every column derives from all of `outs[0].sources`, names are unknown. */
  fn: boolean;
  /** RETURNING old/new, ON CONFLICT excluded: reachable only by name, never by a bare column or '*'. */
  hidden: boolean;
  /**
   * Values the statement writes into this relation (INSERT/UPDATE/MERGE target, `new`, `excluded`):
   * column → sources of the assigned expressions ('*' key: any column). RETURNING sees them.
   */
  assigned: Map<string, ColumnRef[]> | null;
  /** A catalog view expanded through its definition (schema/table name the view, outs its lineage). */
  view: boolean;
}

interface Scope {
  parent: Scope | null;
  rels: Rel[];
  ctes: Map<string, ResultColumn[]> | null;
  /** Column references resolved at this level; WHERE row-dependence compares it before/after. */
  local: number;
  /** JOIN ... USING / NATURAL at this level: `*` shows their join columns once (see expandList). */
  groups?: JoinGroup[];
}

/** A USING / NATURAL join: rels[0..mid) are its left side, rels[mid..) its right side. */
interface JoinGroup {
  rels: Rel[];
  mid: number;
  /** The merged column names; null = NATURAL whose common names are unknown without a catalog. */
  using: string[] | null;
  full: boolean;
}

/** Outcome of evaluating a WHERE: True, False, Null, row-dependent Unknown, row-independent Constant. */
type Truth = 'T' | 'F' | 'N' | 'U' | 'C';

export interface WhereInfo {
  has: boolean;
  trivial: boolean;
}

export interface WalkOptions {
  catalog: Catalog | undefined;
  searchPath: string[];
  maxDepth: number;
  /** PostgreSQL's parser, for view definitions and SQL function bodies from the catalog. */
  parse?: (sql: string) => Json;
  /** The statements of a function body in a procedural language (plpgsql), as CREATE FUNCTION finds them. */
  analyzeBody?: (language: string, body: string, o: WalkOptions, d: number, returnsSet: boolean) => BodyFacts;
}

/** Views inside views / functions inside functions deeper than this are reported, not followed. */
const MAX_EXPANSION = 16;

/** A catalog function's lineage: what its result derives from, and its output columns when known. */
interface FnLineage {
  sources: ColumnRef[];
  /** Output column names (from its body's final query), null when unknown. */
  shape: string[] | null;
}

type Parsed = { text: string; stmts: Json[] | null; error: string | null };

/** Parse trees of catalog views / function bodies, per catalog object: parsing is the costly part. */
const parseCache = new WeakMap<Catalog, Map<string, Parsed>>();
/** Statements found in a procedural function body; opaque = it runs dynamic SQL or cannot be read. */
export interface BodyFacts {
  nested: StatementAnalysis[];
  opaque: boolean;
}

/** plpgsql bodies' analyses, per catalog object. */
const bodyCache = new WeakMap<Catalog, Map<string, { text: string; a: BodyFacts }>>();

const STAR = '*';

/** Functions that serialize a whole row to JSON objects keyed by its column names. */
const ROW_JSON_FUNCTIONS: ReadonlySet<string> = new Set(['row_to_json', 'to_json', 'to_jsonb', 'json_agg', 'jsonb_agg', 'json_agg_strict', 'jsonb_agg_strict']);

/** Walks one statement's tree; create one per statement. */
export class Walker {
  readonly facts = new Facts();
  /** WHERE of the top-level statement (SELECT/UPDATE/DELETE). */
  readonly where: WhereInfo = { has: false, trivial: false };
  private readonly catalog: Catalog | undefined;
  private readonly searchPath: string[];
  private readonly maxDepth: number;
  private readonly o: WalkOptions;
  /** Name of the result column whose expression is being walked (for Unresolved.column). */
  private col: string | undefined = undefined;
  /** The FuncCall body being walked as a FROM item (its unresolvedness is reported differently). */
  private fromCall: Json = null;
  /** Views / functions expanded once per statement; their facts were recorded the first time. */
  private readonly viewMemo = new Map<string, ResultColumn[] | null>();
  /** Sources (by object) that flow only as the result of these calls on a direct copy of them: `count(ssn)`. */
  private readonly via = new WeakMap<ColumnRef, ReadonlySet<string>>();
  private readonly fnMemo = new Map<string, FnLineage>();
  private readonly expanding = new Set<string>();
  /** Output names of the catalog function just walked as a FROM item (set by funcLineage). */
  private lastShape: string[] | null = null;

  constructor(o: WalkOptions) {
    this.o = o;
    this.catalog = o.catalog;
    this.searchPath = o.searchPath;
    this.maxDepth = o.maxDepth;
  }

  // ---- names -------------------------------------------------------------------------------

  /** Schema of a table reference: as written, else the first search-path schema that has it. */
  resolveSchema(schema: string | undefined, table: string): string {
    if (schema) return schema;
    const cat = this.catalog;
    if (cat) {
      const views = cat.views;
      if (cat.tables['pg_catalog.' + table]) return 'pg_catalog';
      for (const s of this.searchPath) if (cat.tables[s + '.' + table] || views?.[s + '.' + table] !== undefined) return s;
    }
    if (table.startsWith('pg_')) return 'pg_catalog';
    return this.searchPath[0] ?? 'public';
  }

  private catalogCols(schema: string, table: string): string[] | null {
    return this.catalog?.tables[schema + '.' + table] ?? null;
  }

  /** Table named by a RangeVar body. */
  rangeVarName(rv: Json): { schema: string; table: string } {
    const table = rv.relname as string;
    return { schema: this.resolveSchema(rv.schemaname as string | undefined, table), table };
  }

  private check(d: number): number {
    if (d > this.maxDepth) throw new DepthError(this.maxDepth);
    return d + 1;
  }

  private newScope(parent: Scope | null): Scope {
    return { parent, rels: [], ctes: null, local: 0 };
  }

  private lookupCte(sc: Scope | null, name: string): ResultColumn[] | null {
    for (let s = sc; s; s = s.parent) {
      const c = s.ctes?.get(name);
      if (c) return c;
    }
    return null;
  }

  // ---- statements ---------------------------------------------------------------------------

  /**
   * A query-like node (SELECT / DML) anywhere; returns its output columns. `top`: its WHERE is the
   * statement's; `result`: its output list is the statement's result (names Unresolved.column).
   */
  query(node: Json, sc: Scope | null, d: number, top = false, result = top): ResultColumn[] {
    const tag = tagOf(node);
    const b = node[tag];
    switch (tag) {
      case 'SelectStmt': return this.select(b, sc, d, top, result);
      case 'InsertStmt': return this.insert(b, sc, d, result);
      case 'UpdateStmt': return this.update(b, sc, d, top, result);
      case 'DeleteStmt': return this.delete(b, sc, d, top, result);
      case 'MergeStmt': return this.merge(b, sc, d, result);
      default:
        this.generic(node, sc, d);
        return [];
    }
  }

  select(s: Json, outer: Scope | null, d: number, top = false, result = false): ResultColumn[] {
    d = this.check(d);
    const sc = this.newScope(outer);
    if (s.withClause) this.withClause(s.withClause, sc, d);
    if (s.op && s.op !== 'SETOP_NONE') {
      const outs = this.setOp(s, sc, d, result);
      this.orderLike(s.sortClause, sc, outs, d);
      this.predicates([s.limitOffset, s.limitCount], sc, d);
      return outs;
    }
    let outs: ResultColumn[];
    if (s.valuesLists) {
      outs = this.values(s.valuesLists as Json[], sc, d);
    } else {
      if (s.fromClause) for (const f of s.fromClause as Json[]) this.fromItem(f, sc, d);
      if (s.whereClause) this.whereClause(s.whereClause, sc, d, top ? this.where : null);
      outs = s.targetList ? this.targetList(s.targetList as Json[], sc, d, result) : [];
      if (s.groupClause) this.orderLike(s.groupClause, sc, outs, d);
      if (s.havingClause) this.ex(s.havingClause, sc, null, true, d);
      if (s.windowClause) for (const w of s.windowClause as Json[]) this.ex(w, sc, null, true, d);
      if (s.distinctClause) {
        this.orderLike(s.distinctClause, sc, outs, d);
        // Plain DISTINCT (an empty clause) compares every output column: a count of rows answers a question.
        if ((s.distinctClause as Json[]).every((x) => !x || Object.keys(x).length === 0)) {
          for (const o of outs) for (const src of o.sources) this.facts.pred(src);
        }
      }
      this.orderLike(s.sortClause, sc, outs, d);
    }
    this.predicates([s.limitOffset, s.limitCount], sc, d);
    return outs;
  }

  private setOp(s: Json, sc: Scope, d: number, result: boolean): ResultColumn[] {
    // Output names come from the left arm; the right arm's own names would mislabel Unresolved.column.
    const l = this.select(s.larg, sc, d, false, result);
    const r = this.select(s.rarg, sc, d, false, false);
    const outs = mergeArms(l, r);
    // UNION / INTERSECT / EXCEPT without ALL compare the rows: whether a guess survives answers a question.
    if (!s.all) for (const o of outs) for (const src of o.sources) this.facts.pred(src);
    return outs;
  }

  private values(lists: Json[], sc: Scope, d: number): ResultColumn[] {
    const sinks: ColumnRef[][] = [];
    for (const row of lists) {
      const items = (row.List?.items ?? []) as Json[];
      for (let i = 0; i < items.length; i++) {
        const sink = (sinks[i] ??= []);
        this.ex(items[i], sc, sink, false, d);
      }
    }
    return sinks.map((src, i) => ({ name: 'column' + (i + 1), sources: dedupe(src), derived: true }));
  }

  private withClause(w: Json, sc: Scope, d: number): void {
    const ctes = (sc.ctes = new Map());
    for (const c of (w.ctes ?? []) as Json[]) {
      const cte = c.CommonTableExpr;
      if (!cte) continue;
      const name = cte.ctename as string;
      const q = cte.ctequery;
      const colnames = strList(cte.aliascolnames);
      const qtag = tagOf(q);
      if (qtag !== 'SelectStmt') this.facts.dataModifyingCte = true;
      const sel = q.SelectStmt;
      if (w.recursive && sel && sel.op && sel.op !== 'SETOP_NONE') {
        // The recursive arm reads the CTE itself, whose columns the non-recursive arm defines.
        const cd = this.check(d);
        const inner = this.newScope(sc);
        if (sel.withClause) this.withClause(sel.withClause, inner, cd);
        const l = this.select(sel.larg, inner, cd);
        ctes.set(name, rename(l, colnames));
        let outs = mergeArms(l, this.select(sel.rarg, inner, cd));
        // Each iteration feeds the previous rows back in: `SELECT y, ssn FROM r` moves ssn from
        // column 2 to column 1 one round later. Re-walk the arm until the lineage stops growing.
        let size = sourceCount(outs);
        for (let i = 0; ; i++) {
          ctes.set(name, rename(outs, colnames));
          outs = mergeArms(outs, this.select(sel.rarg, inner, cd));
          const next = sourceCount(outs);
          if (next === size) break;
          size = next;
          if (i > outs.length + 2) {
            outs = unionAll(outs);
            break;
          }
        }
        this.orderLike(sel.sortClause, inner, outs, cd);
        this.predicates([sel.limitOffset, sel.limitCount], inner, cd);
        ctes.set(name, rename(outs, colnames));
        continue;
      }
      const outs = this.query(q, sc, d, false);
      if (qtag === 'UpdateStmt' || qtag === 'DeleteStmt') {
        const wc = q[qtag].whereClause;
        if (!wc) this.facts.cteWhereMissing = true;
      }
      ctes.set(name, rename(outs, colnames));
    }
  }

  private insert(s: Json, outer: Scope | null, d: number, result: boolean): ResultColumn[] {
    d = this.check(d);
    const sc = this.newScope(outer);
    if (s.withClause) this.withClause(s.withClause, sc, d);
    const { schema, table } = this.rangeVarName(s.relation);
    const named = s.cols ? (s.cols as Json[]).map((c) => c.ResTarget?.name as string) : null;
    this.facts.write(schema, table, named ?? [STAR]);
    const assigned = new Map<string, ColumnRef[]>();
    if (s.selectStmt) {
      // INSERT ... SELECT / VALUES: the i-th output lands in the i-th target column.
      const outs = this.query(s.selectStmt, sc, d);
      assignByPosition(assigned, named ?? this.catalogCols(schema, table), outs);
    }
    const oc = s.onConflictClause;
    const target = this.targetRel(schema, table, s.relation.alias, d);
    sc.rels.push(target);
    if (oc) {
      const excluded = this.pseudoRel(target, 'excluded');
      // The proposed row only: DO UPDATE SET values assigned below must not reach `excluded`.
      excluded.assigned = new Map([...assigned].map(([k, v]) => [k, v.slice()]));
      sc.rels.push(excluded);
      if (oc.infer?.whereClause) this.ex(oc.infer.whereClause, sc, null, true, d);
      if (oc.targetList) this.setList(oc.targetList as Json[], sc, schema, table, d, assigned);
      if (oc.whereClause) this.ex(oc.whereClause, sc, null, true, d);
    }
    return this.returning(s.returningClause, sc, target, assigned, d, result);
  }

  private update(s: Json, outer: Scope | null, d: number, top: boolean, result: boolean): ResultColumn[] {
    d = this.check(d);
    const sc = this.newScope(outer);
    if (s.withClause) this.withClause(s.withClause, sc, d);
    const { schema, table } = this.rangeVarName(s.relation);
    const target = this.targetRel(schema, table, s.relation.alias, d);
    sc.rels.push(target);
    if (s.fromClause) for (const f of s.fromClause as Json[]) this.fromItem(f, sc, d);
    const assigned = new Map<string, ColumnRef[]>();
    this.setList((s.targetList ?? []) as Json[], sc, schema, table, d, assigned);
    this.dmlWhere(s.whereClause, sc, d, top);
    return this.returning(s.returningClause, sc, target, assigned, d, result);
  }

  private delete(s: Json, outer: Scope | null, d: number, top: boolean, result: boolean): ResultColumn[] {
    d = this.check(d);
    const sc = this.newScope(outer);
    if (s.withClause) this.withClause(s.withClause, sc, d);
    const { schema, table } = this.rangeVarName(s.relation);
    this.facts.write(schema, table, [STAR]);
    const target = this.targetRel(schema, table, s.relation.alias, d);
    sc.rels.push(target);
    if (s.usingClause) for (const f of s.usingClause as Json[]) this.fromItem(f, sc, d);
    this.dmlWhere(s.whereClause, sc, d, top);
    return this.returning(s.returningClause, sc, target, null, d, result);
  }

  private dmlWhere(w: Json, sc: Scope, d: number, top: boolean): void {
    if (!w) return;
    const info: WhereInfo = top ? this.where : { has: false, trivial: false };
    this.whereClause(w, sc, d, info);
    if (!top && info.trivial) this.facts.cteWhereTrivial = true;
  }

  private merge(s: Json, outer: Scope | null, d: number, result: boolean): ResultColumn[] {
    d = this.check(d);
    const sc = this.newScope(outer);
    if (s.withClause) this.withClause(s.withClause, sc, d);
    const { schema, table } = this.rangeVarName(s.relation);
    const target = this.targetRel(schema, table, s.relation.alias, d);
    sc.rels.push(target);
    this.fromItem(s.sourceRelation, sc, d);
    if (s.joinCondition) this.ex(s.joinCondition, sc, null, true, d);
    const written: string[] = [];
    const assigned = new Map<string, ColumnRef[]>();
    for (const w of (s.mergeWhenClauses ?? []) as Json[]) {
      const mw = w.MergeWhenClause;
      if (!mw) continue;
      if (mw.condition) this.ex(mw.condition, sc, null, true, d);
      const tl = (mw.targetList ?? []) as Json[];
      if (mw.commandType === 'CMD_UPDATE') {
        let multi: ColumnRef[] = [];
        for (const t of tl) {
          const rt = t.ResTarget;
          written.push(rt.name as string);
          multi = this.assignValue(rt.val, sc, d, multi);
          assign(assigned, rt.name as string, multi);
        }
      } else if (mw.commandType === 'CMD_INSERT') {
        if (tl.length === 0) written.push(STAR);
        const cols = tl.length ? tl.map((t) => t.ResTarget.name as string) : null;
        for (const t of tl) written.push(t.ResTarget.name as string);
        const vals: ResultColumn[] = [];
        for (const v of (mw.values ?? []) as Json[]) {
          const sink: ColumnRef[] = [];
          this.ex(v, sc, sink, false, d);
          vals.push({ name: '?column?', sources: sink, derived: true });
        }
        assignByPosition(assigned, cols ?? this.catalogCols(schema, table), vals);
      } else if (mw.commandType === 'CMD_DELETE') {
        written.push(STAR);
      }
    }
    this.facts.write(schema, table, written);
    return this.returning(s.returningClause, sc, target, assigned, d, result);
  }

  /** UPDATE SET / ON CONFLICT DO UPDATE SET: the columns are writes, the values are read and assigned. */
  private setList(tl: Json[], sc: Scope, schema: string, table: string, d: number, assigned: Map<string, ColumnRef[]>): void {
    const cols: string[] = [];
    let multi: ColumnRef[] = [];
    for (const t of tl) {
      const rt = t.ResTarget;
      if (!rt) continue;
      cols.push(rt.name as string);
      if (rt.indirection) this.exprs(rt.indirection as Json[], sc, d);
      multi = this.assignValue(rt.val, sc, d, multi);
      assign(assigned, rt.name as string, multi);
    }
    this.facts.write(schema, table, cols);
  }

  /**
   * Walks an assigned value and returns its sources. SET (a, b) = (subquery) repeats the same source
   * under every column: walked once (colno 1), its sources `prev` reused for the others.
   */
  private assignValue(val: Json, sc: Scope, d: number, prev: ColumnRef[]): ColumnRef[] {
    if (!val) return [];
    const m = val.MultiAssignRef;
    if (m) {
      if (m.colno !== 1) return prev;
      const sink: ColumnRef[] = [];
      this.ex(m.source, sc, sink, false, d);
      return sink;
    }
    const sink: ColumnRef[] = [];
    this.ex(val, sc, sink, false, d);
    return sink;
  }

  /**
   * RETURNING: the target's columns carry the values just written (`new.x` too), `old.x` the
   * previous ones; `*` covers the target and FROM / USING items, not old/new/excluded.
   */
  private returning(rc: Json, sc: Scope, target: Rel, assigned: Map<string, ColumnRef[]> | null, d: number, result: boolean): ResultColumn[] {
    const exprs = rc?.exprs as Json[] | undefined;
    if (!exprs) return [];
    if (assigned && assigned.size) target.assigned = assigned;
    let oldName = 'old';
    let newName = 'new';
    for (const o of (rc.options ?? []) as Json[]) {
      const ro = o.ReturningOption;
      if (!ro?.value) continue;
      if (ro.option === 'RETURNING_OPTION_OLD') oldName = ro.value as string;
      else newName = ro.value as string;
    }
    sc.rels.push(this.pseudoRel(target, oldName));
    const nw = this.pseudoRel(target, newName);
    nw.assigned = target.assigned;
    sc.rels.push(nw);
    return this.targetList(exprs, sc, d, result);
  }

  /** A DML target: a table, or a catalog view (auto-updatable) seen through its definition. */
  private targetRel(schema: string, table: string, alias: Json, d: number): Rel {
    return this.viewRel(schema, table, alias, d) ?? this.baseRel(schema, table, alias, false);
  }

  private pseudoRel(target: Rel, name: string): Rel {
    return { ...target, name, aliased: true, hidden: true, assigned: null };
  }

  // ---- FROM ---------------------------------------------------------------------------------

  private baseRel(schema: string, table: string, alias: Json, touch: boolean): Rel {
    if (touch) this.facts.read(schema, table, null);
    return {
      name: (alias?.aliasname as string | undefined) ?? table,
      schema,
      table,
      aliased: !!alias,
      cols: this.catalogCols(schema, table),
      renamed: alias?.colnames ? strList(alias.colnames) : null,
      outs: null,
      fn: false,
      hidden: false,
      assigned: null,
      view: false,
    };
  }

  private derivedRel(name: string, outs: ResultColumn[], fn = false): Rel {
    return { name, schema: null, table: null, aliased: true, cols: null, renamed: null, outs, fn, hidden: false, assigned: null, view: false };
  }

  /** A FROM reference to a catalog view, analyzed through its definition; null if not a known view. */
  private viewRel(schema: string, table: string, alias: Json, d: number): Rel | null {
    const outs = this.viewOuts(schema, table, d);
    if (!outs) return null;
    return {
      name: (alias?.aliasname as string | undefined) ?? table,
      schema,
      table,
      aliased: !!alias,
      cols: null,
      renamed: null,
      outs: rename(outs, strList(alias?.colnames)),
      fn: false,
      hidden: false,
      assigned: null,
      view: true,
    };
  }

  /** Output lineage of a catalog view (its definition walked in a scope of its own), memoized per statement. */
  private viewOuts(schema: string, table: string, d: number): ResultColumn[] | null {
    const key = schema + '.' + table;
    const def = this.catalog?.views?.[key];
    if (def === undefined) return null;
    const memo = this.viewMemo.get(key);
    if (memo !== undefined) return memo;
    let outs: ResultColumn[] | null = null;
    if (this.expanding.has('v:' + key) || this.expanding.size >= MAX_EXPANSION) {
      this.facts.unresolve(`view: ${key} is nested too deeply (or in itself) to follow`, undefined);
    } else {
      const p = this.parsed('v:' + key, def);
      const stmt = p.stmts?.length === 1 ? p.stmts[0] : null;
      if (!stmt || tagOf(stmt) !== 'SelectStmt') {
        this.facts.unresolve(`view: the definition of ${key} cannot be analyzed${p.error ? ` (${p.error})` : ''}`, undefined);
      } else {
        this.expanding.add('v:' + key);
        const saved = this.col;
        try {
          outs = this.query(stmt, null, d);
        } finally {
          this.expanding.delete('v:' + key);
          this.col = saved;
        }
        // pg_get_viewdef spells the view's column names as aliases; the catalog's list is authoritative.
        const cols = this.catalogCols(schema, table);
        if (cols && cols.length === outs.length && !outs.some((o) => o.name === STAR)) {
          outs = outs.map((o, i) => withThrough({ name: cols[i] as string, sources: o.sources, derived: o.derived }, o.through));
        }
      }
    }
    this.viewMemo.set(key, outs);
    return outs;
  }

  /** Parsed statements of catalog SQL text, cached per catalog object (and re-parsed if the text changed). */
  private parsed(key: string, text: string): Parsed {
    const cat = this.catalog as Catalog;
    let m = parseCache.get(cat);
    if (!m) parseCache.set(cat, (m = new Map()));
    const hit = m.get(key);
    if (hit && hit.text === text) return hit;
    let p: Parsed;
    const parse = this.o.parse;
    if (!parse) p = { text, stmts: null, error: 'no parser' };
    else {
      try {
        p = { text, stmts: ((parse(text).stmts ?? []) as Json[]).map((x) => x.stmt), error: null };
      } catch (e) {
        // A WASM trap must reach analyzeText, which swaps the parser instance.
        if ((e as { code?: string }).code === 'SQL_PARSER_TRAP') throw e;
        p = { text, stmts: null, error: e instanceof Error ? e.message : String(e) };
      }
      if (p.stmts === null && key.startsWith('f:') && /^\s*(BEGIN\s+ATOMIC|RETURN)\b/i.test(text)) {
        // A SQL-standard body: parse it the way CREATE FUNCTION does.
        try {
          const tree = parse(`CREATE FUNCTION verdict_body() RETURNS void LANGUAGE sql ${text}`);
          const body = tree.stmts?.[0]?.stmt?.CreateFunctionStmt?.sql_body;
          if (body) p = { text, stmts: flattenBody(body), error: null };
        } catch (e) {
          if ((e as { code?: string }).code === 'SQL_PARSER_TRAP') throw e;
        }
      }
    }
    m.set(key, p);
    return p;
  }

  private fromItem(node: Json, sc: Scope, d: number): void {
    d = this.check(d);
    const tag = tagOf(node);
    const b = node[tag];
    switch (tag) {
      case 'RangeVar': {
        const name = b.relname as string;
        if (!b.schemaname) {
          const cte = this.lookupCte(sc, name);
          if (cte) {
            sc.rels.push(this.derivedRel((b.alias?.aliasname as string | undefined) ?? name, rename(cte, strList(b.alias?.colnames))));
            return;
          }
        }
        const t = this.rangeVarName(b);
        const view = this.viewRel(t.schema, t.table, b.alias, d);
        if (view) {
          this.facts.read(t.schema, t.table, null);
          sc.rels.push(view);
          return;
        }
        sc.rels.push(this.baseRel(t.schema, t.table, b.alias, true));
        return;
      }
      case 'RangeSubselect': {
        // Only LATERAL subqueries see the FROM items before them; CTEs of this level stay visible.
        const parent: Scope = b.lateral ? sc : { parent: sc.parent, rels: [], ctes: sc.ctes, local: 0, groups: sc.groups };
        const outs = this.query(b.subquery, parent, d);
        sc.rels.push(this.derivedRel((b.alias?.aliasname as string | undefined) ?? '', rename(outs, strList(b.alias?.colnames))));
        return;
      }
      case 'JoinExpr': {
        const first = sc.rels.length;
        this.fromItem(b.larg, sc, d);
        const mid = sc.rels.length;
        this.fromItem(b.rarg, sc, d);
        if (b.quals) this.ex(b.quals, sc, null, true, d);
        if (b.usingClause) {
          for (const u of strList(b.usingClause)) {
            this.resolveIn(sc.rels.slice(first, mid), u, null, true);
            this.resolveIn(sc.rels.slice(mid), u, null, true);
          }
        }
        let using: string[] | null = b.usingClause ? strList(b.usingClause) : null;
        if (b.isNatural) using = this.naturalJoin(sc.rels.slice(first, mid), sc.rels.slice(mid));
        if (b.usingClause || b.isNatural) {
          (sc.groups ??= []).push({ rels: sc.rels.slice(first), mid: mid - first, using, full: b.jointype === 'JOIN_FULL' });
        }
        if (b.alias) {
          // An aliased join hides its members: its own columns (USING columns once) stand for them.
          const members = sc.rels.slice(first);
          const outs: ResultColumn[] = [];
          this.expandList(members, sc, outs);
          for (const r of members) r.hidden = true;
          sc.rels.push(this.derivedRel(b.alias.aliasname as string, rename(outs, strList(b.alias.colnames))));
        }
        return;
      }
      case 'RangeFunction': {
        // Functions in FROM are implicitly LATERAL: their arguments may use earlier FROM items.
        const sink: ColumnRef[] = [];
        let fname = '';
        const alias = b.alias?.aliasname as string | undefined;
        const fns = (b.functions ?? []) as Json[];
        // Output names when every function's shape is known (ROWS FROM concatenates them).
        let shape: string[] | null = [];
        const reported = this.facts.unresolved.size;
        for (const f of fns) {
          const items = (f.List?.items ?? []) as Json[];
          const call = items[0];
          if (!call) continue;
          if (!fname) fname = figureName(call);
          const fc = call.FuncCall;
          const saved = this.fromCall;
          this.fromCall = fc ?? null;
          this.lastShape = null;
          try {
            this.ex(call, sc, sink, false, d);
          } finally {
            this.fromCall = saved;
          }
          // A column definition list (per function in ROWS FROM, else for the whole item) names the outputs.
          const defs = (items[1]?.List?.items ?? (fns.length === 1 ? b.coldeflist : null)) as Json[] | null | undefined;
          let names: string[] | null = defs?.length ? defs.map((c: Json) => c.ColumnDef?.colname as string) : this.lastShape;
          // A function returning one value names its column after itself (or the alias).
          if (names?.length === 1 && !defs?.length) names = [fns.length === 1 ? (alias ?? figureName(call)) : figureName(call)];
          if (!names && fc) names = srfShape(fc, fns.length === 1 ? (alias ?? figureName(call)) : figureName(call));
          if (!names && !fc) names = [fns.length === 1 ? (alias ?? fname) : fname];
          if (names && shape) shape.push(...names);
          else shape = null;
          this.lastShape = null;
        }
        if (shape && b.ordinality) shape.push('ordinality');
        const name = alias ?? fname;
        const src = dedupe(sink);
        if (shape && shape.length) {
          // Known columns: each may carry any input (conservative), but `*` expands to the right count.
          const outs = rename(
            shape.map((n) => ({ name: n, sources: src, derived: true })),
            strList(b.alias?.colnames),
          );
          sc.rels.push(this.derivedRel(name, outs));
        } else {
          // Lineage is known, but not how many columns `*` yields: positions after it are unreliable.
          if (this.facts.unresolved.size === reported) {
            this.facts.unresolve(`unknown_shape: ${fname}() in FROM returns a record whose columns are unknown`, undefined);
          }
          sc.rels.push(this.derivedRel(name, [{ name: STAR, sources: src, derived: true }], true));
        }
        return;
      }
      case 'RangeTableSample':
        this.fromItem(b.relation, sc, d);
        this.predicates(b.args as Json[] | undefined, sc, d);
        if (b.repeatable) this.ex(b.repeatable, sc, null, true, d);
        return;
      default: {
        // XMLTABLE, JSON_TABLE and anything newer: every column may derive from any input.
        const sink: ColumnRef[] = [];
        this.anyEx(b, sc, sink, false, d);
        const name = (b?.alias?.aliasname as string | undefined) ?? '';
        sc.rels.push(this.derivedRel(name, [{ name: STAR, sources: dedupe(sink), derived: true }], true));
      }
    }
  }

  private naturalJoin(left: Rel[], right: Rel[]): string[] | null {
    const names = (rels: Rel[]): Set<string> | null => {
      const s = new Set<string>();
      for (const r of rels) {
        const cs = r.renamed ?? r.cols ?? r.outs?.map((o) => o.name);
        if (!cs || cs.includes(STAR)) return null;
        for (const c of cs) s.add(c);
      }
      return s;
    };
    const l = names(left);
    const r = names(right);
    if (!l || !r) return null;
    const common: string[] = [];
    for (const c of l) {
      if (!r.has(c)) continue;
      common.push(c);
      this.resolveIn(left, c, null, true);
      this.resolveIn(right, c, null, true);
    }
    return common;
  }

  // ---- target list ---------------------------------------------------------------------------

  private targetList(tl: Json[], sc: Scope, d: number, result: boolean): ResultColumn[] {
    const outs: ResultColumn[] = [];
    const saved = this.col;
    for (const t of tl) {
      const rt = t.ResTarget;
      if (!rt) continue;
      const val = rt.val;
      const name = (rt.name as string | undefined) ?? figureName(val);
      if (result) this.col = name;
      // (p).col is p.col; (p).* is p.*
      let fields = (val?.ColumnRef?.fields as Json[] | undefined) ?? this.rowField(val, sc);
      if (!fields) {
        // ssn::text is still the column's own value (a length, as in varchar(3), would cut it).
        const core = stripTextCasts(val);
        const f = core === val ? null : ((core?.ColumnRef?.fields as Json[] | undefined) ?? this.rowField(core, sc));
        if (f && !f[f.length - 1]?.A_Star) fields = f;
      }
      if (fields) {
        if (fields[fields.length - 1]?.A_Star) {
          this.starTarget(fields, sc, outs);
          continue;
        }
        const sink: ColumnRef[] = [];
        const plain = this.columnRef(fields, sc, sink, false);
        outs.push(withThrough({ name, sources: dedupe(sink), derived: !plain }, this.throughOf(sink)));
        continue;
      }
      const sink: ColumnRef[] = [];
      if (val) this.ex(val, sc, sink, false, d);
      const keys = result ? this.rowJsonKeys(val, sc) : null;
      const ind = val?.A_Indirection;
      if (ind && (ind.indirection as Json[])[ind.indirection.length - 1]?.A_Star) {
        // (f(x)).* / (composite_col).*: as many columns as the composite type has, which is unknown.
        this.facts.unresolve('unknown_shape: (expression).* expands a composite value whose columns are unknown', this.col);
        outs.push({ name: STAR, sources: dedupe(sink), derived: true });
        continue;
      }
      const out = withThrough({ name, sources: dedupe(sink), derived: true }, this.throughOf(sink));
      if (keys) out.json_keys = keys;
      outs.push(out);
    }
    this.col = saved;
    return outs;
  }

  /**
   * `row_to_json(p)` and its kin over one whole FROM item: the keys of the JSON objects are that item's
   * column names, each with its own lineage. Null when it is anything else, or the columns (or their names,
   * when two share one) are not known.
   */
  private rowJsonKeys(val: Json, sc: Scope): JsonKey[] | null {
    const fc = val?.FuncCall;
    if (!fc || (fc.args ?? []).length !== 1) return null;
    const fname = strList(fc.funcname as Json[]);
    const base = fname[fname.length - 1];
    if (!ROW_JSON_FUNCTIONS.has(base as string) || (fname.length === 2 && fname[0] !== 'pg_catalog') || fname.length > 2) return null;
    const fields = fc.args[0]?.ColumnRef?.fields as Json[] | undefined;
    if (!fields) return null;
    let rel: Rel | null = null;
    if (fields.length === 2 && fields[1]?.A_Star) rel = this.findRel(strList(fields.slice(0, 1)), sc);
    else if (fields.length === 1 && typeof fields[0]?.String?.sval === 'string') {
      const name = fields[0].String.sval as string;
      // A bare name is the whole row only when no FROM item has a column of that name.
      const visible = sc.rels.filter((r) => !r.hidden);
      if (visible.some((r) => this.relHas(r, name) !== 0)) return null;
      rel = visible.find((r) => r.name === name) ?? null;
    }
    if (!rel) return null;
    const cols: ResultColumn[] = [];
    this.expandRel(rel, cols);
    const names = new Set(cols.map((c) => c.name));
    if (cols.length === 0 || names.has(STAR) || names.size !== cols.length) return null;
    return cols.map((c) => ({ key: c.name, sources: c.sources, derived: c.derived }));
  }

  /**
   * `(p).col` / `(p).*` where p names a FROM item (not a column): the fields of the equivalent
   * `p.col` / `p.*` ColumnRef, so the reference stays exact. null for anything else.
   */
  private rowField(val: Json, sc: Scope): Json[] | null {
    const ind = val?.A_Indirection;
    if (!ind) return null;
    const list = ind.indirection as Json[];
    const first = list[0];
    if (list.length !== 1 || !(first?.String || first?.A_Star)) return null;
    const f = ind.arg?.ColumnRef?.fields as Json[] | undefined;
    if (!f || f.length !== 1 || !f[0].String) return null;
    const rel = f[0].String.sval as string;
    for (let s: Scope | null = sc; s; s = s.parent) {
      for (const r of s.rels) if (!r.hidden && this.relHas(r, rel) === 1) return null;
      for (const r of s.rels) if (r.name === rel) return [f[0], first];
    }
    return null;
  }

  private starTarget(fields: Json[], sc: Scope, outs: ResultColumn[]): void {
    if (fields.length === 1) {
      this.expandList(sc.rels, sc, outs);
      return;
    }
    const rel = this.findRel(strList(fields.slice(0, -1)), sc);
    if (rel) this.expandRel(rel, outs);
  }

  /**
   * A bare `*` over FROM items: PostgreSQL shows a USING / NATURAL join's columns once, first
   * (then the rest of the left side, then the right), so the output positions match its own.
   */
  private expandList(rels: Rel[], sc: Scope, outs: ResultColumn[]): void {
    for (let i = 0; i < rels.length; ) {
      const r = rels[i] as Rel;
      let g: JoinGroup | null = null;
      for (const x of sc.groups ?? []) {
        const n = x.rels.length;
        if (x.rels[0] === r && i + n <= rels.length && rels[i + n - 1] === x.rels[n - 1] && (!g || n > g.rels.length)) g = x;
      }
      if (!g) {
        if (!r.hidden) this.expandRel(r, outs);
        i++;
        continue;
      }
      i += g.rels.length;
      const left: ResultColumn[] = [];
      const right: ResultColumn[] = [];
      this.expandList(g.rels.slice(0, g.mid), sc, left);
      this.expandList(g.rels.slice(g.mid), sc, right);
      if (!g.using) {
        outs.push(...left, ...right);
        continue;
      }
      const taken = new Set<ResultColumn>();
      for (const u of g.using) {
        const a = left.find((o) => o.name === u);
        const b = right.find((o) => o.name === u);
        if (a) taken.add(a);
        if (b) taken.add(b);
        // An unexpanded side ('*') holds it somewhere: its table's column of that name.
        const src = dedupe([...(a ? a.sources : starSources(left, u)), ...(b ? b.sources : starSources(right, u))]);
        outs.push({ name: u, sources: src, derived: g.full || !a || !!a.derived });
      }
      for (const o of left) if (!taken.has(o)) outs.push(o);
      for (const o of right) if (!taken.has(o)) outs.push(o);
    }
  }

  /** `*` / `t.*`: one output per known column, else one '*' output. Records the reads. */
  private expandRel(r: Rel, outs: ResultColumn[]): void {
    const as = r.assigned;
    if (r.outs) {
      for (const o of r.outs) {
        if (r.view) this.facts.read(r.schema as string, r.table as string, o.name);
        const extra = as ? assignedTo(as, o.name) : null;
        outs.push(extra ? { name: o.name, sources: dedupe([...o.sources, ...extra]), derived: true } : o);
      }
      return;
    }
    const schema = r.schema as string;
    const table = r.table as string;
    if (r.cols) {
      for (let i = 0; i < r.cols.length; i++) {
        const c = r.cols[i] as string;
        this.facts.read(schema, table, c);
        const src = { schema, table, column: c };
        const extra = as ? assignedTo(as, c) : null;
        outs.push(extra ? { name: r.renamed?.[i] ?? c, sources: dedupe([src, ...extra]), derived: true } : { name: r.renamed?.[i] ?? c, sources: [src], derived: false });
      }
      return;
    }
    this.facts.read(schema, table, STAR);
    const src = { schema, table, column: STAR };
    const extra = as ? allAssigned(as) : null;
    outs.push(extra ? { name: STAR, sources: dedupe([src, ...extra]), derived: true } : { name: STAR, sources: [src], derived: false });
  }

  // ---- columns -------------------------------------------------------------------------------

  private findRel(q: string[], sc: Scope): Rel | null {
    const n = q.length;
    for (let s: Scope | null = sc; s; s = s.parent) {
      for (const r of s.rels) {
        if (n === 1) {
          if (r.name === q[0]) return r;
        } else if (!r.aliased && r.table === q[n - 1] && r.schema === q[n - 2]) {
          return r;
        }
      }
    }
    return null;
  }

  /** Resolves a ColumnRef's fields; returns true when it is a plain column passed through unchanged. */
  private columnRef(fields: Json[], sc: Scope, sink: ColumnRef[] | null, pred: boolean): boolean {
    const n = fields.length;
    const last = fields[n - 1];
    if (last?.A_Star) {
      // t.* inside an expression (row_to_json(t.*), ROW(t.*)): the whole row flows into the value.
      const tmp: ResultColumn[] = [];
      if (n === 1) {
        for (const r of sc.rels) if (!r.hidden) this.expandRel(r, tmp);
      } else {
        const r = this.findRel(strList(fields.slice(0, -1)), sc);
        if (r) this.expandRel(r, tmp);
      }
      for (const o of tmp) for (const src of o.sources) this.use(src, sink, pred);
      sc.local++;
      return false;
    }
    const names = strList(fields);
    if (n === 1) return this.unqualified(names[0] as string, sc, sink, pred);
    const col = names[n - 1] as string;
    const rel = this.findRel(names.slice(0, -1), sc);
    if (rel) {
      this.markLocal(rel, sc);
      return this.relColumn(rel, col, sink, pred);
    }
    // `a.b` where a is no FROM item: a composite column a with field b.
    this.unqualified(names[0] as string, sc, sink, pred);
    return false;
  }

  private markLocal(rel: Rel, sc: Scope): void {
    for (let s: Scope | null = sc; s; s = s.parent) {
      if (s.rels.includes(rel)) {
        s.local++;
        return;
      }
    }
  }

  private unqualified(col: string, sc: Scope, sink: ColumnRef[] | null, pred: boolean): boolean {
    let found = false;
    let plain = true;
    for (let s: Scope | null = sc; s; s = s.parent) {
      let sure = false;
      let maybe = false;
      for (const r of s.rels) {
        if (r.hidden) continue;
        const h = this.relHas(r, col);
        if (h === 1) sure = true;
        else if (h === 2) maybe = true;
      }
      if (sure || maybe) {
        s.local++;
        for (const r of s.rels) {
          if (r.hidden) continue;
          const h = this.relHas(r, col);
          if (h === 0) continue;
          if (h === 2 && r.name === col) {
            // Without a catalog, a bare name that names a FROM item is taken as its whole row
            // (the row covers a same-named column too, so no column 'p' is invented).
            this.wholeRow(r, sink, pred);
            plain = false;
            continue;
          }
          if (!this.relColumn(r, col, sink, pred)) plain = false;
        }
        found = true;
        // Only a catalog-confirmed match settles it; otherwise an outer level may own the name.
        if (sure) return plain;
        continue;
      }
      for (const r of s.rels) {
        if (r.name === col) {
          s.local++;
          this.wholeRow(r, sink, pred);
          return false;
        }
      }
    }
    if (found) return plain;
    // No FROM item has it (per the catalog): attribute it to every candidate of the nearest level.
    for (let s: Scope | null = sc; s; s = s.parent) {
      if (s.rels.length === 0) continue;
      s.local++;
      for (const r of s.rels) if (!r.hidden) this.relColumn(r, col, sink, pred);
      return plain;
    }
    return plain;
  }

  /** Resolves `col` against the given rels only (JOIN USING / NATURAL). */
  private resolveIn(rels: Rel[], col: string, sink: ColumnRef[] | null, pred: boolean): void {
    let any = false;
    for (const r of rels) {
      if (this.relHas(r, col) !== 0) {
        this.relColumn(r, col, sink, pred);
        any = true;
      }
    }
    if (!any) for (const r of rels) this.relColumn(r, col, sink, pred);
  }

  /** 0 = no such column, 1 = known column, 2 = columns unknown, may have it. */
  private relHas(r: Rel, col: string): 0 | 1 | 2 {
    if (r.outs) {
      if (r.fn) return r.name === col ? 1 : 2;
      let star = false;
      for (const o of r.outs) {
        if (o.name === col) return 1;
        if (o.name === STAR) star = true;
      }
      return star ? 2 : 0;
    }
    if (r.renamed?.includes(col)) return 1;
    if (!r.cols) return 2;
    return r.cols.includes(col) ? 1 : 0;
  }

  private relColumn(r: Rel, col: string, sink: ColumnRef[] | null, pred: boolean): boolean {
    if (r.outs) {
      if (r.fn) {
        for (const src of r.outs[0]?.sources ?? []) this.use(src, sink, pred);
        return false;
      }
      let plain = true;
      let hit = false;
      for (const o of r.outs) {
        if (o.name === col) {
          hit = true;
          if (o.derived) plain = false;
          this.useOut(o, sink, pred);
        }
      }
      if (!hit) {
        for (const o of r.outs) {
          if (o.name !== STAR) continue;
          if (o.derived) plain = false;
          for (const src of o.sources) {
            this.use(src.column === STAR ? { schema: src.schema, table: src.table, column: col } : src, sink, pred);
          }
        }
      }
      if (r.view) this.facts.read(r.schema as string, r.table as string, col);
      if (r.assigned && this.useAssigned(r.assigned, col, sink, pred)) plain = false;
      return plain;
    }
    const schema = r.schema as string;
    const table = r.table as string;
    let real = col;
    if (r.renamed) {
      const i = r.renamed.indexOf(col);
      if (i >= 0) real = r.cols?.[i] ?? STAR;
    }
    this.use({ schema, table, column: real }, sink, pred, true);
    if (r.assigned && this.useAssigned(r.assigned, real, sink, pred)) return false;
    return true;
  }

  /** The values a DML statement wrote into `col` flow into RETURNING; true if there were any. */
  private useAssigned(as: Map<string, ColumnRef[]>, col: string, sink: ColumnRef[] | null, pred: boolean): boolean {
    const extra = assignedTo(as, col);
    if (!extra) return false;
    for (const src of extra) this.use(src, sink, pred);
    return true;
  }

  private wholeRow(r: Rel, sink: ColumnRef[] | null, pred: boolean): void {
    const tmp: ResultColumn[] = [];
    this.expandRel(r, tmp);
    for (const o of tmp) for (const src of o.sources) this.use(src, sink, pred);
  }

  /** A table column flows into the current value (sink) and/or is used as a predicate. */
  private use(src: ColumnRef, sink: ColumnRef[] | null, pred: boolean, base = false): void {
    if (base) this.facts.read(src.schema, src.table, src.column);
    if (sink) sink.push(src);
    if (pred) this.facts.pred(src);
  }

  // ---- clauses -------------------------------------------------------------------------------

  /** GROUP BY / ORDER BY / DISTINCT ON: ordinals and output names refer to the target list. */
  private orderLike(items: Json[] | undefined, sc: Scope, outs: ResultColumn[], d: number): void {
    if (!items) return;
    for (const it of items) {
      const node = it.SortBy ? it.SortBy.node : it;
      if (!node) continue;
      const ival = node.A_Const?.ival;
      if (ival) {
        const o = outs[(ival.ival as number) - 1];
        if (o) for (const src of o.sources) this.facts.pred(src);
        continue;
      }
      const f = node.ColumnRef?.fields as Json[] | undefined;
      if (f && f.length === 1 && f[0].String) {
        const name = f[0].String.sval as string;
        const o = outs.find((x) => x.name === name);
        if (o && !(outs.length && this.inputHasSure(name, sc))) {
          for (const src of o.sources) this.facts.pred(src);
          continue;
        }
      }
      this.ex(node, sc, null, true, d);
    }
  }

  private inputHasSure(col: string, sc: Scope): boolean {
    for (const r of sc.rels) if (this.relHas(r, col) === 1 && !r.outs) return true;
    return false;
  }

  private whereClause(w: Json, sc: Scope, d: number, info: WhereInfo | null): void {
    const t = this.truth(w, sc, d);
    if (info) {
      info.has = true;
      info.trivial = t === 'T' || t === 'C';
    }
  }

  /** Evaluates a WHERE for triviality while walking it once for reads and predicates. */
  private truth(n: Json, sc: Scope, d: number): Truth {
    d = this.check(d);
    const tag = tagOf(n);
    const b = n[tag];
    switch (tag) {
      case 'BoolExpr': {
        const vals: Truth[] = [];
        for (const a of (b.args ?? []) as Json[]) vals.push(this.truth(a, sc, d));
        if (b.boolop === 'NOT_EXPR') {
          const v = vals[0] ?? 'U';
          return v === 'T' ? 'F' : v === 'F' ? 'T' : v;
        }
        if (b.boolop === 'OR_EXPR') {
          if (vals.includes('T')) return 'T';
          // A row-independent arm that may be true lets every row through.
          if (vals.includes('C')) return 'C';
          if (vals.includes('U')) return 'U';
          return vals.includes('N') ? 'N' : 'F';
        }
        if (vals.includes('F')) return 'F';
        if (vals.includes('N')) return 'N';
        if (vals.includes('U')) return 'U';
        return vals.includes('C') ? 'C' : 'T';
      }
      case 'A_Expr': {
        const cmp = this.constCompare(b);
        if (cmp) {
          this.facts.litDep = true;
          return cmp;
        }
        if (b.kind === 'AEXPR_OP' && sameColumn(b.lexpr, b.rexpr) && ['=', '>=', '<='].includes(opName(b))) {
          // `id = id` filters nothing but NULLs: as good as no WHERE.
          this.ex(n, sc, null, true, d);
          return 'C';
        }
        break;
      }
      case 'NullTest': {
        const v = constValue(b.arg);
        if (v !== undefined) {
          this.facts.litDep = true;
          const isNull = v === null;
          return (b.nulltesttype === 'IS_NULL') === isNull ? 'T' : 'F';
        }
        break;
      }
      case 'BooleanTest': {
        const inner = this.truth(b.arg, sc, d);
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
          this.facts.litDep = true;
          const bv = toBool(v);
          return bv === null ? (v === null ? 'N' : 'C') : bv ? 'T' : 'F';
        }
        break;
      }
    }
    const before = sc.local;
    this.ex(n, sc, null, true, d);
    return sc.local > before ? 'U' : 'C';
  }

  private constCompare(b: Json): Truth | null {
    if (b.kind === 'AEXPR_OP') {
      const op = opName(b);
      if (!COMPARE.has(op)) return null;
      const l = constValue(b.lexpr);
      if (l === undefined) return null;
      const r = constValue(b.rexpr);
      if (r === undefined) return null;
      return compare(op, l, r);
    }
    if (b.kind === 'AEXPR_IN') {
      const l = constValue(b.lexpr);
      const items = b.rexpr?.List?.items as Json[] | undefined;
      if (l === undefined || !items) return null;
      let res: Truth = 'F';
      for (const it of items) {
        const r = constValue(it);
        if (r === undefined) return null;
        const c = compare('=', l, r);
        if (c === 'T') res = 'T';
        else if (c !== 'F' && res !== 'T') res = c;
      }
      return opName(b) === '<>' ? (res === 'T' ? 'F' : res === 'F' ? 'T' : res) : res;
    }
    return null;
  }

  // ---- expressions ---------------------------------------------------------------------------

  private exprs(list: (Json | undefined)[] | undefined, sc: Scope, d: number): void {
    if (!list) return;
    for (const e of list) if (e) this.ex(e, sc, null, false, d);
  }

  /** Expressions whose value decides which or how many rows come back (LIMIT, OFFSET, TABLESAMPLE): predicates. */
  private predicates(list: (Json | undefined)[] | undefined, sc: Scope, d: number): void {
    if (!list) return;
    for (const e of list) if (e) this.ex(e, sc, null, true, d);
  }

  /**
   * Walks an expression: column values that flow into it go to `sink` (lineage), columns it
   * compares on go to predicates when `pred`, functions and subqueries are recorded.
   */
  ex(n: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
    d = this.check(d);
    const tag = tagOf(n);
    const b = n[tag];
    switch (tag) {
      case '':
      case 'A_Const':
      case 'ParamRef':
      case 'SQLValueFunction':
      case 'SetToDefault':
      case 'A_Star':
      case 'String':
      case 'Integer':
      case 'Float':
      case 'Boolean':
      case 'BitString':
        return;
      case 'CurrentOfExpr':
        // WHERE CURRENT OF touches one row: row-dependent.
        sc.local++;
        return;
      case 'ColumnRef':
        this.columnRef(b.fields as Json[], sc, sink, pred);
        return;
      case 'FuncCall': {
        this.facts.functions.add(funcName(b));
        const from = b === this.fromCall;
        // Only the FROM item's own call is a FROM function; calls in its arguments are values.
        if (from) this.fromCall = null;
        if (b.args) for (const a of b.args as Json[]) this.arg(a, b, sc, sink, pred, d);
        // How many rows a set-returning function (or any function in FROM) yields depends on its arguments:
        // a count of them answers a question about the values (generate_series(1, ascii(ssn))).
        if (b.args && (from || isSetReturning(b))) for (const a of b.args as Json[]) this.ex(a, sc, null, true, d);
        if (b.agg_order) for (const o of b.agg_order as Json[]) this.ex(o, sc, null, true, d);
        if (b.agg_filter) this.ex(b.agg_filter, sc, null, true, d);
        if (b.over) this.ex({ WindowDef: b.over }, sc, null, true, d);
        this.callee(b, sink, pred, from, d);
        return;
      }
      case 'A_Indirection': {
        const f = this.rowField(n, sc);
        if (f && !f[1].A_Star) {
          this.columnRef(f, sc, sink, pred);
          return;
        }
        this.anyEx(b, sc, sink, pred, d);
        return;
      }
      case 'WindowDef':
        if (b.partitionClause) for (const p of b.partitionClause as Json[]) this.ex(p, sc, null, true, d);
        if (b.orderClause) for (const p of b.orderClause as Json[]) this.ex(p, sc, null, true, d);
        this.exprs([b.startOffset, b.endOffset], sc, d);
        return;
      case 'SortBy':
        this.ex(b.node, sc, sink, pred, d);
        return;
      case 'SubLink': {
        if (b.testexpr) this.ex(b.testexpr, sc, sink, pred, d);
        const outs = this.query(b.subselect, sc, d);
        if (b.subLinkType !== 'EXISTS_SUBLINK') {
          for (const o of outs) this.useOut(o, sink, pred);
        }
        return;
      }
      case 'MultiAssignRef':
        this.ex(b.source, sc, sink, pred, d);
        return;
      case 'ResTarget':
        if (b.val) this.ex(b.val, sc, sink, pred, d);
        return;
      case 'SelectStmt':
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt': {
        const outs = this.query(n, sc, d);
        for (const o of outs) this.useOut(o, sink, pred);
        return;
      }
      default:
        this.anyEx(b, sc, sink, pred, d);
    }
  }

  /**
   * One argument of a call. A direct copy of a column (`count(ssn)`, `count(p.ssn::text)`) flows into the
   * value only as this call's result: its sources are tagged with the call's name (see ResultColumn.through).
   */
  private arg(a: Json, call: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
    const core = sink ? stripTextCasts(a) : null;
    const f = core?.ColumnRef?.fields as Json[] | undefined;
    // Only known built-ins are tagged; a user function of the same name (which PostgreSQL may prefer for an
    // exact argument type) or an unknown one is not.
    const names = strList(call.funcname as Json[]);
    const base = builtinName(names);
    if (!sink || !f || f[f.length - 1]?.A_Star || base === null || !PURE_FUNCTIONS.has(base) || this.lookupFunction(names)) {
      this.ex(a, sc, sink, pred, d);
      return;
    }
    const tmp: ColumnRef[] = [];
    const plain = this.columnRef(f, sc, tmp, pred);
    const name = [funcName(call)];
    for (const src of tmp) sink.push(plain ? this.tag(src, name) : src);
  }

  /** A fresh copy of `src` that reaches the value only through the results of `fns`. */
  private tag(src: ColumnRef, fns: Iterable<string>): ColumnRef {
    const t = { schema: src.schema, table: src.table, column: src.column };
    this.via.set(t, new Set(fns));
    return t;
  }

  /** A derived relation's output flows into the current value, keeping what reaches it only through calls. */
  private useOut(o: ResultColumn, sink: ColumnRef[] | null, pred: boolean): void {
    if (!o.through || !sink) {
      for (const src of o.sources) this.use(src, sink, pred);
      return;
    }
    const by = new Map(o.through.map((t) => [refKey(t), t.functions]));
    for (const src of o.sources) {
      const fns = by.get(refKey(src));
      this.use(fns ? this.tag(src, fns) : src, sink, pred);
    }
  }

  /** The sources of a value's sink whose every occurrence is tagged (see `arg`), with the union of their tags. */
  private throughOf(sink: ColumnRef[]): ThroughRef[] | undefined {
    const m = new Map<string, { ref: ColumnRef; fns: Set<string> | null }>();
    for (const src of sink) {
      const k = refKey(src);
      const tags = this.via.get(src);
      const e = m.get(k);
      if (!e) m.set(k, { ref: src, fns: tags ? new Set(tags) : null });
      else if (e.fns && tags) for (const t of tags) e.fns.add(t);
      else e.fns = null;
    }
    const out: ThroughRef[] = [];
    for (const { ref, fns } of m.values()) if (fns) out.push({ schema: ref.schema, table: ref.table, column: ref.column, functions: [...fns].sort() });
    return out.length ? out : undefined;
  }

  /**
   * What a called function adds beyond its arguments (already walked): a catalog function's body
   * lineage; nothing for a pure built-in; an Unresolved entry when it runs SQL given as text, or
   * when it is unknown and its value reaches a result (a value position, or a FROM item).
   */
  private callee(b: Json, sink: ColumnRef[] | null, pred: boolean, from: boolean, d: number): void {
    const names = strList(b.funcname as Json[]);
    const base = builtinName(names);
    const shown = funcName(b);
    if (base !== null && DYNAMIC_FUNCTIONS.has(base)) {
      this.facts.unresolve(`dynamic_sql: ${shown}() reads whatever its text/cursor/table argument names`, this.col);
      return;
    }
    const def = this.lookupFunction(names);
    if (def) {
      const l = this.funcLineage(def.key, def.fn, d);
      for (const src of l.sources) this.use(src, sink, pred);
      if (from) this.lastShape = l.shape;
      return;
    }
    if (base !== null && PURE_FUNCTIONS.has(base)) return;
    if (from) this.facts.unresolve(`unknown_set_function: ${shown}() in FROM is not in the catalog; its columns and what they derive from are unknown`, undefined);
    else if (sink) this.facts.unresolve(`unknown_function: ${shown}() is not in the catalog and not a known pure built-in; it may read any table`, this.col);
  }

  /** A function's catalog entry: qualified as written, else pg_catalog then the search path. */
  private lookupFunction(names: string[]): { key: string; fn: CatalogFunction } | null {
    const fns = this.catalog?.functions;
    if (!fns) return null;
    const name = names[names.length - 1] as string;
    if (names.length > 1) {
      const key = names[names.length - 2] + '.' + name;
      const fn = fns[key];
      return fn ? { key, fn } : null;
    }
    let key = 'pg_catalog.' + name;
    let fn = fns[key];
    if (fn) return { key, fn };
    for (const s of this.searchPath) {
      key = s + '.' + name;
      fn = fns[key];
      if (fn) return { key, fn };
    }
    return null;
  }

  /**
   * Everything a catalog function's result may derive from (conservatively: every source of every
   * result column of every statement in its body), walking the body once per statement so its
   * reads, writes and predicates count for the caller too.
   */
  private funcLineage(key: string, fn: CatalogFunction, d: number): FnLineage {
    const memo = this.fnMemo.get(key);
    if (memo) return memo;
    const ek = 'f:' + key;
    // A recursive call adds nothing the outer walk of the same body does not already collect.
    if (this.expanding.has(ek)) return { sources: [], shape: null };
    const out: FnLineage = { sources: [], shape: null };
    if (this.expanding.size >= MAX_EXPANSION) {
      this.facts.unresolve(`opaque_function: ${key}() is nested too deeply in views/functions to follow`, this.col);
      return out;
    }
    const lang = fn.language.toLowerCase();
    this.expanding.add(ek);
    const saved = this.col;
    try {
      if (lang === 'sql') {
        const p = this.parsed(ek, fn.body);
        if (!p.stmts) this.facts.unresolve(`opaque_function: the body of ${key}() cannot be analyzed${p.error ? ` (${p.error})` : ''}`, saved);
        else {
          const src: ColumnRef[] = [];
          for (const st of p.stmts) {
            const ret = st.ReturnStmt;
            // RETURN expr (SQL-standard body) is the value of SELECT expr.
            const q = ret ? { SelectStmt: { targetList: [{ ResTarget: { val: ret.returnval } }], op: 'SETOP_NONE' } } : st;
            const outs = this.query(q, null, d);
            for (const o of outs) src.push(...o.sources);
            // The last statement's output is the function's.
            out.shape = outs.length && !outs.some((o) => o.name === STAR) ? outs.map((o) => o.name) : null;
          }
          out.sources = dedupe(src);
        }
      } else if (lang === 'plpgsql' && this.o.analyzeBody) {
        const a = this.plBody(ek, lang, fn.body, d, !!fn.returns_set);
        // Control flow can return anything the body touched: every column it reads counts.
        const src: ColumnRef[] = [];
        const visit = (list: StatementAnalysis[]): void => {
          for (const s of list) {
            for (const r of s.reads) {
              if (r.columns.length === 0) src.push({ schema: r.schema, table: r.table, column: STAR });
              for (const c of r.columns) src.push({ schema: r.schema, table: r.table, column: c });
            }
            for (const rc of s.result_columns) src.push(...rc.sources);
            mergeAnalysis(this.facts, s, saved);
            visit(s.nested);
          }
        };
        visit(a.nested);
        if (a.opaque) {
          this.facts.opaque = true;
          this.facts.unresolve(`dynamic_sql: ${key}() runs SQL that cannot be known before it runs (EXECUTE, or a body that does not parse)`, saved);
        }
        out.sources = dedupe(src);
      } else {
        this.facts.unresolve(`opaque_function: ${key}() is LANGUAGE ${lang}; what it reads cannot be analyzed`, saved);
      }
    } finally {
      this.expanding.delete(ek);
      this.col = saved;
    }
    this.fnMemo.set(key, out);
    return out;
  }

  /** A procedural body analyzed as CREATE FUNCTION would be, cached per catalog object. */
  private plBody(key: string, lang: string, body: string, d: number, returnsSet: boolean): BodyFacts {
    const cat = this.catalog as Catalog;
    let m = bodyCache.get(cat);
    if (!m) bodyCache.set(cat, (m = new Map()));
    const hit = m.get(key);
    if (hit && hit.text === body) return hit.a;
    const a = (this.o.analyzeBody as NonNullable<WalkOptions['analyzeBody']>)(lang, body, this.o, d + 1, returnsSet);
    m.set(key, { text: body, a });
    return a;
  }

  /** CALL p(...): the procedure's catalog lineage (facts, Unresolved) as for a function whose value is used. */
  call(fc: Json, d: number): void {
    this.ex({ FuncCall: fc }, this.newScope(null), [], false, d);
  }

  /** Every child of an unfamiliar node, so no function call or subquery escapes. */
  private anyEx(b: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
    if (!b || typeof b !== 'object') return;
    d = this.check(d);
    if (Array.isArray(b)) {
      for (const x of b) if (x && typeof x === 'object') this.child(x, sc, sink, pred, d);
      return;
    }
    for (const k in b) {
      const v = b[k];
      if (v && typeof v === 'object') {
        if (Array.isArray(v)) {
          for (const x of v) if (x && typeof x === 'object') this.child(x, sc, sink, pred, d);
        } else {
          this.child(v, sc, sink, pred, d);
        }
      }
    }
  }

  private child(x: Json, sc: Scope, sink: ColumnRef[] | null, pred: boolean, d: number): void {
    if (isNode(x)) this.ex(x, sc, sink, pred, d);
    else this.anyEx(x, sc, sink, pred, d);
  }

  /**
   * DDL / DCL / utility statements: queries inside are analyzed, every table they name is a
   * write (the statement changes or depends on it), functions are recorded, literals noted.
   */
  generic(n: Json, sc: Scope | null, d: number): void {
    d = this.check(d);
    if (!n || typeof n !== 'object') return;
    if (Array.isArray(n)) {
      for (const x of n) this.generic(x, sc, d);
      return;
    }
    if (!isNode(n)) {
      // Some fields hold a RangeVar body without its wrapper (CreateStmt.relation, IndexStmt.relation).
      if (typeof n.relname === 'string' && 'relpersistence' in n) {
        const t = this.rangeVarName(n);
        this.facts.write(t.schema, t.table, [STAR]);
        return;
      }
      for (const k in n) {
        const v = n[k];
        if (v && typeof v === 'object') this.generic(v, sc, d);
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
        this.query(n, sc, d);
        return;
      case 'RangeVar': {
        const t = this.rangeVarName(b);
        this.facts.write(t.schema, t.table, [STAR]);
        return;
      }
      case 'FuncCall':
        this.facts.functions.add(funcName(b));
        break;
      case 'A_Const':
        this.facts.litDep = true;
        return;
      case 'DefElem':
        if (b.arg) this.facts.litDep = true;
        break;
      case 'ColumnRef':
        return;
      case 'SubLink':
        if (b.testexpr) this.generic(b.testexpr, sc, d);
        this.query(b.subselect, sc, d);
        return;
    }
    for (const k in b) {
      const v = b[k];
      if (v && typeof v === 'object') this.generic(v, sc, d);
    }
  }

  /** Table named by a dotted String list (DROP TABLE s.t, COMMENT ON TABLE t). */
  nameList(items: Json[]): { schema: string; table: string } | null {
    const names = strList(items);
    const table = names[names.length - 1];
    if (!table) return null;
    return { schema: this.resolveSchema(names.length > 1 ? names[names.length - 2] : undefined, table), table };
  }
}

// ---- helpers ---------------------------------------------------------------------------------

function isNode(x: Json): boolean {
  for (const k in x) {
    const c = k.charCodeAt(0);
    return c >= 65 && c <= 90;
  }
  return false;
}

export function strList(list: Json[] | undefined): string[] {
  const out: string[] = [];
  if (!list) return out;
  for (const x of list) {
    const s = x?.String?.sval;
    if (typeof s === 'string') out.push(s);
  }
  return out;
}

/** Lower-case function name; 'schema.name' only when the SQL text qualified it. */
export function funcName(b: Json): string {
  const names = strList(b.funcname as Json[]);
  // EXTRACT(...), TRIM(...), x AT TIME ZONE ... arrive as pg_catalog.* though nobody wrote that.
  if (b.funcformat === 'COERCE_SQL_SYNTAX' && names.length === 2 && names[0] === 'pg_catalog') return names[1] as string;
  return names.join('.');
}

function rename(outs: ResultColumn[], names: string[]): ResultColumn[] {
  if (names.length === 0) return outs;
  return outs.map((o, i) => (i < names.length && o.name !== STAR ? withThrough({ name: names[i] as string, sources: o.sources, derived: o.derived }, o.through) : o));
}

/** `o` with `through` set when there is any (absent otherwise, so plain outputs keep their shape). */
function withThrough(o: ResultColumn, through: ThroughRef[] | undefined): ResultColumn {
  if (through?.length) o.through = through;
  return o;
}

const refKey = (s: ColumnRef): string => s.schema + '\u0000' + s.table + '\u0000' + s.column;

/** A cast that keeps the value as it is: to text or varchar without a length (a length truncates). */
function isTextCast(n: Json): boolean {
  const t = n?.TypeCast?.typeName;
  if (!t || t.typmods || t.arrayBounds || t.setof || t.pct_type) return false;
  const names = strList(t.names as Json[] | undefined);
  const last = names[names.length - 1];
  return (last === 'text' || last === 'varchar') && (names.length === 1 || (names.length === 2 && names[0] === 'pg_catalog'));
}

function stripTextCasts(n: Json): Json {
  while (isTextCast(n)) n = n.TypeCast.arg;
  return n;
}

/** Sources of a set operation's column reached only through calls: those every arm that has them reaches only so. */
function mergeThrough(arms: (ResultColumn | undefined)[], sources: ColumnRef[]): ThroughRef[] | undefined {
  const out: ThroughRef[] = [];
  for (const src of sources) {
    const k = refKey(src);
    const fns = new Set<string>();
    let ok = true;
    for (const a of arms) {
      if (!a || !a.sources.some((x) => refKey(x) === k)) continue;
      const t = a.through?.find((x) => refKey(x) === k);
      if (!t) ok = false;
      else for (const f of t.functions) fns.add(f);
    }
    if (ok && fns.size) out.push({ schema: src.schema, table: src.table, column: src.column, functions: [...fns].sort() });
  }
  return out.length ? out : undefined;
}

/** Output columns of a set operation: names from the left arm, sources from both by position. */
function mergeArms(l: ResultColumn[], r: ResultColumn[]): ResultColumn[] {
  const starred = l.some((o) => o.name === STAR) || r.some((o) => o.name === STAR);
  const n = Math.max(l.length, r.length);
  const extra: ColumnRef[] = [];
  if (starred) {
    // Positions are unreliable once a side has an unexpanded '*': every column may come from any.
    for (const o of l) extra.push(...o.sources);
    for (const o of r) extra.push(...o.sources);
  }
  const outs: ResultColumn[] = [];
  for (let i = 0; i < n; i++) {
    const a = l[i];
    const b = r[i];
    const src = [...(a?.sources ?? []), ...(b?.sources ?? []), ...extra];
    const sources = dedupe(src);
    outs.push(
      withThrough(
        { name: a?.name ?? b?.name ?? '?column?', sources, derived: (a?.derived ?? true) || (b?.derived ?? true) || starred },
        starred ? undefined : mergeThrough([a, b], sources),
      ),
    );
  }
  return outs;
}

export function dedupe(src: ColumnRef[]): ColumnRef[] {
  if (src.length < 2) return src.slice();
  const seen = new Set<string>();
  const out: ColumnRef[] = [];
  for (const s of src) {
    const k = s.schema + '\u0000' + s.table + '\u0000' + s.column;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(s);
  }
  return out;
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

type Const = number | string | boolean | null;

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
      const bv = toBool(v);
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

/** PostgreSQL boolin: t/true/y/yes/on/1 and their unique prefixes, case-insensitive. */
function toBool(v: Const): boolean | null {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (v === null) return null;
  const s = v.trim().toLowerCase();
  if (!s) return null;
  if ('true'.startsWith(s) || ('yes'.startsWith(s)) || s === 'on' || s === '1') return true;
  if ('false'.startsWith(s) || 'no'.startsWith(s) || s === 'off' || s === 'of' || s === '0') return false;
  return null;
}

function compare(op: string, l: Const, r: Const): Truth {
  if (l === null || r === null) return 'N';
  let a: number | string | boolean = l;
  let b: number | string | boolean = r;
  if (typeof a !== typeof b) {
    // An untyped literal takes the other side's type: 1 = '1', true = 't'.
    if (typeof a === 'number' && typeof b === 'string' && b.trim() !== '' && !Number.isNaN(Number(b))) b = Number(b);
    else if (typeof b === 'number' && typeof a === 'string' && a.trim() !== '' && !Number.isNaN(Number(a))) a = Number(a);
    else if (typeof a === 'boolean' && typeof b === 'string') {
      const x = toBool(b);
      if (x === null) return 'C';
      b = x;
    } else if (typeof b === 'boolean' && typeof a === 'string') {
      const x = toBool(a);
      if (x === null) return 'C';
      a = x;
    } else return 'C';
  }
  // String ordering depends on the collation; only (in)equality is certain.
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

// ---- lineage helpers -------------------------------------------------------------------------

/** Adds `src` to what `col` was assigned (a column may be assigned by several clauses). */
function assign(m: Map<string, ColumnRef[]>, col: string, src: ColumnRef[]): void {
  const prev = m.get(col);
  if (prev) prev.push(...src);
  else m.set(col, src.slice());
}

/**
 * INSERT ... SELECT / VALUES: the i-th output goes to the i-th column. Without the column names, or
 * when positions are unreliable (an unexpanded '*'), every value may land in any column ('*' key).
 */
function assignByPosition(m: Map<string, ColumnRef[]>, cols: string[] | null, outs: ResultColumn[]): void {
  if (!cols || outs.some((o) => o.name === STAR)) {
    for (const o of outs) assign(m, STAR, o.sources);
    return;
  }
  for (let i = 0; i < outs.length && i < cols.length; i++) assign(m, cols[i] as string, (outs[i] as ResultColumn).sources);
}

/** Sources assigned to `col` (its own and the any-column ones); null when none. */
function assignedTo(m: Map<string, ColumnRef[]>, col: string): ColumnRef[] | null {
  const own = m.get(col);
  const any = m.get(STAR);
  const all = own && any ? [...own, ...any] : (own ?? any);
  return all && all.length ? all : null;
}

function allAssigned(m: Map<string, ColumnRef[]>): ColumnRef[] | null {
  const all: ColumnRef[] = [];
  for (const v of m.values()) all.push(...v);
  return all.length ? all : null;
}

/** Sources of the '*' outputs, their '*' columns narrowed to `col`. */
function starSources(outs: ResultColumn[], col: string): ColumnRef[] {
  const out: ColumnRef[] = [];
  for (const o of outs) {
    if (o.name !== STAR) continue;
    for (const s of o.sources) out.push(s.column === STAR ? { schema: s.schema, table: s.table, column: col } : s);
  }
  return out;
}

function sourceCount(outs: ResultColumn[]): number {
  let n = 0;
  for (const o of outs) n += o.sources.length;
  return n;
}

/** Every column derives from every source: the fallback when a recursion does not settle. */
function unionAll(outs: ResultColumn[]): ResultColumn[] {
  const all: ColumnRef[] = [];
  for (const o of outs) all.push(...o.sources);
  const src = dedupe(all);
  return outs.map((o) => ({ name: o.name, sources: src, derived: true }));
}

/** Statements of a parsed SQL-standard function body (BEGIN ATOMIC lists, RETURN). */
function flattenBody(n: Json): Json[] {
  const tag = tagOf(n);
  if (tag === 'List') {
    const out: Json[] = [];
    for (const x of (n.List.items ?? []) as Json[]) out.push(...flattenBody(x));
    return out;
  }
  return tag ? [n] : [];
}

/** Output names of a built-in in FROM when PostgreSQL's are known; null = unknown (record types). */
function srfShape(fc: Json, single: string): string[] | null {
  const base = builtinName(strList(fc.funcname as Json[]));
  if (base === null) return null;
  if (base === 'unnest') {
    const n = (fc.args as Json[] | undefined)?.length ?? 1;
    return n === 1 ? [single] : Array.from({ length: n }, () => 'unnest');
  }
  const cols = SRF_COLUMNS.get(base);
  if (cols !== undefined) return cols ?? [single];
  // Record-returning built-ins take their columns from a type or a column definition list.
  if (PURE_FUNCTIONS.has(base) && !base.includes('record')) return [single];
  return null;
}

/** A call that returns a set of rows: a known set-returning built-in. */
function isSetReturning(fc: Json): boolean {
  const base = builtinName(strList(fc.funcname as Json[]));
  return base !== null && (base === 'unnest' || SRF_COLUMNS.has(base));
}

/** A nested analysis' facts (a function body's statements) count for the statement calling it. */
function mergeAnalysis(f: Facts, n: StatementAnalysis, column: string | undefined): void {
  for (const r of n.reads) {
    if (r.columns.length === 0) f.read(r.schema, r.table, null);
    for (const c of r.columns) f.read(r.schema, r.table, c);
  }
  for (const x of n.writes) f.write(x.schema, x.table, x.columns);
  for (const fn of n.functions) f.functions.add(fn);
  for (const p of n.predicates_on) f.pred(p);
  for (const u of n.unresolved) f.unresolve(u.reason, column);
  if (n.opaque) f.opaque = true;
  if (n.literal_dependent) f.litDep = true;
  if (n.data_modifying_cte) f.dataModifyingCte = true;
  if (n.creates_table_from_query) f.createsTable = true;
}
