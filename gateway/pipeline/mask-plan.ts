// The mask plan of one admitted statement: a function per result column (or null: shown as it is) built
// from the decision's masks and the statement's lineage, plus the ground truth the server reports (a column's
// origin table and attribute). Protocol-free: each door applies it to values in its own encoding (the
// PostgreSQL door to DataRow bytes, the MCP door to text values). The rule is engine/masking/plan.ts.
import type { Decision } from '../../engine/decision/decision.ts';
import { maskFunction, withJsonKeys, type MaskContext, type MaskFn } from '../../engine/masking/methods.ts';
import { planJsonKeys, planMasks } from '../../engine/masking/plan.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { SqlState } from '../../engine/sqlstate.ts';

/** Masks of one result set: `masks[i]` for result column i, by the analysis' lineage. */
export interface MaskPlan {
  masks: (MaskFn | null)[];
  /**
   * Ground truth: the mask of each masked column by its origin as the server names it (`tableOid:attnum`).
   * A result column the analysis traced elsewhere but the server says comes from a masked column is masked.
   */
  byOrigin?: ReadonlyMap<string, MaskFn>;
}

/** Where the server says a result column comes from (PostgreSQL RowDescription: table OID, attribute number; 0 = none). */
export interface ColumnOrigin {
  tableOid: number;
  attnum: number;
}

/**
 * The plan for the rows of `analysis` under `decision`; null when the decision masks nothing.
 * `origins` maps 'schema.table.column' → 'tableOid:attnum' for the upstream (its catalog), when known.
 *
 * @example
 * const plan = maskPlan(verdict.statements[0], verdict.decisions[0], ctx.maskContext, ctx.originsOf('clinic'));
 * plan?.masks[1]?.('123-45-6789') // '***-**-6789' under `partial`
 */
export function maskPlan(
  analysis: StatementAnalysis | undefined,
  decision: Decision | undefined,
  ctx: MaskContext,
  origins: ReadonlyMap<string, string> | undefined,
): MaskPlan | null {
  if (!analysis || !decision || decision.masks.length === 0) return null;
  // Which mask each result column gets is the engine's rule (direct copies keep the method, derivations are
  // redacted, content-free calls such as count() are not masked).
  const columns = analysis.result_columns;
  const masks = planMasks(columns, decision.masks).map((spec, i): MaskFn | null => {
    if (!spec) return null;
    const fn = maskFunction(spec, ctx);
    // A row serialized to JSON: keys stay, each value masked as its own column.
    const keys = planJsonKeys(columns[i]!, decision.masks);
    if (!keys) return fn;
    return withJsonKeys(fn, new Map([...keys].map(([k, ks]) => [k, ks ? maskFunction(ks, ctx) : null])));
  });
  // The server names a column's origin only for a direct copy of it: the column's own method.
  const byOrigin = new Map<string, MaskFn>();
  for (const m of decision.masks) {
    const key = origins?.get(`${m.column.schema}.${m.column.table}.${m.column.column}`);
    if (key) byOrigin.set(key, maskFunction(m, ctx));
  }
  return byOrigin.size ? { masks, byOrigin } : { masks };
}

const NULL_MASK: MaskFn = () => null;

/**
 * The masks for a result set whose columns the server described: the plan's masks, plus the ground truth of
 * each column's origin. When the server sends a different number of columns than the analysis saw, every
 * column is masked (NULL where the plan has nothing): nothing unaccounted for leaves unmasked.
 *
 * @example
 * columnMasks(plan, [{ tableOid: 16384, attnum: 2 }]) // [mask of patients.ssn]
 */
export function columnMasks(plan: MaskPlan, origins: readonly ColumnOrigin[]): (MaskFn | null)[] {
  if (origins.length !== plan.masks.length) return origins.map((_, i) => plan.masks[i] ?? NULL_MASK);
  const masks = plan.masks.slice();
  if (plan.byOrigin) {
    for (let i = 0; i < origins.length; i++) {
      const o = origins[i]!;
      if (o.tableOid === 0 || masks[i]) continue;
      const fn = plan.byOrigin.get(`${o.tableOid}:${o.attnum}`);
      if (fn) masks[i] = fn;
    }
  }
  return masks;
}

/** SQLSTATE classes whose errors depend on the values processed: data exception, integrity, triggers, routines, PL/pgSQL. */
export const DATA_DEPENDENT_CLASSES: ReadonlySet<string> = new Set(['22', '23', '27', '2F', '38', '39', '3B', 'P0']);

/**
 * The SQLSTATE a client may see for an error of a statement that reads masked columns: which data error it
 * was is information about the values too (one SQLSTATE per digit of a CASE), so every data-dependent class
 * is reported as 22000 (data_exception). The error's text is withheld by the door altogether.
 *
 * @example
 * withheldCode('22012') // '22000'
 * withheldCode('42P01') // '42P01'
 */
export function withheldCode(code: string): string {
  return DATA_DEPENDENT_CLASSES.has(code.slice(0, 2)) ? SqlState.DataException : code;
}
