// One client session of the Snowflake door: Verdict's own session and master tokens (random, never Snowflake's),
// the pipeline session that judges its statements, the upstream Snowflake session that runs them under the
// role of the client's group, and its statements (each by query id and by the driver's request id, so results
// can be polled and statements aborted).
import { randomBytes, randomUUID } from 'node:crypto';
import type { Verdict } from '../../engine/engine.ts';
import type { Decision } from '../../engine/decision/decision.ts';
import type { MaskFn } from '../../engine/masking/methods.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { SqlState } from '../../engine/sqlstate.ts';
import type { GatewayContext } from '../context.ts';
import type { VerifiedIdentity } from '../identity/validator.ts';
import { columnMasks, maskPlan, withheldCode } from '../pipeline/mask-plan.ts';
import { countedFrom, type HoldHooks } from '../pipeline/admission.ts';
import type { PipelineSession } from '../pipeline/session.ts';
import { settingsRefusal } from '../pipeline/settings.ts';
import type { SnowflakeBind, SnowflakeColumn, SnowflakeResult, SnowflakeSession } from '../upstream/snowflake/connection.ts';
import { SnowflakeUpstreamError } from '../upstream/snowflake/errors.ts';
import { catalogGaps, gapMessage, relationsChanged, relationsRead, type CatalogAccess } from './catalog.ts';
import { SfCode, SfDoorError, sfError } from './errors.ts';
import { maskedValue, rowTypeOf, statementTypeOf, wireValue, type RowType } from './wire.ts';

/** What a finished statement gives the driver. */
export interface StatementOutcome {
  rowtype: RowType[];
  rows: (string | null)[][];
  statementTypeId: number;
}

/** A statement of a session: running, or finished with its outcome or error. */
export interface QueryRecord {
  readonly queryId: string;
  readonly requestId: string | null;
  readonly sqlText: string;
  readonly asyncExec: boolean;
  readonly startTime: number;
  endTime: number | null;
  status: 'RUNNING' | 'SUCCESS' | 'FAILED_WITH_ERROR' | 'ABORTED';
  outcome: StatementOutcome | null;
  error: SfDoorError | null;
  readonly abort: AbortController;
  readonly done: Promise<void>;
  /** The payload once built (chunks are registered once). */
  payload?: Record<string, unknown>;
  /** Set while the statement waits for its approval (hold): what the status and in-progress answers show. */
  held: HeldInfo | null;
}

/** A statement held for approval: the request and where to approve it. */
export interface HeldInfo {
  requestId: string;
  link: string;
  approvers: string[];
  waitSeconds: number;
}

/**
 * The monitoring `errorMessage` of a held statement (drivers show it with the RUNNING status).
 *
 * @example
 * heldMessage({ requestId: 'req-1', link: 'https://…/pull/7', approvers: [], waitSeconds: 60 })
 */
export function heldMessage(h: HeldInfo): string {
  return `Verdict: waiting for approval request ${h.requestId}; approve it at ${h.link} (waits up to ${h.waitSeconds} s)`;
}

let nextSessionId = Date.now() % 1_000_000_000;

