// What the MCP tools do with a statement: decide it in the pipeline, refuse it with a tool error, or run it
// upstream (one fresh upstream session per tool call) and return its rows masked by the decision's plan.
// Every call is a pipeline session of its own: session start/end, each decision and result are evidence.
import type { Verdict } from '../../engine/engine.ts';
import type { Decision } from '../../engine/decision/decision.ts';
import { maskedText } from '../../engine/masking/types.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { SqlState } from '../../engine/sqlstate.ts';
import type { McpConfig } from '../config/schema.ts';
import type { GatewayContext } from '../context.ts';
import { roleFor } from '../identity/roles.ts';
import type { VerifiedIdentity } from '../identity/validator.ts';
import { columnMasks, maskPlan, withheldCode } from '../pipeline/mask-plan.ts';
import { countedFrom } from '../pipeline/admission.ts';
import { PipelineSession } from '../pipeline/session.ts';
import type { DeliveredDigest } from '../pipeline/evidence-record.ts';
import { reportedSettingProblem, settingsRefusal } from '../pipeline/settings.ts';
import { StatementError } from '../upstream/postgres/errors.ts';
import { UpstreamSession, type StatementResult } from '../upstream/postgres/statement.ts';
import { ToolRefusal, toolError, type RefusalDetails } from './errors.ts';
import { typeName } from './types.ts';
import { normalizePurpose, purposeFromClaims } from '../pipeline/purpose.ts';

/** Who calls a tool: the verified token's identity and what the client declared. */
export interface Caller {
  identity: VerifiedIdentity;
  /** MCP clientInfo (initialize, or the request envelope); null when the client declared none. */
  client: { name: string; version: string | null } | null;
  clientAddr: string | null;
  tls: boolean;
  /** The purpose of use the tool call declared (its `purpose` argument). */
  purpose?: string | null;
}

/** One result column: its name, its type, and whether its values were masked for this caller. */
export interface ColumnOut {
  name: string;
  type: string;
  masked: boolean;
}

/** What one statement returned (rows as PostgreSQL's text form; null is SQL NULL). */
export interface StatementOut {
  statement: string;
  /** The command tag ('SELECT 3', 'DELETE 2'). */
  command: string;
  columns: ColumnOut[];
  rows: (string | null)[][];
  row_count: number;
  /** More rows (or bytes) existed than the door's limits let through. */
  truncated: boolean;
}

export interface QueryOut {
  results: StatementOut[];
  notes: string[];
}

/** Statements that use server-side objects of a session: an MCP call is a session of its own. */
const SESSION_OBJECTS = new Set(['PREPARE', 'EXECUTE', 'DEALLOCATE', 'DEALLOCATE ALL', 'DECLARE CURSOR', 'FETCH', 'MOVE', 'CLOSE CURSOR', 'LISTEN', 'UNLISTEN']);

/** Settings the door starts every call's session with (statement_timeout_ms): a call may not SET them (RESET returns to them). */
const TIMEOUTS = new Set(['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout']);

/** The door's own refusal of a statement the policy allowed, or null. */
function doorProblem(verdict: Verdict): { rule: string; message: string } | null {
  for (const a of verdict.statements) {
    const setting = settingsRefusal(a);
    if (setting) return { rule: 'mcp.session_setting', message: setting };
    for (const s of [a, ...a.nested]) {
      if (SESSION_OBJECTS.has(s.command)) {
        return { rule: 'mcp.session_object', message: `Verdict denied this statement: ${s.command} needs a session that outlives the call, and each MCP call is a session of its own; send the query itself (page with LIMIT/OFFSET)` };
      }
      if (s.command === 'SET' && s.setting !== null && TIMEOUTS.has(s.setting)) {
        return { rule: 'mcp.session_setting', message: `Verdict denied this statement: ${s.setting} is the MCP door's (mcp.statement_timeout_ms), not the call's` };
      }
      if (s.copy && (s.copy.target === 'stdin' || s.copy.target === 'stdout')) {
        return { rule: 'mcp.copy', message: 'Verdict denied this statement: COPY to or from the client is not available over MCP; SELECT the rows instead' };
      }
    }
  }
  return null;
}

function strictest(verdict: Verdict, action: Decision['action']): Decision {
  return verdict.decisions.find((d) => d.action === action) ?? verdict.decisions[0]!;
}

/**
 * Runs the MCP tools' statements for one upstream.
 *
 * @example
 * const runner = new McpRunner(ctx, { ...cfg.mcp, upstream: 'clinic' });
 * const out = await runner.query(caller, 'query', 'SELECT name, ssn FROM patients LIMIT 3', []);
 */
