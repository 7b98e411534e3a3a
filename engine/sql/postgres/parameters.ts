// Which table columns each bind parameter ($1, $2, …) of a statement meets: compared with (WHERE ssn = $1,
// IN, LIKE, BETWEEN, ANY), passed beside (f(ssn, $1)), written to (INSERT … VALUES, UPDATE SET). The policy
// marks parameters that meet PHI as sensitive, and the evidence records those keyed-hashed, never raw.
import type { ColumnRef, ParameterUse, StatementAnalysis } from '../types.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The columns each parameter of one statement's parse tree meets, resolved against the statement's analysis.
 * A parameter meets the column names found in the expression it is compared or combined with; a name is
 * resolved to every column of that name the statement reads, writes or filters on, and a name that resolves to
 * none (an alias, a CTE's renamed column) to every column the statement filters on or writes: an over-count
 * only hashes a value that could have been kept readable, an under-count would leave PHI readable.
 *
 * @example
 * parameterUses(tree.stmts[0].stmt, analysis) // [{ position: 1, columns: [{schema:'public', table:'patients', column:'ssn'}] }]
 */
export function parameterUses(node: Json, analysis: StatementAnalysis): ParameterUse[] {
  const meets = new Map<number, Set<string>>();
  const all = new Set<number>();
  const note = (params: Set<number>, names: Set<string>) => {
    for (const p of params) {
      let m = meets.get(p);
      if (!m) meets.set(p, (m = new Set()));
      for (const n of names) m.add(n);
    }
  };
  visit(node, (n, tag) => {
    if (tag === 'ParamRef' && typeof n.number === 'number') all.add(n.number);
    switch (tag) {
      case 'FuncCall':
      case 'CoalesceExpr':
      case 'MinMaxExpr': {
        // f(ssn, $1), coalesce(ssn, $1): the parameter is combined with the column inside the call.
        const args = (n.args ?? []) as Json[];
        const names = new Set<string>();
        const params = new Set<number>();
        for (const a of args) collect(a, names, params);
        note(params, names);
        return;
      }
      case 'InsertStmt': {
        const cols = ((n.cols ?? []) as Json[]).map((c) => c.ResTarget?.name as string);
        for (const row of ((n.selectStmt?.SelectStmt?.valuesLists ?? []) as Json[]).map((l) => (l.List?.items ?? []) as Json[]))
          row.forEach((v, i) => {
            const params = new Set<number>();
            collect(v, new Set(), params);
            note(params, new Set(cols[i] !== undefined ? [cols[i]!] : cols));
          });
        // INSERT … SELECT $1, …: the i-th output column goes to the i-th target.
        for (const [i, t] of ((n.selectStmt?.SelectStmt?.targetList ?? []) as Json[]).entries()) {
          const params = new Set<number>();
          collect(t, new Set(), params);
          note(params, new Set(cols[i] !== undefined ? [cols[i]!] : cols));
        }
        return;
      }
      case 'UpdateStmt':
      case 'OnConflictClause':
        for (const t of (n.targetList ?? []) as Json[]) {
          const params = new Set<number>();
          const names = new Set<string>(typeof t.ResTarget?.name === 'string' ? [t.ResTarget.name] : []);
          collect(t.ResTarget?.val, names, params);
          note(params, names);
        }
        return;
    }
    if (tag !== 'A_Expr') return;
    // ssn = $1, $1 = ssn, ssn IN ($1, $2), name LIKE $1, dob BETWEEN $1 AND $2, $1 = ANY(ids): each side's
    // parameters meet the other side's columns (and their own side's: upper($1) || ssn).
    const names = new Set<string>();
    const params = new Set<number>();
    collect(n.lexpr, names, params);
    collect(n.rexpr, names, params);
    note(params, names);
  });

  const byName = new Map<string, ColumnRef[]>();
  const add = (r: ColumnRef) => {
    const list = byName.get(r.column) ?? [];
    if (!list.some((x) => x.schema === r.schema && x.table === r.table)) list.push(r);
    byName.set(r.column, list);
  };
  for (const p of analysis.predicates_on) add(p);
  for (const t of [...analysis.reads, ...analysis.writes]) for (const c of t.columns) if (c !== '*') add({ schema: t.schema, table: t.table, column: c });
  const fallback = dedupe([...analysis.predicates_on, ...analysis.writes.flatMap((t) => t.columns.filter((c) => c !== '*').map((column) => ({ schema: t.schema, table: t.table, column })))]);

  const out: ParameterUse[] = [];
  for (const position of [...all].sort((a, b) => a - b)) {
    const names = meets.get(position) ?? new Set<string>();
    const cols: ColumnRef[] = [];
    for (const name of names) {
      const found = byName.get(name);
      if (found) cols.push(...found);
      else cols.push(...fallback);
    }
    out.push({ position, columns: dedupe(cols) });
  }
  return out;
}

/** Column names (the last part of each ColumnRef) and parameter numbers anywhere under `n`. */
function collect(n: unknown, names: Set<string>, params: Set<number>): void {
  visit(n, (x, tag) => {
    if (tag === 'ParamRef' && typeof x.number === 'number') params.add(x.number);
    else if (tag === 'ColumnRef') {
      const fields = (x.fields ?? []) as Json[];
      const last = fields.at(-1);
      if (last?.String?.sval) names.add(last.String.sval as string);
    }
  });
}

/** Calls `fn(node, tag)` for every tagged node ({Tag: {...}}) under `n`, depth first. */
function visit(n: unknown, fn: (node: Json, tag: string) => void, depth = 0): void {
  if (depth > 1000 || n === null || typeof n !== 'object') return;
  if (Array.isArray(n)) {
    for (const x of n) visit(x, fn, depth + 1);
    return;
  }
  for (const [k, v] of Object.entries(n as Json)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && /^[A-Z]/.test(k)) fn(v as Json, k);
    visit(v, fn, depth + 1);
  }
}

function dedupe(cols: ColumnRef[]): ColumnRef[] {
  const seen = new Set<string>();
  return cols.filter((c) => {
    const k = `${c.schema}\u0000${c.table}\u0000${c.column}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