/** An opaque token: 256 random bits. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export class DoorSession {
  /** gosnowflake wants a number; snowflake-sdk takes it as text when it declares SESSION_ID_AS_STRING. */
  readonly id = ++nextSessionId;
  sessionToken = newToken();
  readonly masterToken = newToken();
  sessionExpiresAt: number;
  readonly masterExpiresAt: number;
  closed = false;
  lastSeen = Date.now();
  readonly queries = new Map<string, QueryRecord>();
  readonly #byRequest = new Map<string, QueryRecord>();

  constructor(
    readonly identity: VerifiedIdentity,
    readonly pipeline: PipelineSession,
    readonly upstream: SnowflakeSession,
    readonly info: { upstreamName: string; database: string; schema: string; warehouse: string | null; role: string | null; idAsString: boolean },
    ttl: { session: number; master: number },
  ) {
    this.sessionExpiresAt = Date.now() + ttl.session * 1000;
    this.masterExpiresAt = Date.now() + ttl.master * 1000;
  }

  get busy(): boolean {
    for (const q of this.queries.values()) if (q.status === 'RUNNING') return true;
    return false;
  }

  byRequest(requestId: string): QueryRecord | undefined {
    return this.#byRequest.get(requestId);
  }

  /** Starts a statement; `run` gets the abort signal. Finished statements beyond the newest 100 are forgotten. */
  start(sqlText: string, requestId: string | null, asyncExec: boolean, run: (signal: AbortSignal, record: QueryRecord) => Promise<StatementOutcome>): QueryRecord {
    const abort = new AbortController();
    const record = { queryId: randomUUID(), requestId, sqlText, asyncExec, startTime: Date.now(), endTime: null, status: 'RUNNING', outcome: null, error: null, abort, held: null } as Omit<QueryRecord, 'done'> & { done?: Promise<void> };
    (record as { done: Promise<void> }).done = run(abort.signal, record as QueryRecord).then(
      (o) => {
        record.outcome = o;
        record.status = 'SUCCESS';
      },
      (err: unknown) => {
        record.error = err instanceof SfDoorError ? err : sfError.unavailable('Verdict could not run the statement');
        record.status = record.error.code === SfCode.QUERY_CANCELED ? 'ABORTED' : 'FAILED_WITH_ERROR';
      },
    ).finally(() => {
      record.endTime = Date.now();
    });
    const q = record as QueryRecord;
    this.queries.set(q.queryId, q);
    if (requestId) this.#byRequest.set(requestId, q);
    if (this.queries.size > 100) {
      for (const old of this.queries.values()) {
        if (this.queries.size <= 100) break;
        if (old.status === 'RUNNING') continue;
        this.queries.delete(old.queryId);
        if (old.requestId) this.#byRequest.delete(old.requestId);
      }
    }
    return q;
  }

  /** Ends the session: running statements are aborted, the upstream session logged out, evidence closed. */
  async close(reason: string): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const q of this.queries.values()) q.abort.abort();
    this.pipeline.end(reason);
    await this.upstream.close().catch(() => undefined);
  }
}

/** What running a statement needs from the door. */
export interface RunContext {
  ctx: GatewayContext;
  upstream: string;
  maxRows: number;
  catalog: CatalogAccess;
}

function strictest(v: Verdict, action: Decision['action']): Decision {
  return v.decisions.find((d) => d.action === action) ?? v.decisions[0]!;
}

/**
 * Decides and runs one statement of a session: deny → 003001/42501 with the rule and decision id; approve →
 * rerun mode (an error naming the request and its link; once approved, the identical statement runs once);
 * allow/mask → runs upstream with its binds, masks each column by the analysis, encodes Snowflake's JSON.
 */
