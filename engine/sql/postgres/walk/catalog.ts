// Lineage through the upstream's catalog: view definitions and SQL / plpgsql function bodies, parsed once
// per catalog object and followed to a bounded depth.
import { messageOf } from '../../../errors.ts';
import { absorb, dedupe } from '../../facts.ts';
import type { Catalog, CatalogFunction, ColumnRef, ResultColumn, StatementAnalysis } from '../../types.ts';
import { MAX_EXPANSION, viewLineage, type ViewBody } from '../../views.ts';
import { flattenBody, tagOf, type Json } from '../names.ts';
import { catalogCols, STAR, type BodyFacts, type FnLineage, type Walk, type WalkOptions } from './scope.ts';

type Parsed = { text: string; stmts: Json[] | null; error: string | null };

/** Parse trees of catalog views / function bodies, per catalog object: parsing is the costly part. */
const parseCache = new WeakMap<Catalog, Map<string, Parsed>>();

/** plpgsql bodies' analyses, per catalog object. */
const bodyCache = new WeakMap<Catalog, Map<string, { text: string; a: BodyFacts }>>();

/** Parsed statements of catalog SQL text, cached per catalog object (and re-parsed if the text changed). */
function parsed(w: Walk, key: string, text: string): Parsed {
  const cat = w.o.catalog as Catalog;
  let m = parseCache.get(cat);
  if (!m) parseCache.set(cat, (m = new Map()));
  const hit = m.get(key);
  if (hit && hit.text === text) return hit;
  let p: Parsed;
  const parse = w.o.parse;
  if (!parse) p = { text, stmts: null, error: 'no parser' };
  else {
    try {
      p = { text, stmts: ((parse(text).stmts ?? []) as Json[]).map((x) => x.stmt), error: null };
    } catch (e) {
      // A WASM trap must reach analyzeText, which swaps the parser instance.
      if ((e as { code?: string }).code === 'SQL_PARSER_TRAP') throw e;
      p = { text, stmts: null, error: messageOf(e) };
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

/** Output lineage of a catalog view (its definition walked in a scope of its own), memoized per statement. */
export function viewOuts(w: Walk, schema: string, table: string, d: number): ResultColumn[] | null {
  const key = schema + '.' + table;
  const def = w.o.catalog?.views?.[key];
  if (def === undefined) return null;
  const read = (): ViewBody<Json> => {
    const p = parsed(w, 'v:' + key, def);
    const stmt = p.stmts?.length === 1 ? p.stmts[0] : null;
    return stmt && tagOf(stmt) === 'SelectStmt' ? { query: stmt } : { error: p.error || null };
  };
  return viewLineage(w, key, 'v:' + key, read, (q) => w.query(q, null, d), catalogCols(w, schema, table));
}

/** A function's catalog entry: qualified as written, else pg_catalog then the search path. */
export function lookupFunction(w: Walk, names: string[]): { key: string; fn: CatalogFunction } | null {
  const fns = w.o.catalog?.functions;
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
  for (const s of w.o.searchPath) {
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
export function funcLineage(w: Walk, key: string, fn: CatalogFunction, d: number): FnLineage {
  const memo = w.fnMemo.get(key);
  if (memo) return memo;
  const ek = 'f:' + key;
  // A recursive call adds nothing the outer walk of the same body does not already collect.
  if (w.expanding.has(ek)) return { sources: [], shape: null };
  const out: FnLineage = { sources: [], shape: null };
  if (w.expanding.size >= MAX_EXPANSION) {
    w.facts.unresolve(`opaque_function: ${key}() is nested too deeply in views/functions to follow`, w.col);
    return out;
  }
  const lang = fn.language.toLowerCase();
  w.expanding.add(ek);
  const saved = w.col;
  try {
    if (lang === 'sql') {
      const p = parsed(w, ek, fn.body);
      if (!p.stmts) w.facts.unresolve(`opaque_function: the body of ${key}() cannot be analyzed${p.error ? ` (${p.error})` : ''}`, saved);
      else {
        const src: ColumnRef[] = [];
        for (const st of p.stmts) {
          const ret = st.ReturnStmt;
          // RETURN expr (SQL-standard body) is the value of SELECT expr.
          const q = ret ? { SelectStmt: { targetList: [{ ResTarget: { val: ret.returnval } }], op: 'SETOP_NONE' } } : st;
          const outs = w.query(q, null, d);
          for (const o of outs) src.push(...o.sources);
          // The last statement's output is the function's.
          out.shape = outs.length && !outs.some((o) => o.name === STAR) ? outs.map((o) => o.name) : null;
        }
        out.sources = dedupe(src);
      }
    } else if (lang === 'plpgsql' && w.o.analyzeBody) {
      const a = plBody(w, ek, lang, fn.body, d, !!fn.returns_set);
      // Control flow can return anything the body touched: every column it reads counts.
      const src: ColumnRef[] = [];
      const visit = (list: StatementAnalysis[]): void => {
        for (const s of list) {
          for (const r of s.reads) {
            if (r.columns.length === 0) src.push({ schema: r.schema, table: r.table, column: STAR });
            for (const c of r.columns) src.push({ schema: r.schema, table: r.table, column: c });
          }
          for (const rc of s.result_columns) src.push(...rc.sources);
          absorb(w.facts, s, () => saved);
          visit(s.nested);
        }
      };
      visit(a.nested);
      if (a.opaque) {
        w.facts.opaque = true;
        w.facts.unresolve(`dynamic_sql: ${key}() runs SQL that cannot be known before it runs (EXECUTE, or a body that does not parse)`, saved);
      }
      out.sources = dedupe(src);
    } else {
      w.facts.unresolve(`opaque_function: ${key}() is LANGUAGE ${lang}; what it reads cannot be analyzed`, saved);
    }
  } finally {
    w.expanding.delete(ek);
    w.col = saved;
  }
  w.fnMemo.set(key, out);
  return out;
}

/** A procedural body analyzed as CREATE FUNCTION would be, cached per catalog object. */
function plBody(w: Walk, key: string, lang: string, body: string, d: number, returnsSet: boolean): BodyFacts {
  const cat = w.o.catalog as Catalog;
  let m = bodyCache.get(cat);
  if (!m) bodyCache.set(cat, (m = new Map()));
  const hit = m.get(key);
  if (hit && hit.text === body) return hit.a;
  const a = (w.o.analyzeBody as NonNullable<WalkOptions['analyzeBody']>)(lang, body, w.o, d + 1, returnsSet);
  m.set(key, { text: body, a });
  return a;
}
