// One pass over a raw parse tree (libpg-query JSON): resolves tables and columns through scopes,
// CTEs and aliases, and accumulates the policy facts (reads, writes, lineage, predicates, WHERE).
import type { Catalog, ColumnRef, ResultColumn } from './types.ts';
import { figureName, tagOf, type Json } from './names.ts';

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
}

interface Scope {
  parent: Scope | null;
  rels: Rel[];
  ctes: Map<string, ResultColumn[]> | null;
  /** Column references resolved at this level; WHERE row-dependence compares it before/after. */
  local: number;
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
}

const STAR = '*';

/** Walks one statement's tree; create one per statement. */
export class Walker {
  readonly facts = new Facts();
  /** WHERE of the top-level statement (SELECT/UPDATE/DELETE). */
  readonly where: WhereInfo = { has: false, trivial: false };
  private readonly catalog: Catalog | undefined;
  private readonly searchPath: string[];
  private readonly maxDepth: number;

  constructor(o: WalkOptions) {
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
      if (cat.tables['pg_catalog.' + table]) return 'pg_catalog';
      for (const s of this.searchPath) if (cat.tables[s + '.' + table]) return s;
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

  /** A query-like node (SELECT / DML) anywhere; returns its output columns. */
  query(node: Json, sc: Scope | null, d: number, top = false): ResultColumn[] {
    const tag = tagOf(node);
    const b = node[tag];
    switch (tag) {
      case 'SelectStmt': return this.select(b, sc, d, top);
      case 'InsertStmt': return this.insert(b, sc, d);
      case 'UpdateStmt': return this.update(b, sc, d, top);
      case 'DeleteStmt': return this.delete(b, sc, d, top);
      case 'MergeStmt': return this.merge(b, sc, d);
      default:
        this.generic(node, sc, d);
        return [];
    }
  }

  select(s: Json, outer: Scope | null, d: number, top = false): ResultColumn[] {
    d = this.check(d);
    const sc = this.newScope(outer);
    if (s.withClause) this.withClause(s.withClause, sc, d);
    if (s.op && s.op !== 'SETOP_NONE') {
      const outs = this.setOp(s, sc, d);
      this.orderLike(s.sortClause, sc, outs, d);
      this.exprs([s.limitOffset, s.limitCount], sc, d);
      return outs;
    }
    let outs: ResultColumn[];
    if (s.valuesLists) {
      outs = this.values(s.valuesLists as Json[], sc, d);
    } else {
      if (s.fromClause) for (const f of s.fromClause as Json[]) this.fromItem(f, sc, d);
      if (s.whereClause) this.whereClause(s.whereClause, sc, d, top ? this.where : null);
      outs = s.targetList ? this.targetList(s.targetList as Json[], sc, d) : [];
      if (s.groupClause) this.orderLike(s.groupClause, sc, outs, d);
      if (s.havingClause) this.ex(s.havingClause, sc, null, true, d);
      if (s.windowClause) for (const w of s.windowClause as Json[]) this.ex(w, sc, null, true, d);
      if (s.distinctClause) this.orderLike(s.distinctClause, sc, outs, d);
      this.orderLike(s.sortClause, sc, outs, d);
    }
    this.exprs([s.limitOffset, s.limitCount], sc, d);
    return outs;
  }

  private setOp(s: Json, sc: Scope, d: number): ResultColumn[] {
    const l = this.select(s.larg, sc, d);
    const r = this.select(s.rarg, sc, d);
    return mergeArms(l, r);
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
        const r = this.select(sel.rarg, inner, cd);
        const outs = mergeArms(l, r);
        this.orderLike(sel.sortClause, inner, outs, cd);
        this.exprs([sel.limitOffset, sel.limitCount], inner, cd);
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

  private insert(s: Json, outer: Scope | null, d: number): ResultColumn[] {
    d = this.check(d);
    const sc = this.newScope(outer);
    if (s.withClause) this.withClause(s.withClause, sc, d);
    const { schema, table } = this.rangeVarName(s.relation);
    const cols = s.cols ? (s.cols as Json[]).map((c) => c.ResTarget?.name as string) : [STAR];
    this.facts.write(schema, table, cols);
    if (s.selectStmt) this.query(s.selectStmt, sc, d);
    const oc = s.onConflictClause;
    if (oc || s.returningClause) {
      sc.rels.push(this.baseRel(schema, table, s.relation.alias, false));
      sc.rels.push(this.baseRel(schema, table, { aliasname: 'excluded' }, false));
    }
    if (oc) {
      if (oc.infer?.whereClause) this.ex(oc.infer.whereClause, sc, null, true, d);
      if (oc.targetList) this.setList(oc.targetList as Json[], sc, schema, table, d);
      if (oc.whereClause) this.ex(oc.whereClause, sc, null, true, d);
    }
    return this.returning(s.returningClause, sc, schema, table, s.relation.alias, d);
  }

  private update(s: Json, outer: Scope | null, d: number, top: boolean): ResultColumn[] {
    d = this.check(d);
    const sc = this.newScope(outer);
    if (s.withClause) this.withClause(s.withClause, sc, d);
    const { schema, table } = this.rangeVarName(s.relation);
    sc.rels.push(this.baseRel(schema, table, s.relation.alias, false));
    if (s.fromClause) for (const f of s.fromClause as Json[]) this.fromItem(f, sc, d);
    this.setList((s.targetList ?? []) as Json[], sc, schema, table, d);
    this.dmlWhere(s.whereClause, sc, d, top);
    return this.returning(s.returningClause, sc, schema, table, s.relation.alias, d);
  }

  private delete(s: Json, outer: Scope | null, d: number, top: boolean): ResultColumn[] {
    d = this.check(d);
    const sc = this.newScope(outer);
    if (s.withClause) this.withClause(s.withClause, sc, d);
    const { schema, table } = this.rangeVarName(s.relation);
    this.facts.write(schema, table, [STAR]);
    sc.rels.push(this.baseRel(schema, table, s.relation.alias, false));
    if (s.usingClause) for (const f of s.usingClause as Json[]) this.fromItem(f, sc, d);
    this.dmlWhere(s.whereClause, sc, d, top);
    return this.returning(s.returningClause, sc, schema, table, s.relation.alias, d);
  }

  private dmlWhere(w: Json, sc: Scope, d: number, top: boolean): void {
    if (!w) return;
    const info: WhereInfo = top ? this.where : { has: false, trivial: false };
    this.whereClause(w, sc, d, info);
    if (!top && info.trivial) this.facts.cteWhereTrivial = true;
  }

  private merge(s: Json, outer: Scope | null, d: number): ResultColumn[] {
    d = this.check(d);
    const sc = this.newScope(outer);
    if (s.withClause) this.withClause(s.withClause, sc, d);
    const { schema, table } = this.rangeVarName(s.relation);
    sc.rels.push(this.baseRel(schema, table, s.relation.alias, false));
    this.fromItem(s.sourceRelation, sc, d);
    if (s.joinCondition) this.ex(s.joinCondition, sc, null, true, d);
    const written: string[] = [];
    for (const w of (s.mergeWhenClauses ?? []) as Json[]) {
      const mw = w.MergeWhenClause;
      if (!mw) continue;
      if (mw.condition) this.ex(mw.condition, sc, null, true, d);
      const tl = (mw.targetList ?? []) as Json[];
      if (mw.commandType === 'CMD_UPDATE') {
        for (const t of tl) {
          const rt = t.ResTarget;
          written.push(rt.name as string);
          this.assignValue(rt.val, sc, d);
        }
      } else if (mw.commandType === 'CMD_INSERT') {
        if (tl.length === 0) written.push(STAR);
        for (const t of tl) written.push(t.ResTarget.name as string);
        for (const v of (mw.values ?? []) as Json[]) this.ex(v, sc, null, false, d);
      } else if (mw.commandType === 'CMD_DELETE') {
        written.push(STAR);
      }
    }
    this.facts.write(schema, table, written);
    return this.returning(s.returningClause, sc, schema, table, s.relation.alias, d);
  }

  /** UPDATE SET / ON CONFLICT DO UPDATE SET: the columns are writes, the values are read. */
  private setList(tl: Json[], sc: Scope, schema: string, table: string, d: number): void {
    const cols: string[] = [];
    for (const t of tl) {
      const rt = t.ResTarget;
      if (!rt) continue;
      cols.push(rt.name as string);
      if (rt.indirection) this.exprs(rt.indirection as Json[], sc, d);
      this.assignValue(rt.val, sc, d);
    }
    this.facts.write(schema, table, cols);
  }

  private assignValue(val: Json, sc: Scope, d: number): void {
    if (!val) return;
    const m = val.MultiAssignRef;
    // SET (a, b) = (subquery) repeats the same source under every column; walk it once.
    if (m) {
      if (m.colno === 1) this.ex(m.source, sc, null, false, d);
      return;
    }
    this.ex(val, sc, null, false, d);
  }

  private returning(rc: Json, sc: Scope, schema: string, table: string, alias: Json, d: number): ResultColumn[] {
    const exprs = rc?.exprs as Json[] | undefined;
    if (!exprs) return [];
    const names = ['old', 'new'];
    for (const o of (rc.options ?? []) as Json[]) {
      const n = o.ReturningOption?.name as string | undefined;
      if (n) names.push(n);
    }
    if (!sc.rels.some((r) => r.schema === schema && r.table === table)) {
      sc.rels.push(this.baseRel(schema, table, alias, false));
    }
    for (const n of names) sc.rels.push(this.baseRel(schema, table, { aliasname: n }, false));
    return this.targetList(exprs, sc, d);
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
    };
  }

  private derivedRel(name: string, outs: ResultColumn[], fn = false): Rel {
    return { name, schema: null, table: null, aliased: true, cols: null, renamed: null, outs, fn };
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
        sc.rels.push(this.baseRel(t.schema, t.table, b.alias, true));
        return;
      }
      case 'RangeSubselect': {
        // Only LATERAL subqueries see the FROM items before them; CTEs of this level stay visible.
        const parent: Scope = b.lateral ? sc : { parent: sc.parent, rels: [], ctes: sc.ctes, local: 0 };
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
        if (b.isNatural) this.naturalJoin(sc.rels.slice(first, mid), sc.rels.slice(mid));
        if (b.alias) {
          const outs: ResultColumn[] = [];
          for (const r of sc.rels.slice(first)) this.expandRel(r, outs);
          sc.rels.push(this.derivedRel(b.alias.aliasname as string, rename(outs, strList(b.alias.colnames))));
        }
        return;
      }
      case 'RangeFunction': {
        // Functions in FROM are implicitly LATERAL: their arguments may use earlier FROM items.
        const sink: ColumnRef[] = [];
        let fname = '';
        for (const f of (b.functions ?? []) as Json[]) {
          const items = (f.List?.items ?? []) as Json[];
          if (items[0]) {
            this.ex(items[0], sc, sink, false, d);
            if (!fname) fname = figureName(items[0]);
          }
        }
        const name = (b.alias?.aliasname as string | undefined) ?? fname;
        sc.rels.push(this.derivedRel(name, [{ name: STAR, sources: dedupe(sink), derived: true }], true));
        return;
      }
      case 'RangeTableSample':
        this.fromItem(b.relation, sc, d);
        this.exprs(b.args as Json[] | undefined, sc, d);
        if (b.repeatable) this.ex(b.repeatable, sc, null, false, d);
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

  private naturalJoin(left: Rel[], right: Rel[]): void {
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
    if (!l || !r) return;
    for (const c of l) {
      if (!r.has(c)) continue;
      this.resolveIn(left, c, null, true);
      this.resolveIn(right, c, null, true);
    }
  }

  // ---- target list ---------------------------------------------------------------------------

  private targetList(tl: Json[], sc: Scope, d: number): ResultColumn[] {
    const outs: ResultColumn[] = [];
    for (const t of tl) {
      const rt = t.ResTarget;
      if (!rt) continue;
      const val = rt.val;
      const cr = val?.ColumnRef;
      if (cr) {
        const fields = cr.fields as Json[];
        if (fields[fields.length - 1]?.A_Star) {
          this.starTarget(fields, sc, outs);
          continue;
        }
        const sink: ColumnRef[] = [];
        const plain = this.columnRef(fields, sc, sink, false);
        outs.push({ name: (rt.name as string | undefined) ?? figureName(val), sources: dedupe(sink), derived: !plain });
        continue;
      }
      const sink: ColumnRef[] = [];
      if (val) this.ex(val, sc, sink, false, d);
      outs.push({ name: (rt.name as string | undefined) ?? figureName(val), sources: dedupe(sink), derived: true });
    }
    return outs;
  }

  private starTarget(fields: Json[], sc: Scope, outs: ResultColumn[]): void {
    if (fields.length === 1) {
      for (const r of sc.rels) this.expandRel(r, outs);
      return;
    }
    const rel = this.findRel(strList(fields.slice(0, -1)), sc);
    if (rel) this.expandRel(rel, outs);
  }

  /** `*` / `t.*`: one output per known column, else one '*' output. Records the reads. */
  private expandRel(r: Rel, outs: ResultColumn[]): void {
    if (r.outs) {
      for (const o of r.outs) outs.push(o);
      return;
    }
    const schema = r.schema as string;
    const table = r.table as string;
    if (r.cols) {
      for (let i = 0; i < r.cols.length; i++) {
        const c = r.cols[i] as string;
        this.facts.read(schema, table, c);
        outs.push({ name: r.renamed?.[i] ?? c, sources: [{ schema, table, column: c }], derived: false });
      }
      return;
    }
    this.facts.read(schema, table, STAR);
    outs.push({ name: STAR, sources: [{ schema, table, column: STAR }], derived: false });
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
      if (n === 1) for (const r of sc.rels) this.expandRel(r, tmp);
      else {
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
        const h = this.relHas(r, col);
        if (h === 1) sure = true;
        else if (h === 2) maybe = true;
      }
      if (sure || maybe) {
        s.local++;
        for (const r of s.rels) {
          const h = this.relHas(r, col);
          if (h === 0) continue;
          if (!this.relColumn(r, col, sink, pred)) plain = false;
          // Without a catalog, a bare name may also be a whole-row reference to a FROM item.
          if (h === 2 && r.name === col) {
            this.wholeRow(r, sink, pred);
            plain = false;
          }
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
      for (const r of s.rels) this.relColumn(r, col, sink, pred);
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
          for (const src of o.sources) this.use(src, sink, pred);
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
        if (b.args) for (const a of b.args as Json[]) this.ex(a, sc, sink, pred, d);
        if (b.agg_order) for (const o of b.agg_order as Json[]) this.ex(o, sc, null, true, d);
        if (b.agg_filter) this.ex(b.agg_filter, sc, null, true, d);
        if (b.over) this.ex({ WindowDef: b.over }, sc, null, true, d);
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
          for (const o of outs) for (const src of o.sources) this.use(src, sink, pred);
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
        for (const o of outs) for (const src of o.sources) this.use(src, sink, pred);
        return;
      }
      default:
        this.anyEx(b, sc, sink, pred, d);
    }
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
  return outs.map((o, i) => (i < names.length && o.name !== STAR ? { name: names[i] as string, sources: o.sources, derived: o.derived } : o));
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
    outs.push({ name: a?.name ?? b?.name ?? '?column?', sources: dedupe(src), derived: (a?.derived ?? true) || (b?.derived ?? true) || starred });
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