export async function runStatement(
  rc: RunContext,
  s: DoorSession,
  sql: string,
  binds: SnowflakeBind[],
  bindText: (string | null)[],
  describeOnly: boolean,
  signal: AbortSignal,
  onHold: (held: HeldInfo | null) => void = () => undefined,
): Promise<StatementOutcome> {
  const p = s.pipeline;
  const started = Date.now();
  let verdict = p.decide(sql);
  const refuse = (v: Verdict, err: SfDoorError): never => {
    p.recordDecisions(v)?.catch(() => undefined);
    p.recordResult(v, started, [], null, true);
    rc.ctx.log.info('snowflake statement refused', { user: s.identity.username, code: err.code, decision_id: err.extra.decisionId });
    throw err;
  };
  const denied = (v: Verdict): never => {
    const d = strictest(v, 'deny');
    const r = d.reasons[0];
    return refuse(v, sfError.denied(`Verdict denied this statement: ${r?.message ?? 'the policy denied it'} (rule ${r?.rule ?? 'none'}, decision ${d.decision_id})`, { decisionId: d.decision_id, rule: r?.rule ?? null }));
  };
  if (verdict.statements.length > 1) return refuse(verdict, sfError.statementCount(verdict.statements.length));
  if (verdict.action === 'deny') return denied(verdict);
  // An object the catalog does not know may be a view over PHI made behind Verdict's back: re-read the catalog
  // (a load begun after this statement arrived) and decide again; still unknown, or unreadable, is refused.
  const uncataloged = (message: string, fields: Record<string, unknown> = {}): never => {
    const decisionId = p.recordRefusal(sql, 'snowflake.uncataloged_relation', message);
    rc.ctx.log.info('snowflake statement refused', { user: s.identity.username, code: SfCode.INSUFFICIENT_PRIVILEGES, decision_id: decisionId, ...fields });
    throw sfError.denied(`Verdict denied this statement: ${message} (rule snowflake.uncataloged_relation, decision ${decisionId})`, { decisionId, rule: 'snowflake.uncataloged_relation' });
  };
  const decideAfterRefresh = async (since: number, why: string | null): Promise<void> => {
    const refreshed = await rc.catalog.refresh(since);
    // Known to have changed, and not re-read: the loaded catalog would judge it as the old object.
    if (!refreshed && why) uncataloged(`${why}, and Verdict could not re-read the upstream's catalog; try again shortly`);
    verdict = p.decide(sql);
    if (verdict.action === 'deny') denied(verdict);
    const gap = catalogGaps(verdict.statements, rc.catalog.current())[0];
    if (gap) uncataloged(gapMessage(gap), { relation: gap.relation, reason: gap.reason });
  };
  if (catalogGaps(verdict.statements, rc.catalog.current()).length > 0) await decideAfterRefresh(started, null);
  // A plain read of objects the catalog knows runs at once, beside the check below and the durable record of its
  // decision; its answer is used only if both pass and the decision stands (else it is dropped unseen, and the
  // statement decided again runs anew). Reads only: nothing of it can change the upstream (onlyReads).
  const ahead = onlyReads(verdict) ? readAhead(p, s, verdict, sql, binds, bindText, started, describeOnly, signal) : null;
  try {
    // The statement is judged by the catalog as loaded: a view replaced since (one over ID made one over SSN), or a
    // table dropped for a view of its name, would be judged as the old object. One INFORMATION_SCHEMA read, now,
    // says whether each object read still is what the catalog holds; if not, the catalog is re-read first.
    const cat = rc.catalog.current();
    const relations = cat ? relationsRead(verdict.statements, cat) : [];
    if (relations.length > 0) {
      const changed = await relationsChanged(s.upstream, cat!, relations).catch((err: Error) =>
        uncataloged(`Verdict could not confirm that the tables and views this statement reads are still those it classified (${err.message}); try again shortly`),
      );
      if (changed) await decideAfterRefresh(Date.now(), 'a table or view this statement reads changed since Verdict read the catalog');
    }
  } catch (err) {
    ahead?.drop();
    throw err;
  }
  if (ahead && ahead.verdict !== verdict) ahead.drop();
  if (ahead && ahead.verdict === verdict) {
    if (!(await ahead.durable)) throw sfError.unavailable('Verdict cannot record evidence right now, so nothing runs; try again shortly');
    const outcome = await ahead.outcome;
    return finish(rc, p, verdict, started, ahead.execution, signal, outcome);
  }
  /** The catalog this statement is decided on. */
  const decidedOn = rc.catalog.current();
  // Statements that would move the session to other names or rights than those decided on (USE SCHEMA, …).
  const moved = settingsRefusal(verdict.statements[0]!);
  if (moved) return refuse(verdict, sfError.denied(moved, { decisionId: verdict.decisions[0]!.decision_id, rule: 'snowflake.session_setting' }));

  if (verdict.decisions.some((d) => d.measure.length > 0)) {
    const first = verdict;
    const measured = await p.measure(sql, first, async (m) => {
      // Array binds run the write once per row: one count cannot stand for all of them.
      if (binds.some(Array.isArray)) return { unmeasurable: 'it runs once per row of its array binds, which one count cannot show' };
      try {
        const r = await s.upstream.execute(m.sql, m.params.map((i) => binds[i - 1] ?? null), { signal });
        return countedFrom(r.rows[0]);
      } catch (err) {
        return { unmeasurable: `the measuring count failed: ${(err as Error).message}` };
      }
    });
    verdict = measured!;
    if (verdict.action === 'deny') return denied(verdict);
  }
  let approval: { request_id: string; approved_by: string[] } | null = null;
  if (verdict.action === 'approve') {
    // Hold (the decision's mode): the statement answers as a running query whose status names the request; an
    // abort-request withdraws the request. Rerun (rerun_for groups and applications): an error naming it at once.
    const hooks: HoldHooks = {
      waiting: (info) => {
        onHold({ requestId: info.requestId, link: info.link, approvers: info.approvers, waitSeconds: info.waitSeconds });
        // An abort that arrived while the request was filed: the pipeline starts waiting right after this returns.
        setImmediate(() => signal.aborted && p.withdraw());
      },
      done: () => onHold(null),
    };
    const withdraw = () => p.withdraw();
    signal.addEventListener('abort', withdraw, { once: true });
    let admission;
    try {
      admission = await p.admit(sql, bindText, verdict, hooks);
    } finally {
      signal.removeEventListener('abort', withdraw);
    }
    if (admission.kind === 'refuse') {
      const d = strictest(verdict, 'approve');
      if (admission.canceled) throw sfError.canceled(admission.message, { decisionId: d.decision_id });
      throw sfError.denied(admission.message, {
        decisionId: d.decision_id,
        rule: d.reasons[0]?.rule ?? null,
        ...(admission.request ? { approvalRequestId: admission.request.id, approvalLink: admission.request.link } : {}),
      });
    }
    verdict = admission.verdict;
    approval = admission.approval;
    // It may have waited for minutes: what it reads must still be what was decided on and approved.
    if (decidedOn) {
      const read = relationsRead(verdict.statements, decidedOn);
      if (await relationsChanged(s.upstream, decidedOn, read).catch(() => true)) {
        uncataloged('the tables or views this statement reads changed (or could not be checked) while it waited for approval; send it again to have it decided anew');
      }
    }
  }
  if (!(await p.recordBeforeRun(verdict, approval, started))) {
    throw sfError.unavailable('Verdict cannot record evidence right now, so nothing runs; try again shortly');
  }
  p.breakGlass(verdict);
  // The binds are evidence of this execution: raw, or hashed where the decision marks them sensitive.
  const execution = binds.length > 0 ? p.recordParameters(verdict, 0, bindText) : undefined;
  const outcome = await s.upstream.execute(sql, binds, { signal, ...(describeOnly ? { describeOnly: true } : {}) }).then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  return finish(rc, p, verdict, started, execution, signal, outcome);
}

