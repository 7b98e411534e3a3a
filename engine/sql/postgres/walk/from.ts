// FROM items: tables, catalog views, CTE references, subqueries, joins (USING / NATURAL), functions in
// FROM and TABLESAMPLE, each becoming a relation that column references resolve in.
import { itemColumns, naturalColumns } from '../../columns.ts';
import { dedupe } from '../../facts.ts';
import { rename } from '../../lineage.ts';
import type { ColumnRef, ResultColumn } from '../../types.ts';
import { figureName, strList, tagOf, type Json } from '../names.ts';
import { builtinName, PURE_FUNCTIONS, SRF_COLUMNS } from '../functions.ts';
import { viewOuts } from './catalog.ts';
import { expandList, resolveIn } from './columns.ts';
import { anyEx, ex, predicates } from './expressions.ts';
import { catalogCols, check, lookupCte, rangeVarName, STAR, type Rel, type Scope, type Walk } from './scope.ts';

export function baseRel(w: Walk, schema: string, table: string, alias: Json, touch: boolean): Rel {
  if (touch) w.facts.read(schema, table, null);
  return {
    name: (alias?.aliasname as string | undefined) ?? table,
    schema,
    table,
    aliased: !!alias,
    cols: catalogCols(w, schema, table),
    renamed: alias?.colnames ? strList(alias.colnames) : null,
    outs: null,
    fn: false,
    hidden: false,
    assigned: null,
    view: false,
  };
}

function derivedRel(name: string, outs: ResultColumn[], fn = false): Rel {
  return { name, schema: null, table: null, aliased: true, cols: null, renamed: null, outs, fn, hidden: false, assigned: null, view: false };
}

/** A FROM reference to a catalog view, analyzed through its definition; null if not a known view. */
export function viewRel(w: Walk, schema: string, table: string, alias: Json, d: number): Rel | null {
  const outs = viewOuts(w, schema, table, d);
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

export function fromItem(w: Walk, node: Json, sc: Scope, d: number): void {
  d = check(w, d);
  const tag = tagOf(node);
  const b = node[tag];
  switch (tag) {
    case 'RangeVar': {
      const name = b.relname as string;
      if (!b.schemaname) {
        const cte = lookupCte(sc, name);
        if (cte) {
          sc.rels.push(derivedRel((b.alias?.aliasname as string | undefined) ?? name, rename(cte, strList(b.alias?.colnames))));
          return;
        }
      }
      const t = rangeVarName(w, b);
      const view = viewRel(w, t.schema, t.table, b.alias, d);
      if (view) {
        w.facts.read(t.schema, t.table, null);
        sc.rels.push(view);
        return;
      }
      sc.rels.push(baseRel(w, t.schema, t.table, b.alias, true));
      return;
    }
    case 'RangeSubselect': {
      // Only LATERAL subqueries see the FROM items before them; CTEs of this level stay visible.
      const parent: Scope = b.lateral ? sc : { parent: sc.parent, rels: [], ctes: sc.ctes, local: 0, groups: sc.groups };
      const outs = w.query(b.subquery, parent, d);
      sc.rels.push(derivedRel((b.alias?.aliasname as string | undefined) ?? '', rename(outs, strList(b.alias?.colnames))));
      return;
    }
    case 'JoinExpr': {
      const first = sc.rels.length;
      fromItem(w, b.larg, sc, d);
      const mid = sc.rels.length;
      fromItem(w, b.rarg, sc, d);
      if (b.quals) ex(w, b.quals, sc, null, true, d);
      if (b.usingClause) {
        for (const u of strList(b.usingClause)) {
          resolveIn(w, sc.rels.slice(first, mid), u, null, true);
          resolveIn(w, sc.rels.slice(mid), u, null, true);
        }
      }
      let using: string[] | null = b.usingClause ? strList(b.usingClause) : null;
      if (b.isNatural) using = naturalJoin(w, sc.rels.slice(first, mid), sc.rels.slice(mid));
      if (b.usingClause || b.isNatural) {
        (sc.groups ??= []).push({ rels: sc.rels.slice(first), mid: mid - first, using, full: b.jointype === 'JOIN_FULL' });
      }
      if (b.alias) {
        // An aliased join hides its members: its own columns (USING columns once) stand for them.
        const members = sc.rels.slice(first);
        const outs: ResultColumn[] = [];
        expandList(w, members, sc, outs);
        for (const r of members) r.hidden = true;
        sc.rels.push(derivedRel(b.alias.aliasname as string, rename(outs, strList(b.alias.colnames))));
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
      const reported = w.facts.unresolved.size;
      for (const f of fns) {
        const items = (f.List?.items ?? []) as Json[];
        const call = items[0];
        if (!call) continue;
        if (!fname) fname = figureName(call);
        const fc = call.FuncCall;
        const saved = w.fromCall;
        w.fromCall = fc ?? null;
        w.lastShape = null;
        try {
          ex(w, call, sc, sink, false, d);
        } finally {
          w.fromCall = saved;
        }
        // A column definition list (per function in ROWS FROM, else for the whole item) names the outputs.
        const defs = (items[1]?.List?.items ?? (fns.length === 1 ? b.coldeflist : null)) as Json[] | null | undefined;
        let names: string[] | null = defs?.length ? defs.map((c: Json) => c.ColumnDef?.colname as string) : w.lastShape;
        // A function returning one value names its column after itself (or the alias).
        if (names?.length === 1 && !defs?.length) names = [fns.length === 1 ? (alias ?? figureName(call)) : figureName(call)];
        if (!names && fc) names = srfShape(fc, fns.length === 1 ? (alias ?? figureName(call)) : figureName(call));
        if (!names && !fc) names = [fns.length === 1 ? (alias ?? fname) : fname];
        if (names && shape) shape.push(...names);
        else shape = null;
        w.lastShape = null;
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
        sc.rels.push(derivedRel(name, outs));
      } else {
        // Lineage is known, but not how many columns `*` yields: positions after it are unreliable.
        if (w.facts.unresolved.size === reported) {
          w.facts.unresolve(`unknown_shape: ${fname}() in FROM returns a record whose columns are unknown`, undefined);
        }
        sc.rels.push(derivedRel(name, [{ name: STAR, sources: src, derived: true }], true));
      }
      return;
    }
    case 'RangeTableSample':
      fromItem(w, b.relation, sc, d);
      predicates(w, b.args as Json[] | undefined, sc, d);
      if (b.repeatable) ex(w, b.repeatable, sc, null, true, d);
      return;
    default: {
      // XMLTABLE, JSON_TABLE and anything newer: every column may derive from any input.
      const sink: ColumnRef[] = [];
      anyEx(w, b, sc, sink, false, d);
      const name = (b?.alias?.aliasname as string | undefined) ?? '';
      sc.rels.push(derivedRel(name, [{ name: STAR, sources: dedupe(sink), derived: true }], true));
    }
  }
}

/** NATURAL JOIN: its common columns (null when unknown) are compared on both sides. */
function naturalJoin(w: Walk, left: Rel[], right: Rel[]): string[] | null {
  const common = naturalColumns(left, right, (r) => r.renamed ?? itemColumns(r));
  for (const c of common ?? []) {
    resolveIn(w, left, c, null, true);
    resolveIn(w, right, c, null, true);
  }
  return common;
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
