// The part of judging a statement that is the same whatever door it came through: a session's decisions
// (its identity and connection in every policy input) and its evidence — the session, each decision, each
// result, refusals that had no policy decision. Protocol-free: no sockets, no buffers; a door maps refusals
// to its own errors and tells the session how each execution ended (DESIGN.md, "Data path of one statement").
// Approvals, measurement and break-glass are in admission.ts; the evidence lines in evidence-record.ts.
import { randomBytes } from 'node:crypto';
import type { Verdict } from '../../engine/engine.ts';
import type { EvidenceEvent, PolicyInputPart } from '../../engine/evidence/events.ts';
import type { ApprovalInput, Connection, Identity } from '../../engine/policy/input.ts';
import type { BlastRadius } from '../../engine/sql/types.ts';
import { SessionAdmission, type Admission, type Counted, type HoldHooks } from './admission.ts';
import { SessionEvidence, type DecisionRef, type DeliveredDigest } from './evidence-record.ts';
import { purposeFromComment } from './purpose.ts';
import type { PipelineServices, PipelineSessionOptions } from './services.ts';
import type { DecisionCounts } from '../ops/metrics.ts';

// The pipeline's surface for the doors, wherever each part is defined.

/**
 * One client session in the pipeline.
 *
 * @example
 * const s = new PipelineSession(services, { identity, upstream: 'clinic', database: 'clinic', frontDoor: 'postgres',
 *   clientAddr: '127.0.0.1', applicationName: 'psql', tls: false, refusalCode: '42501' });
 * s.start(); const v = s.decide('SELECT 1'); await s.recordDecisions(v); s.recordResult(v, Date.now(), ['SELECT 1'], null);
 */
export class PipelineSession {
  /** Evidence id of this session: unique across gateway restarts and instances. */
  readonly id: string;
  readonly startedAt = Date.now();
  readonly #services: PipelineServices;
  readonly #options: PipelineSessionOptions;
  /** The same object for every decision: the engine keys its cache by it (a spread per statement cost ~4 µs). */
  readonly #context: { identity: Identity; connection: Connection };

  /** This door's decision counts (metrics). */
  readonly #counts: DecisionCounts;
  /** Approvals, measurement and break-glass of this session. */
  readonly #admission: SessionAdmission;
  /** The evidence lines of this session. */
  readonly #evidence: SessionEvidence;