export class McpRunner {
  readonly #ctx: GatewayContext;
  readonly #cfg: McpConfig & { upstream: string };
  /** Tool calls in flight (shutdown waits for them). */
  inFlight = 0;
  /** Tool calls in flight by token subject. */
  readonly #bySubject = new Map<string, number>();

  constructor(ctx: GatewayContext, cfg: McpConfig & { upstream: string }) {
    this.#ctx = ctx;
    this.#cfg = cfg;
  }

  get upstream(): string {
    return this.#cfg.upstream;
  }

  /** The policy's PHI classification of a table's columns (column → PHI type). */
  phiTypes(schema: string, table: string): Readonly<Record<string, string>> {
    return this.#ctx.engine(this.#cfg.upstream).phiTypes(schema, table);
  }

  /**
   * Decides and runs `sql` (one statement or several; `params` — text values for $1… — only with one) as a
   * pipeline session of `tool`. Resolves with every statement's masked rows; rejects with ToolRefusal.
   * `signal` (the client cancelled the request): the running statement is cancelled upstream (57014).
   */
  async query(caller: Caller, tool: string, sql: string, params: readonly (string | null)[], signal?: AbortSignal): Promise<QueryOut> {
    if (this.inFlight >= this.#cfg.max_concurrent_calls) {
      throw toolError.tooManyConnections(`Verdict is running ${this.inFlight} tool calls, its limit (mcp.max_concurrent_calls); try again shortly`);
    }
    const sub = caller.identity.sub;
    const mine = this.#bySubject.get(sub) ?? 0;
    if (mine >= this.#cfg.max_calls_per_identity) {
      throw toolError.tooManyConnections(`you are running ${mine} tool calls, the limit per identity (mcp.max_calls_per_identity); wait for one to finish`);
    }
    const session = this.#session(caller, tool);
    session.start();
    this.inFlight++;
    this.#bySubject.set(sub, mine + 1);
    let end = 'completed';
    try {
      return await this.#run(session, caller, sql, [...params], signal);
    } catch (err) {
      end = err instanceof ToolRefusal ? `refused: ${err.details.status}` : 'failed';
      throw err;
    } finally {
      this.inFlight--;
      const left = (this.#bySubject.get(sub) ?? 1) - 1;
      if (left > 0) this.#bySubject.set(sub, left);
      else this.#bySubject.delete(sub);
      session.end(end);
    }
  }

  /**
   * Decides `sql` for this caller without running or recording it: what the policy would do, and which
   * columns it masks (describe_table's question).
   */
  preview(caller: Caller, sql: string): Verdict {
    return this.#session(caller, 'describe_table').decide(sql);
  }

  #session(caller: Caller, tool: string): PipelineSession {
    const upstream = this.#cfg.upstream;
    return new PipelineSession(this.#ctx, {
      identity: caller.identity,
      upstream,
      database: this.#ctx.config.upstreams[upstream]!.database,
      frontDoor: 'mcp',
      clientAddr: caller.clientAddr,
      applicationName: caller.client?.name ?? null,
      tls: caller.tls,
      refusalCode: null,
      holdTimeoutSeconds: this.#ctx.config.approvals.hold_timeout_seconds,
      client: caller.client,
      tool,
      // The tool call's purpose argument, else the token's purpose claim.
      purpose: normalizePurpose(caller.purpose) ?? purposeFromClaims(caller.identity.claims),
    });
  }

  async #run(session: PipelineSession, caller: Caller, sql: string, params: (string | null)[], signal: AbortSignal | undefined): Promise<QueryOut> {
    if (/^[\s;]*$/.test(sql)) throw toolError.invalid('the statement is empty');
    const started = Date.now();
    let verdict = session.decide(sql);
    const refuse = (v: Verdict, message: string, rule: string | null, decision: Decision | null, extra: Partial<RefusalDetails> = {}): never => {
      session.recordDecisions(v)?.catch(() => undefined);
      session.recordResult(v, started, [], null, true);
      this.#ctx.log.info('mcp statement refused', { user: caller.identity.username, rule, decision_id: decision?.decision_id });
      throw new ToolRefusal(message, { status: 'denied', rule, decision_id: decision?.decision_id ?? null, ...extra });
    };
    const denied = (v: Verdict): never => {
      const d = strictest(v, 'deny');
      const reason = d.reasons[0];
      return refuse(v, `Verdict denied this statement: ${reason?.message ?? 'the policy denied it'}`, reason?.rule ?? null, d);
    };
    if (params.length > 0 && verdict.statements.length > 1) {
      return refuse(verdict, 'parameters go with a single statement: send the statements in separate calls', 'mcp.parameters', verdict.decisions[0]!);
    }
    if (verdict.action === 'deny') return denied(verdict);
    const problem = doorProblem(verdict);
    if (problem) return refuse(verdict, problem.message, problem.rule, verdict.decisions[0]!);

    const masked = () => verdict.decisions.some((d) => d.masks.length > 0);
    // A decision that stands as made (nothing to measure or approve) is made durable while the call's own
    // upstream connection opens (~1 ms of the ~4 ms connect, bench:mcp); the statement still waits for both.
    const early = verdict.action !== 'approve' && !verdict.decisions.some((d) => d.measure.length > 0) ? session.recordBeforeRun(verdict, null, started) : null;
    let up: UpstreamSession;
    try {
      up = await this.#connect(caller, session);
    } catch (err) {
      if (early && (await early)) session.recordResult(verdict, started, [], SqlState.ConnectionFailure);
      throw err;
    }
    try {
      if (verdict.decisions.some((d) => d.measure.length > 0)) {
        const first = verdict;
        const measured = await session.measure(sql, first, async (m) => {
          // The count refers to the write's parameters it uses; the others need a type of their own (text).
          const types = params.map((_, i) => (m.params.includes(i + 1) ? 0 : 25));
          try {
            return countedFrom((await up.run(m.sql, params, { types })).rows[0]);
          } catch (err) {
            if (!(err instanceof StatementError)) throw err;
            // The count failed where the write would have (the same target and predicate): that is its answer.
            session.recordDecisions(first)?.catch(() => undefined);
            session.recordResult(first, started, [], err.sqlstate);
            throw this.#statementError(err, first.decisions.some((d) => d.masks.length > 0), first.decisions[0]!);
          }
        });
        verdict = measured!;
        if (verdict.action === 'deny') return denied(verdict);
      }
      let approval: { request_id: string; approved_by: string[] } | null = null;
      if (verdict.action === 'approve') {
        const admission = await session.admit(sql, params, verdict, null);
        if (admission.kind === 'refuse') {
          const d = strictest(verdict, 'approve');
          throw new ToolRefusal(admission.message, {
            status: admission.request ? 'approval_required' : 'denied',
            rule: d.reasons[0]?.rule ?? null,
            decision_id: d.decision_id,
            ...(admission.request ? { request_id: admission.request.id, link: admission.request.link, next: `once it is approved, call query again with the identical statement${params.length ? ' and parameters' : ''}; approval_status tells where it stands` } : {}),
          });
        }
        verdict = admission.verdict;
        approval = admission.approval;
      }
      if (!(await (early ?? session.recordBeforeRun(verdict, approval, started)))) {
        throw toolError.evidenceUnavailable(verdict.decisions[0]!.decision_id);
      }
      session.breakGlass(verdict);
      return await this.#execute(session, up, sql, params, verdict, started, masked(), signal);
    } finally {
      up.close();
    }
  }

  /** Runs each admitted statement; several without transaction control of their own run as one transaction. */
  async #execute(session: PipelineSession, up: UpstreamSession, sql: string, params: (string | null)[], verdict: Verdict, started: number, masked: boolean, signal: AbortSignal | undefined): Promise<QueryOut> {
    const n = verdict.statements.length;
    const implicit = n > 1 && !verdict.statements.some((a) => a.kind === 'tcl');
    const tags: string[] = [];
    const results: StatementOut[] = [];
    const notes: string[] = [];
    // What the caller is sent for each statement: its digest, and the rows themselves where the policy asks
    // (encrypted), recorded with the results.
    const sent: (DeliveredDigest | null)[] = [];
    // The parameters (only with one statement) are evidence of this execution: raw, or hashed where they meet PHI.
    const execution = params.length > 0 ? session.recordParameters(verdict, 0, params) : undefined;
    try {
      if (implicit) await up.run('BEGIN', []);
      for (let i = 0; i < n; i++) {
        const a = verdict.statements[i]!;
        const r = await up.run(n === 1 ? sql : a.text, params, { maxRows: this.#cfg.max_rows, maxBytes: this.#cfg.max_result_bytes, ...(signal ? { signal } : {}) });
        const out = this.#masked(a, verdict.decisions[i]!, r);
        sent.push(session.responseDigest(verdict, i, out.columns.map((c) => c.name), out.rows));
        results.push(out);
        tags.push(out.command);
        if (r.truncated) notes.push(`statement ${i + 1}: the result was cut at ${out.row_count} rows (limits: ${this.#cfg.max_rows} rows, ${this.#cfg.max_result_bytes} bytes); narrow it or page with LIMIT/OFFSET`);
        if (a.kind === 'ddl' || a.nested.some((x) => x.kind === 'ddl')) this.#ctx.catalogChanged(this.#cfg.upstream);
      }
      if (implicit) await up.run('COMMIT', []);
    } catch (err) {
      if (err instanceof StatementError) {
        session.recordResult(verdict, started, implicit ? [] : tags, err.sqlstate, false, execution, implicit ? [] : sent);
        throw this.#statementError(err, masked, verdict.decisions[Math.min(tags.length, n - 1)]!, implicit && n > 1 ? 'the statements ran as one transaction, which was rolled back' : null);
      }
      session.recordResult(verdict, started, tags, SqlState.InternalError, false, execution, sent);
      throw err;
    }
    session.recordResult(verdict, started, tags, null, false, execution, sent);
    if (up.status !== 'I') notes.push('a transaction was still open when the call ended; it was rolled back (each call is a session of its own: send BEGIN … COMMIT in one call)');
    return { results, notes };
  }

  /** One statement's result with the decision's masks applied to every value, and the server's column origins as ground truth. */
  #masked(a: StatementAnalysis, decision: Decision, r: StatementResult): StatementOut {
    const fields = r.fields ?? [];
    const plan = maskPlan(a, decision, this.#ctx.maskContext, this.#ctx.originsOf(this.#cfg.upstream));
    const masks = plan ? columnMasks(plan, fields) : fields.map(() => null);
    const rows = r.rows.map((row) =>
      row.map((value, i) => {
        const mask = masks[i] ?? null;
        return value === null || mask === null ? value : maskedText(mask, fields[i]!.typeOid, value);
      }),
    );
    return {
      statement: a.text,
      command: r.tag || `${a.command} ${rows.length}`,
      columns: fields.map((f, i) => ({ name: f.name, type: typeName(f.typeOid), masked: masks[i] !== null && masks[i] !== undefined })),
      rows,
      row_count: rows.length,
      truncated: r.truncated,
    };
  }

  #statementError(err: StatementError, masked: boolean, decision: Decision, note: string | null = null): ToolRefusal {
    const code = masked ? withheldCode(err.sqlstate) : err.sqlstate;
    const text = masked
      ? `PostgreSQL reported an error (SQLSTATE ${code}) whose text Verdict withholds: this statement reads columns masked for you, and the text could contain their values`
      : `PostgreSQL: ${err.message}${err.detail ? ` (${err.detail})` : ''}${err.hint ? ` Hint: ${err.hint}` : ''}`;
    return new ToolRefusal(note ? `${text}; ${note}` : text, { status: 'error', rule: null, decision_id: decision.decision_id, sqlstate: code });
  }

  /** A fresh upstream session as the caller's role, refused when its settings are not the ones the analysis assumes. */
  async #connect(caller: Caller, session: PipelineSession): Promise<UpstreamSession> {
    const ctx = this.#ctx;
    const upstream = this.#cfg.upstream;
    let conn;
    try {
      const timeout = this.#cfg.statement_timeout_ms;
      conn = await ctx.connect(
        upstream,
        {
          application_name: `verdict-mcp${caller.client ? `:${caller.client.name}`.slice(0, 48) : ''}`,
          // A call cannot hold the database (or a lock others wait on) longer than this.
          statement_timeout: String(timeout),
          lock_timeout: String(Math.max(100, Math.floor(timeout / 4))),
          idle_in_transaction_session_timeout: String(timeout),
        },
        roleFor(ctx.config.identity.role_by_group, caller.identity.groups),
      );
    } catch (err) {
      ctx.metrics.errors.inc({ kind: 'upstream_connect' });
      ctx.log.error('upstream connection failed', { upstream, error: (err as Error).message });
      throw toolError.connectionFailure(`Verdict could not connect to the upstream database "${upstream}"; try again later`);
    }
    const reported = new Map<string, string>();
    for (const [k, v] of conn.parameters) {
      const problem = reportedSettingProblem(k, v, undefined);
      if (problem) {
        conn.close();
        ctx.log.error('upstream session settings refused', { upstream, error: problem });
        throw toolError.connectionFailure(`the upstream database "${upstream}" starts sessions with settings Verdict cannot check statements under (${problem}); ask the operator to fix the database or role defaults`);
      }
      reported.set(k, v);
    }
    const processId = conn.processId;
    const secretKey = conn.secretKey;
    const up: UpstreamSession = new UpstreamSession(conn, {
      cancel: () => ctx.cancelUpstream(upstream, processId, secretKey),
      onParameterStatus: (name, value) => {
        const problem = reportedSettingProblem(name, value, reported.get(name));
        reported.set(name, value);
        if (!problem) return;
        // Unaccountable: the session ends before anything more of it reaches the agent.
        ctx.metrics.errors.inc({ kind: 'session_model' });
        ctx.log.error('session breach: MCP call ended', { reason: problem, user: caller.identity.username });
        session.record({ type: 'session_breach', data: { session_id: session.id, reason: problem } });
        throw new Error(problem);
      },
    });
    return up;
  }
}