/** How an execution went: its result, or what it threw. */
type Outcome = { result: SnowflakeResult } | { error: unknown };

/** A read started before its checks ended (runStatement): its decision's durable record, and its outcome. */
interface ReadAhead {
  verdict: Verdict;
  execution: string | undefined;
  durable: Promise<boolean>;
  outcome: Promise<Outcome>;
  /** Not to be used: the decision it ran on did not stand (its record says it did not run). */
  drop(): void;
}

function readAhead(p: PipelineSession, s: DoorSession, verdict: Verdict, sql: string, binds: SnowflakeBind[], bindText: (string | null)[], started: number, describeOnly: boolean, signal: AbortSignal): ReadAhead {
  const durable = p.recordBeforeRun(verdict, null, started);
  const execution = binds.length > 0 ? p.recordParameters(verdict, 0, bindText) : undefined;
  const outcome = s.upstream.execute(sql, binds, { signal, ...(describeOnly ? { describeOnly: true } : {}) }).then(
    (result): Outcome => ({ result }),
    (error: unknown): Outcome => ({ error }),
  );
  return {
    verdict,
    execution,
    durable,
    outcome,
    drop: () => void durable.then((ok) => ok && p.recordResult(verdict, started, [], null, false, execution)),
  };
}

/** Whether a statement only reads: a plain SELECT of known objects calling none but side-effect-free builtins. */
function onlyReads(v: Verdict): boolean {
  if ((v.action !== 'allow' && v.action !== 'mask') || v.statements.length !== 1) return false;
  if (v.decisions.some((d) => d.measure.length > 0)) return false;
  const reads = (a: StatementAnalysis): boolean =>
    a.kind === 'select' &&
    a.command === 'SELECT' &&
    !a.opaque &&
    a.parse_error === null &&
    a.writes.length === 0 &&
    !a.data_modifying_cte &&
    !a.creates_table_from_query &&
    a.copy === null &&
    a.functions.every((f) => READ_ONLY_FUNCTIONS.has(f)) &&
    a.nested.every(reads);
  return reads(v.statements[0]!);
}