  constructor(services: PipelineServices, options: PipelineSessionOptions) {
    this.#services = services;
    this.#options = options;
    this.#counts = services.metrics.decisionCounts(options.frontDoor);
    this.id = `${services.evidence?.stream ?? 'gw'}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const i = options.identity;
    this.#context = {
      identity: { sub: i.sub, email: i.email, groups: i.groups, issuer: i.issuer, expires_at: i.expiresAt.toISOString() },
      connection: {
        name: options.upstream,
        engine: options.engine ?? 'postgres',
        database: options.database,
        front_door: options.frontDoor,
        client_addr: options.clientAddr,
        application_name: options.applicationName,
        purpose: options.purpose ?? null,
      },
    };
    this.#admission = new SessionAdmission(services, options, this);
    this.#evidence = new SessionEvidence(services, options, this.id, this.#context.connection);
  }

  /** Statements decided (and refusals recorded) so far. */
  get statements(): number {
    return this.#evidence.statements;
  }

  /** The connection part of every policy input of this session. */
  get connection(): Connection {
    return this.#context.connection;
  }

  /** A statement is waiting for its approval. */
  get holding(): boolean {
    return this.#admission.holding;
  }

  /** Withdraws the approval request the session is waiting on (the client cancelled). */
  withdraw(): void {
    this.#admission.withdraw();
  }

  /**
   * Admits a statement whose decision is `approve`: hold or rerun, as the decision's requirement says
   * (SessionAdmission.admit, admission.ts).
   */
  admit(sql: string, params: (string | null)[], verdict: Verdict, hooks: HoldHooks | null, options: { rerunOnly?: boolean } = {}): Promise<Admission> {
    return this.#admission.admit(sql, params, verdict, hooks, options);
  }

  /**
   * Measures what the policy asked for (the blast radius of a write) and decides again with the measurements
   * in the input; null when `count` stopped (SessionAdmission.measure, admission.ts).
   */
  measure(sql: string, first: Verdict, count: (query: { sql: string; params: number[] }) => Promise<Counted | null>): Promise<Verdict | null> {
    return this.#admission.measure(sql, first, count);
  }

  /**
   * Break-glass: files the after-the-fact review of each statement the policy let run at once on a stated reason.
   * Every door calls it with every verdict it sends upstream — a prepared statement's at each execution, with
   * that execution's `parameters` (as bound; shown to the reviewer as UTF-8 text); decisions without the rule
   * are skipped
   * (SessionAdmission.breakGlass, admission.ts).
   */
  breakGlass(verdict: Verdict, parameters: readonly (Buffer | string | null)[] = []): void {
    this.#admission.breakGlass(verdict, parameters);
  }

  /** Records the session's start (identity, client, target, door). */
  start(): void {
    const o = this.#options;
    const i = o.identity;
    this.record({
      type: 'session_start',
      data: {
        session_id: this.id,
        identity: { sub: i.sub, email: i.email, groups: i.groups, issuer: i.issuer },
        client_addr: o.clientAddr,
        application_name: o.applicationName,
        target: { upstream: o.upstream, database: o.database },
        tls: o.tls,
        front_door: o.frontDoor,
        ...(o.client !== undefined ? { client: o.client } : {}),
        ...(o.tool !== undefined ? { tool: o.tool } : {}),
        purpose: this.#context.connection.purpose,
      },
    });
  }

  /** Records the session's end and why ('client_closed', 'terminated: 28000', …). */
  end(reason: string): void {
    this.record({ type: 'session_end', data: { session_id: this.id, reason, statements: this.statements, duration_ms: Date.now() - this.startedAt } });
  }

  /** Decides every statement of `sql`; an approval or measured blast radii make it a fresh, uncached decision. */
  decide(sql: string, approval: ApprovalInput | null = null, blastRadius: readonly (BlastRadius | null)[] | null = null): Verdict {
    const m = this.#services.metrics;
    const start = process.hrtime.bigint();
    // A leading `/* purpose: … */` declares the purpose of this string's statements (kept in a small function:
    // doors add their own sources of the session's purpose).
    const declared = sql.startsWith('/*') || /^\s+\/\*/.test(sql) ? purposeFromComment(sql) : null;
    const base = declared !== null && declared !== this.#context.connection.purpose ? { ...this.#context, connection: { ...this.#context.connection, purpose: declared } } : this.#context;
    const context = approval || blastRadius ? { ...base, ...(approval ? { approval } : {}), ...(blastRadius ? { blast_radius: blastRadius } : {}) } : base;
    const verdict = this.#services.engine(this.#options.upstream).decide(sql, context);
    if (base !== this.#context) this.#evidence.setPurpose(verdict, declared);
    m.decisionSeconds.observe(Number(process.hrtime.bigint() - start) / 1e9);
    const counts = this.#counts;
    for (const d of verdict.decisions) counts[d.action]++;
    return verdict;
  }


  /**
   * Records each statement's decision; with require_durable the promise resolves once they are durable, and
   * the statement must not run before (SessionEvidence.recordDecisions, evidence-record.ts).
   */
  recordDecisions(verdict: Verdict, approval: { request_id: string; approved_by: string[] } | null = null): Promise<void> | null {
    return this.#evidence.recordDecisions(verdict, approval);
  }

  /**
   * Records the decisions a statement runs under and waits until they are durable; resolves false (the
   * statement recorded as refused) when they cannot be made so (SessionEvidence.recordBeforeRun).
   */
  recordBeforeRun(verdict: Verdict, approval: { request_id: string; approved_by: string[] } | null, started: number): Promise<boolean> {
    return this.#evidence.recordBeforeRun(verdict, approval, started);
  }

  /** Records how each statement of a string ended (SessionEvidence.recordResult). */
  recordResult(verdict: Verdict, start: number, tags: readonly string[], code: string | null, refused = false, execution?: string, digests?: readonly (DeliveredDigest | null | undefined)[]): void {
    this.#evidence.recordResult(verdict, start, tags, code, refused, execution, digests);
  }

  /** One execution of a portal or prepared statement: its result refers to the decision that admitted it. */
  recordExecution(ref: DecisionRef | null, start: number, tag: string | null, code: string | null, refused = false, digest?: DeliveredDigest | null): void {
    this.#evidence.recordExecution(ref, start, tag, code, refused, digest);
  }

  /**
   * Records one execution of decided statement `index` of `verdict` with its parameters, before it runs; returns
   * its execution id (SessionEvidence.recordParameters).
   *
   * @example
   * const execution = session.recordParameters(verdict, 0, bind.params, bind.paramFormats)
   */
  recordParameters(verdict: Verdict, index: number, params: readonly (Buffer | string | null)[], formats: readonly number[] = []): string | undefined {
    return this.#evidence.recordParameters(verdict, index, params, formats);
  }

  /** The digest of what the client was sent for statement `index`, to record with its result (SessionEvidence.responseDigest). */
  responseDigest(verdict: Verdict, index: number, columns: readonly string[], rows: readonly (readonly (string | null)[])[]): DeliveredDigest | null {
    return this.#evidence.responseDigest(verdict, index, columns, rows);
  }

  /**
   * A request the door refuses without a policy decision, recorded as a denied statement and a refused result;
   * returns its decision id (SessionEvidence.recordRefusal).
   */
  recordRefusal(text: string, rule: string, message: string): string {
    return this.#evidence.recordRefusal(text, rule, message);
  }

  /** Appends an event without waiting (session, result and approval events); failures are logged, never silent. */
  record(event: EvidenceEvent, parts?: readonly PolicyInputPart[]): void {
    this.#evidence.record(event, parts);
  }
}