/** Snowflake builtins that read only (no sequences, no SYSTEM$ calls, no table functions over other queries). */
const READ_ONLY_FUNCTIONS: ReadonlySet<string> = new Set([
  'abs', 'avg', 'coalesce', 'concat', 'count', 'current_date', 'current_timestamp', 'date_trunc', 'dateadd', 'datediff',
  'iff', 'ifnull', 'left', 'length', 'lower', 'lpad', 'max', 'min', 'nullif', 'nvl', 'replace', 'right', 'round', 'rpad',
  'split_part', 'substr', 'substring', 'sum', 'to_char', 'to_date', 'to_number', 'to_varchar', 'trim', 'upper',
]);

/** Records and encodes an execution's outcome (runStatement). */
function finish(rc: RunContext, p: PipelineSession, verdict: Verdict, started: number, execution: string | undefined, signal: AbortSignal, outcome: Outcome): StatementOutcome {
  const analysis = verdict.statements[0]!;
  const decision = verdict.decisions[0]!;
  const masked = decision.masks.length > 0;
  let r: SnowflakeResult;
  if ('result' in outcome) r = outcome.result;
  else {
    const err = outcome.error;
    if (signal.aborted) {
      p.recordResult(verdict, started, [], SqlState.QueryCanceled, false, execution);
      throw sfError.canceled();
    }
    if (!(err instanceof SnowflakeUpstreamError)) throw err;
    const state = err.sqlstate ?? SqlState.InternalError;
    p.recordResult(verdict, started, [], state, false, execution);
    // The text of an error over masked columns could carry their values: only its code goes out.
    if (masked) throw new SfDoorError(err.code ?? SfCode.EXECUTION_ERROR, `Snowflake reported an error (SQLSTATE ${withheldCode(state)}) whose text Verdict withholds: this statement reads columns masked for you`, withheldCode(state));
    throw new SfDoorError(err.code ?? SfCode.EXECUTION_ERROR, err.message, state);
  }
  if (analysis.kind === 'ddl' || analysis.nested.some((x) => x.kind === 'ddl')) rc.ctx.catalogChanged(rc.upstream);
  const rows = r.rows.length > rc.maxRows ? r.rows.slice(0, rc.maxRows) : r.rows;
  const out = encodeMasked(rc, analysis, decision, r.columns, rows);
  // What the driver is sent: its digest, and the rows themselves where the policy asks (encrypted to auditors).
  const sent = p.responseDigest(verdict, 0, r.columns.map((c) => c.name), out);
  const count = r.rowsAffected ?? out.length;
  p.recordResult(verdict, started, [`${analysis.command || 'SELECT'} ${count}`], null, false, execution, [sent]);
  return { rowtype: r.columns.map(rowTypeOf), rows: out, statementTypeId: statementTypeOf(analysis.kind) };
}

const NULL_MASK: MaskFn = Object.assign(() => null, { method: 'null' as const });

/**
 * The rows masked by the decision and encoded for the wire. Snowflake names no column origins, so the analysis'
 * result columns are the ground truth, matched by position and NAME: when the upstream's columns differ in
 * number, or a plain column's name differs, every column is masked (its mask, else NULL) — fail closed.
 */
export function encodeMasked(rc: RunContext, a: StatementAnalysis, d: Decision, columns: SnowflakeColumn[], rows: (string | null)[][]): (string | null)[][] {
  const plan = maskPlan(a, d, rc.ctx.maskContext, undefined);
  let masks: (MaskFn | null)[] = columns.map(() => null);
  if (plan) {
    const expected = a.result_columns;
    const sameShape = expected.length === columns.length && expected.every((c, i) => c.derived || c.name.toUpperCase() === columns[i]!.name.toUpperCase());
    masks = sameShape ? columnMasks(plan, columns.map(() => ({ tableOid: 0, attnum: 0 }))) : columns.map((_, i) => plan.masks[i] ?? NULL_MASK);
  }
  const types = columns.map((c) => c.type);
  return rows.map((row) =>
    row.map((v, i) => {
      const m = masks[i];
      return wireValue(types[i]!, v === null || !m ? v : maskedValue(m, types[i]!, v));
    }),
  );
}

