// The part of judging a statement that is the same whatever door it came through: a session's decisions
// (its identity and connection in every policy input) and its evidence — the session, each decision, each
// result, refusals that had no policy decision. Protocol-free: no sockets, no buffers; a door maps refusals
// to its own errors and tells the session how each execution ended (DESIGN.md, "Data path of one statement").
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { dialectOf, type Engine, type Verdict } from '../../engine/engine.ts';
import { sameEvaluation } from '../../engine/decision/decision.ts';
import type { EvidenceEvent, ExecutionParameter, PolicyInputPart } from '../../engine/evidence/events.ts';
import type { MaskContext } from '../../engine/masking/methods.ts';
import { createRowDigest, encryptRows, type CapturedRows } from '../../engine/evidence/response.ts';
import type { ApprovalInput, Connection, Identity } from '../../engine/policy/input.ts';
import type { BlastRadius } from '../../engine/sql/types.ts';
import type { ApprovalProvider, ApprovalState, ApprovalSubject } from '../approvals/provider.ts';
import { subjectAnalysis, subjectHash } from '../approvals/provider.ts';
import type { EvidenceWriter } from '../evidence/writer.ts';
import type { Logger } from '../ops/log.ts';
import { purposeFromComment } from './purpose.ts';
import type { DecisionCounts, GatewayMetrics } from '../ops/metrics.ts';

/** What a pipeline session uses from the gateway. */
export interface PipelineServices {
  /** The engine for an upstream (it knows that upstream's catalog). */
  engine(upstream: string): Engine;
  /** null when evidence is disabled in the config. */
  evidence: EvidenceWriter | null;
  metrics: GatewayMetrics;
  log: Logger;
  approvals: ApprovalProvider;
  /** Its hash key also keys the hashes of sensitive parameters in evidence (through a derived key). */
  maskContext?: MaskContext;
}

/** The key that hashes sensitive parameters: derived from the masking hash key, or random per process without one. */
const parameterKeys = new WeakMap<object, { key: Buffer; id: string }>();
const processKey = randomBytes(32);
function parameterKeyOf(services: PipelineServices): { key: Buffer; id: string } {
  const owner = services.maskContext ?? parameterKeys;
  let k = parameterKeys.get(owner);
  if (!k) {
    // Domain separation: the evidence's parameter hashes never equal the `hash` mask clients see.
    const key = createHmac('sha256', services.maskContext?.hashKey ?? processKey).update('verdict/evidence/parameters').digest();
    k = { key, id: createHmac('sha256', key).update('verdict key id').digest('hex').slice(0, 16) };
    parameterKeys.set(owner, k);
  }
  return k;
}

/**
 * The evidence form of an execution's parameters: raw, or HMAC-SHA256 under `key` for the positions the
 * decision marks sensitive ('all': every one). `formats` are the PostgreSQL format codes (1 = binary).
 *
 * @example
 * executionParameters(['42', '123-45-6789'], [], [2], key) // [{position: 1, value: '42'}, {position: 2, hmac_sha256: '…'}]
 */
export function executionParameters(
  params: readonly (Buffer | string | null)[],
  formats: readonly number[],
  sensitive: readonly number[] | 'all',
  key: Buffer,
): ExecutionParameter[] {
  return params.map((p, i): ExecutionParameter => {
    const position = i + 1;
    if (p === null) return { position, value: null };
    if (sensitive === 'all' || sensitive.includes(position)) return { position, hmac_sha256: createHmac('sha256', key).update(p).digest('hex') };
    // PostgreSQL: one format code applies to all parameters, else one per parameter; absent = text.
    const binary = (formats.length === 1 ? formats[0] : formats[i]) === 1;
    if (typeof p === 'string') return { position, value: p };
    return binary ? { position, binary: p.toString('base64') } : { position, value: p.toString('utf8') };
  });
}

/** What a measuring count gave: its numbers, or why the write could not be measured. */
export type Counted = { rows: number; table_rows: number } | { unmeasurable: string };

/**
 * The numbers of a measuring count's row (`rows`, `table_rows` as text), or why there are none.
 *
 * @example
 * countedFrom(['6', '6']) // { rows: 6, table_rows: 6 }
 */
export function countedFrom(row: readonly (string | null)[] | undefined): Counted {
  const rows = row ? Number(row[0]) : NaN;
  const tableRows = row ? Number(row[1]) : NaN;
  return Number.isFinite(rows) && Number.isFinite(tableRows) ? { rows, table_rows: tableRows } : { unmeasurable: 'the measuring count returned no number' };
}

function unmeasurable(error: string): BlastRadius {
  return { method: 'count', rows: null, table_rows: null, error };
}

/** How a statement that needs approval goes on: it runs under the approval, or it is refused and why. */
export type Admission =
  | { kind: 'run'; verdict: Verdict; approval: { request_id: string; approved_by: string[] } }
  /** `request`: the approval request filed for it (rerun: ask again once it is approved). */
  | { kind: 'refuse'; message: string; canceled: boolean; request?: { id: string; link: string } };

/** What the pipeline needs from the door while a statement waits for approval (hold). */
export interface HoldHooks {
  /** The request is filed and the statement will wait: tell the client where (a PostgreSQL NOTICE). */
  waiting(info: { requestId: string; link: string; reasons: string; approvers: string[]; waitSeconds: number }): Promise<void> | void;
  /** The wait is over, whatever its outcome. */
  done(): void;
}

/** Who is asking, through which door, for which upstream. */
export interface PipelineSessionOptions {
  identity: { sub: string; username: string; email: string | null; groups: string[]; issuer: string | null; expiresAt: Date };
  upstream: string;
  database: string;
  frontDoor: Connection['front_door'];
  /** The upstream's kind (connection.engine in the policy input). Default postgres. */
  engine?: Connection['engine'];
  clientAddr: string | null;
  applicationName: string | null;
  tls: boolean;
  /** The door's code for a refusal, recorded as the result's `sqlstate` (PostgreSQL: 42501); null if it has none. */
  refusalCode: string | null;
  /** How long a held statement waits for its approval. */
  holdTimeoutSeconds: number;
  /** The client software as it declares itself (MCP clientInfo), for evidence. */
  client?: { name: string; version: string | null } | null;
  /** MCP: the tool this session serves, for evidence. */
  tool?: string;
  /** The purpose of use the session declared (or its token carries); a statement's leading comment overrides it. */
  purpose?: string | null;
}

/** Most durable decisions a session keeps for reuse by fingerprint (the oldest goes first). */
const REUSABLE_PER_SESSION = 256;

/** A one-statement verdict that may be reused or reuse: allowed or masked, fingerprinted, nothing to measure or review. */
function reusable(v: Verdict): boolean {
  if (v.decisions.length !== 1) return false;
  const d = v.decisions[0]!;
  return (d.action === 'allow' || d.action === 'mask') && d.fingerprint !== null && d.measure.length === 0 && d.approval === null && d.reasons.every((r) => r.rule !== 'approvals.break_glass');
}

/** A decision a result refers to: statement `index` of `verdict`; `execution`: the recorded execution it ends. */
export interface DecisionRef {
  readonly verdict: Verdict;
  readonly index: number;
  readonly execution?: string;
}

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
  /** Statements decided (and refusals recorded) so far. */
  statements = 0;
  readonly startedAt = Date.now();
  readonly #services: PipelineServices;
  readonly #options: PipelineSessionOptions;
  /** The same object for every decision: the engine keys its cache by it (a spread per statement cost ~4 µs). */
  readonly #context: { identity: Identity; connection: Connection };

  /** The blast radii each measured verdict was decided with (shown to approvers). */
  readonly #radii = new WeakMap<Verdict, readonly (BlastRadius | null)[]>();
  /** This door's decision counts (metrics). */
  readonly #counts: DecisionCounts;
  /**
   * Decisions of this session whose statement line is durable, by fingerprint, that a later statement with the
   * same fingerprint may run under as an execution (see #reuse). Cleared when evidence fails.
   */
  readonly #durable = new Map<string, Verdict>();
  /** Verdicts recorded as executions of an earlier durable decision: their results and responses refer to it. */
  readonly #executions = new WeakMap<Verdict, DecisionRef>();

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
  }

  /** The purpose each verdict was decided under (a leading comment can change it per string). */
  readonly #purposes = new WeakMap<Verdict, string | null>();

  /** The connection part of every policy input of this session. */
  get connection(): Connection {
    return this.#context.connection;
  }

  /** The wait of a held statement, while one waits (CancelRequest withdraws it). */
  #holding: AbortController | null = null;

  /** A statement is waiting for its approval. */
  get holding(): boolean {
    return this.#holding !== null;
  }

  /** Withdraws the approval request the session is waiting on (the client cancelled). */
  withdraw(): void {
    this.#holding?.abort();
  }

  /**
   * Admits a statement whose decision is `approve`: hold (file the request, wait bounded, run on approval) or
   * rerun (run now if an approval of exactly this statement by this identity exists, else file one and
   * refuse with its link), as the decision's requirement says — always rerun for a door without hold hooks. An approval runs its statement once; the
   * statement is decided again with the approval in the input. Every step is evidence.
   */
  async admit(sql: string, params: (string | null)[], verdict: Verdict, hooks: HoldHooks | null, options: { rerunOnly?: boolean } = {}): Promise<Admission> {
    const decision = verdict.decisions.find((d) => d.action === 'approve')!;
    // A door that cannot hold a client while it waits (MCP: never an HTTP request open for minutes) asks in rerun mode.
    const requirement = options.rerunOnly || !hooks ? { ...decision.approval!, mode: 'rerun' as const } : decision.approval!;
    const o = this.#options;
    const i = o.identity;
    const approvals = this.#services.approvals;
    const log = this.#services.log;
    const subject: ApprovalSubject = {
      statement: sql,
      parameters: params,
      fingerprint: decision.fingerprint,
      requester: { sub: i.sub, username: i.username, email: i.email, groups: i.groups },
      target: { upstream: o.upstream, database: o.database },
      reasons: decision.reasons,
      policy_revision: decision.policy_revision,
      requirement,
      blast_radius: this.#radii.get(verdict)?.[verdict.decisions.indexOf(decision)] ?? null,
      ...(verdict.statements[verdict.decisions.indexOf(decision)] ? { analysis: subjectAnalysis(verdict.statements[verdict.decisions.indexOf(decision)]!) } : {}),
    };
    const refuse = (message: string, canceled = false): Extract<Admission, { kind: 'refuse' }> => ({ kind: 'refuse', message, canceled });
    const reasons = decision.reasons.map((r) => r.message).join('; ');
    const runApproved = async (requestId: string, state: Extract<ApprovalState, { status: 'approved' }>): Promise<Admission> => {
      if (!(await approvals.consume(requestId))) return refuse(`approval ${requestId} was already used; an approval runs its statement once`);
      this.record({ type: 'approval_granted', data: { request_id: requestId, approved_by: state.approved_by, review_ids: state.review_ids } });
      const approved = this.decide(sql, { request_id: requestId, approved_by: state.approved_by, review_ids: state.review_ids });
      const ref = { request_id: requestId, approved_by: state.approved_by };
      if (approved.action === 'deny' || approved.action === 'approve') {
        this.recordDecisions(approved, ref)?.catch(() => undefined);
        const denied = approved.decisions.find((d) => d.action === 'deny') ?? approved.decisions[0]!;
        return refuse(`Verdict denied this statement even with approval ${requestId}: ${denied.reasons[0]?.message ?? ''}`);
      }
      return { kind: 'run', verdict: approved, approval: ref };
    };
    const requested = (request: { id: string; hash: string; expires_at: string }, link: string) => {
      this.recordDecisions(verdict)?.catch(() => undefined); // the `approve` decision itself
      this.record({
        type: 'approval_requested',
        data: {
          request_id: request.id,
          session_id: this.id,
          decision_id: decision.decision_id,
          subject_hash: request.hash,
          approvers: requirement.approvers,
          min_approvals: requirement.min_approvals,
          expires_at: request.expires_at,
          link,
          mode: requirement.mode,
        },
      });
      this.#services.metrics.approvalsRequested.inc({ mode: requirement.mode });
      log.info('approval requested', { request: request.id, mode: requirement.mode, user: i.username });
    };

    if (requirement.mode === 'rerun') {
      const existing = await approvals.findApproved(subjectHash(subject), i.sub);
      if (existing) {
        const state = await approvals.state(existing.id);
        if (state.status === 'approved') {
          this.#services.metrics.approvalsDecided.inc({ outcome: 'approved' });
          return runApproved(existing.id, state);
        }
      }
      const { request, link } = await approvals.create(subject);
      requested(request, link);
      return { ...refuse(`this statement needs approval (${reasons}). Request ${request.id} was filed: ${link} — once it is approved, run the identical statement again`), request: { id: request.id, link } };
    }

    // Hold: the door tells the client where the request is; wait (bounded), then run or refuse.
    const { request, link } = await approvals.create(subject);
    requested(request, link);
    await hooks!.waiting({ requestId: request.id, link, reasons, approvers: requirement.approvers, waitSeconds: o.holdTimeoutSeconds });
    this.#holding = new AbortController();
    let state: ApprovalState;
    const m = this.#services.metrics;
    const waitStarted = Date.now();
    m.approvalsPending.inc();
    try {
      state = await approvals.wait(request.id, { signal: this.#holding.signal, timeoutMs: o.holdTimeoutSeconds * 1000 });
    } finally {
      m.approvalsPending.dec();
      this.#holding = null;
      hooks!.done();
    }
    m.approvalWaitSeconds.observe((Date.now() - waitStarted) / 1000);
    m.approvalsDecided.inc({ outcome: state.status === 'approved' || state.status === 'rejected' || state.status === 'withdrawn' ? state.status : 'expired' });
    log.info('approval outcome', { request: request.id, status: state.status });
    switch (state.status) {
      case 'approved':
        return runApproved(request.id, state);
      case 'rejected':
        this.record({ type: 'approval_rejected', data: { request_id: request.id, by: state.by, reason: state.reason } });
        return refuse(`approval request ${request.id} was rejected by ${state.by}${state.reason ? `: ${state.reason}` : ''}`);
      case 'withdrawn':
        this.record({ type: 'approval_withdrawn', data: { request_id: request.id, by: i.username, reason: 'withdrawn by the requester (the client cancelled)' } });
        return refuse(`canceling statement due to user request; approval request ${request.id} was withdrawn`, true);
      default:
        this.record({ type: 'approval_expired', data: { request_id: request.id } });
        return refuse(`approval request ${request.id} ${state.status === 'expired' ? 'expired before anyone approved it' : `is ${state.status}`}`);
    }
  }

  /**
   * Measures what the policy asked for (decision.measure: the blast radius of a write — a count over the same
   * target and predicate, run upstream by the door just before the write, docs/decision-contract.md "Blast
   * radius") and decides again with the measurements in the input. A statement sharing its string with others
   * is not measured (they could change what it touches first): the policy refuses it as unmeasurable.
   * `count` runs one measuring query and gives its two numbers, or why it could not; null stops (the door
   * answered the client already, or the statement will not run): then this resolves to null.
   */
  async measure(sql: string, first: Verdict, count: (query: { sql: string; params: number[] }) => Promise<Counted | null>): Promise<Verdict | null> {
    const radii: (BlastRadius | null)[] = [];
    for (let i = 0; i < first.statements.length; i++) {
      if (!first.decisions[i]!.measure.includes('blast_radius')) {
        radii.push(null);
        continue;
      }
      if (first.statements.length > 1) {
        radii.push(unmeasurable('it shares its Query string with other statements, which could change what it touches before it runs; send it on its own'));
        continue;
      }
      // The count is written in the upstream's own dialect; one that cannot measure leaves the write unmeasurable.
      const dialect = dialectOf(this.#options.engine ?? 'postgres');
      const m = dialect.measurementQuery?.(first.statements[i]!) ?? { error: `${dialect.name} writes are not measured` };
      if ('error' in m) radii.push(unmeasurable(m.error));
      else if ('current_of' in m) radii.push({ method: 'current_of', rows: 1, table_rows: null, error: null });
      else {
        const counted = await count(m);
        if (counted === null) return null;
        radii.push('unmeasurable' in counted ? unmeasurable(counted.unmeasurable) : { method: 'count', rows: counted.rows, table_rows: counted.table_rows, error: null });
      }
    }
    const verdict = this.decide(sql, null, radii);
    this.#radii.set(verdict, radii);
    this.#services.log.info('blast radius measured', { user: this.#options.identity.username, radii, action: verdict.action });
    return verdict;
  }

  /**
   * Break-glass: the policy let a statement that needs approval run at once on a stated reason
   * (rule `approvals.break_glass`). The request is filed after the fact for the reviewers the decision names
   * (its `approval`, from the policy; a PR labelled break-glass with GitHub) and recorded as evidence. Call it
   * when such a statement is sent upstream.
   */
  breakGlass(verdict: Verdict): void {
    const o = this.#options;
    const i = o.identity;
    const log = this.#services.log;
    for (let n = 0; n < verdict.decisions.length; n++) {
      const d = verdict.decisions[n]!;
      const bg = d.reasons.find((r) => r.rule === 'approvals.break_glass');
      if (!bg) continue;
      // Decision validation requires the review requirement with this reason; without it nothing says who reviews.
      if (!d.approval) {
        log.error('break-glass decision names no reviewers; no review filed', { decision_id: d.decision_id });
        continue;
      }
      const subject: ApprovalSubject = {
        statement: verdict.statements[n]?.text ?? '',
        parameters: [],
        fingerprint: d.fingerprint,
        requester: { sub: i.sub, username: i.username, email: i.email, groups: i.groups },
        target: { upstream: o.upstream, database: o.database },
        reasons: d.reasons,
        policy_revision: d.policy_revision,
        requirement: d.approval,
        ...(verdict.statements[n] ? { analysis: subjectAnalysis(verdict.statements[n]!) } : {}),
      };
      log.warn('break-glass statement', { user: i.username, decision_id: d.decision_id, reason: bg.message });
      this.#services.metrics.approvalsRequested.inc({ mode: 'break_glass' });
      this.#services.approvals.breakGlass(subject, { reason: bg.message, executedAt: new Date(), evidence: d.decision_id }).then(
        ({ request, link }) =>
          this.record({
            type: 'approval_requested',
            data: {
              request_id: request.id,
              session_id: this.id,
              decision_id: d.decision_id,
              subject_hash: request.hash,
              approvers: subject.requirement.approvers,
              min_approvals: subject.requirement.min_approvals,
              expires_at: request.expires_at,
              link: `break-glass: ${link}`,
              mode: 'break_glass',
            },
          }),
        (err: Error) => log.error('break-glass request could not be filed', { error: err.message, decision_id: d.decision_id }),
      );
    }
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
    if (base !== this.#context) this.#purposes.set(verdict, declared);
    m.decisionSeconds.observe(Number(process.hrtime.bigint() - start) / 1e9);
    const counts = this.#counts;
    for (const d of verdict.decisions) counts[d.action]++;
    return verdict;
  }

  /**
   * Records each statement's decision. With require_durable the returned promise resolves only once the
   * events are durable, and the statement must not run before; it rejects when they cannot be made so.
   * `mayReuse`: the door vouches that this statement only reads (never a write, DDL or other side effect) and
   * carries no parameters of its own, so it may run under an earlier durable decision of the session with the
   * same fingerprint (see #reuse): then nothing is waited for (null).
   */
  recordDecisions(verdict: Verdict, approval: { request_id: string; approved_by: string[] } | null = null, mayReuse = false): Promise<void> | null {
    const evidence = this.#services.evidence;
    if (!evidence) return null;
    const n = verdict.decisions.length;
    this.statements += n;
    if (mayReuse && approval === null && this.#reuse(verdict)) return null;
    const durable = evidence.requireDurable;
    // One promise per statement only when someone waits for it (require_durable); the common single
    // statement returns the append's own promise, without an array or Promise.all.
    let first: Promise<void> | null = null;
    let more: Promise<void>[] | null = null;
    for (let i = 0; i < n; i++) {
      const d = verdict.decisions[i]!;
      const st = verdict.statements[i];
      // The input the policy saw, kept as content-addressed parts so the decision can be replayed.
      const parts = d.input_parts;
      const event: EvidenceEvent = {
        type: 'statement',
        data: {
          session_id: this.id,
          decision_id: d.decision_id,
          text: st?.text ?? '',
          text_redacted: false,
          fingerprint: d.fingerprint,
          kind: st?.kind ?? null,
          action: d.action,
          reasons: d.reasons,
          input_hash: d.input_hash,
          policy_revision: d.policy_revision,
          masks: d.masks,
          approval,
          cached: d.cached,
          purpose: this.#purposes.has(verdict) ? this.#purposes.get(verdict)! : this.#context.connection.purpose,
          ...(d.unmasked_phi?.length ? { unmasked_phi: d.unmasked_phi } : {}),
          ...(parts ? { input: { context: parts.context.hash, statement: parts.statement.hash, now: parts.now } } : {}),
        },
      };
      const partList = parts ? [parts.context, parts.statement] : undefined;
      if (!durable) {
        this.record(event, partList);
        continue;
      }
      const p = evidence.append(event, partList);
      if (first === null) first = p;
      else (more ??= [first]).push(p);
    }
    const done = more ? Promise.all(more).then(() => undefined) : first;
    if (reusable(verdict)) {
      const fp = verdict.decisions[0]!.fingerprint!;
      if (done === null) this.#remember(fp, verdict);
      else done.then(() => this.#remember(fp, verdict), () => undefined);
    }
    return done;
  }

  #remember(fingerprint: string, verdict: Verdict): void {
    if (this.#durable.size >= REUSABLE_PER_SESSION) this.#durable.delete(this.#durable.keys().next().value!);
    this.#durable.set(fingerprint, verdict);
  }

  /**
   * A statement decided by the same evaluation of the policy as an earlier statement of this session whose
   * decision is already durable (same fingerprint: only literals differ; a cache hit of that decision) runs
   * under that decision, as prepared statements do: recorded as a statement_execution of it with its own text,
   * not waited on. Its answer then waits for no fsync. Only allow and mask decisions with nothing to measure,
   * approve or file; anything else is a statement line of its own, made durable before it runs.
   */
  #reuse(verdict: Verdict): boolean {
    if (!reusable(verdict)) return false;
    const d = verdict.decisions[0]!;
    const prior = this.#durable.get(d.fingerprint!);
    if (!prior || !sameEvaluation(d, prior.decisions[0]!)) return false;
    const execution_id = randomUUID();
    const base = prior.decisions[0]!;
    this.record({
      type: 'statement_execution',
      data: { session_id: this.id, decision_id: base.decision_id, execution_id, parameters: [], key_id: null, text: verdict.statements[0]?.text ?? '' },
    });
    this.#executions.set(verdict, { verdict: prior, index: 0, execution: execution_id });
    return true;
  }

  /**
   * Records the decisions a statement runs under and, with require_durable, waits until they are durable.
   * Resolves false — the statement recorded as refused — when they cannot be made so: the door refuses it then.
   */
  async recordBeforeRun(verdict: Verdict, approval: { request_id: string; approved_by: string[] } | null, started: number, mayReuse = false): Promise<boolean> {
    const durable = this.recordDecisions(verdict, approval, mayReuse);
    if (!durable) return true;
    try {
      await durable;
      return true;
    } catch {
      this.recordResult(verdict, started, [], null, true);
      return false;
    }
  }

  /**
   * Records how each statement of a string ended: the first `tags.length` completed, the next one failed
   * with `code` when there is one, the rest did not run. `refused` = the door refused the string. `execution`:
   * the recordParameters id of a string run with parameters (one statement).
   */
  recordResult(verdict: Verdict, start: number, tags: readonly string[], code: string | null, refused = false, execution?: string): void {
    if (!this.#services.evidence) return;
    const ran = this.#executions.get(verdict);
    if (ran) return this.recordExecution(ran, start, tags[0] ?? null, code, refused);
    const duration = Date.now() - start;
    const refusal = this.#options.refusalCode;
    for (let i = 0; i < verdict.decisions.length; i++) {
      const tag = tags[i] ?? null;
      const failed = !refused && tag === null && i === tags.length && code !== null;
      this.#result(verdict.decisions[i]!.decision_id, duration, refused ? 'refused' : tag !== null ? 'ok' : failed ? 'error' : 'not_run', tag, refused ? refusal : failed ? code : null, execution);
    }
  }

  /** One execution of a portal or prepared statement: its result refers to the decision that admitted it. */
  recordExecution(ref: DecisionRef | null, start: number, tag: string | null, code: string | null, refused = false): void {
    if (!this.#services.evidence || !ref) return;
    const outcome = refused ? 'refused' : tag !== null ? 'ok' : code !== null ? 'error' : 'not_run';
    this.#result(ref.verdict.decisions[ref.index]!.decision_id, Date.now() - start, outcome, tag, refused ? this.#options.refusalCode : code, ref.execution);
  }

  /**
   * Records one execution of decided statement `index` of `verdict` with its parameters, before it runs: raw,
   * or keyed-hashed where the decision marks them sensitive (docs/evidence-format.md, statement_execution).
   * Returns the execution id to give its result (DecisionRef.execution), or undefined without evidence.
   *
   * @example
   * const execution = session.recordParameters(verdict, 0, bind.params, bind.paramFormats)
   */
  recordParameters(verdict: Verdict, index: number, params: readonly (Buffer | string | null)[], formats: readonly number[] = []): string | undefined {
    if (!this.#services.evidence) return undefined;
    const d = verdict.decisions[index]!;
    const { key, id } = parameterKeyOf(this.#services);
    const parameters = executionParameters(params, formats, d.sensitive_parameters ?? 'all', key);
    const execution_id = randomUUID();
    this.record({
      type: 'statement_execution',
      data: { session_id: this.id, decision_id: d.decision_id, execution_id, parameters, key_id: parameters.some((p) => 'hmac_sha256' in p) ? id : null },
    });
    return execution_id;
  }

  /**
   * Records what the client was sent for statement `index` of `verdict`: the digest of the delivered rows (as
   * masked for it) and, where the decision asks (capture_rows) and auditor keys are configured, the rows
   * themselves, bounded and encrypted to those keys. Without keys, rows are never kept: the record says so.
   *
   * @example
   * session.recordResponse(verdict, 0, ['name'], [['Ada Lovelace']], execution)
   */
  recordResponse(verdict: Verdict, index: number, columns: readonly string[], rows: readonly (readonly (string | null)[])[], execution?: string): void {
    if (!this.#services.evidence) return;
    const d = verdict.decisions[index]!;
    const digest = createRowDigest();
    for (const r of rows) digest.row(r);
    let captured: CapturedRows | null = null;
    if (d.capture_rows) {
      // Bounded: the first rows that fit both limits (bytes as framed for the digest).
      const kept: (string | null)[][] = [];
      let used = 0;
      for (const r of rows) {
        let size = 2;
        for (const c of r) size += 4 + (c === null ? 0 : Buffer.byteLength(c));
        if (kept.length >= d.capture_rows.max_rows || used + size > d.capture_rows.max_bytes) break;
        kept.push([...r]);
        used += size;
      }
      captured = { columns: [...columns], rows: kept, truncated: kept.length < rows.length };
    }
    this.#response(d, execution, digest.finish(), captured);
  }

  /** One statement_response: the digest, and the kept rows encrypted to the auditor keys when the decision asks. */
  #response(d: Verdict['decisions'][number], execution: string | undefined, digest: { sha256: string; rows: number; bytes: number }, captured: CapturedRows | null): void {
    const evidence = this.#services.evidence!;
    const base = { session_id: this.id, decision_id: d.decision_id, ...(execution ? { execution_id: execution } : {}), sha256: digest.sha256, rows: digest.rows, bytes: digest.bytes };
    const keys = evidence.auditorKeys ?? [];
    if (!d.capture_rows || !captured || keys.length === 0) {
      if (d.capture_rows && keys.length === 0) this.#services.log.warn('the policy asks to keep delivered rows, but no evidence.auditor_keys are configured: only their digest is kept', { decision_id: d.decision_id });
      this.record({ type: 'statement_response', data: { ...base, encrypted: null } });
      return;
    }
    const work = encryptRows(captured, keys).then(
      (jwe) => this.record({ type: 'statement_response', data: { ...base, encrypted: { jwe: jwe as unknown as Record<string, unknown>, rows: captured.rows.length, truncated: captured.truncated } } }),
      (err: Error) => {
        // Fail closed: never the rows in the clear; the digest still goes in, with the failure logged.
        this.#services.log.error('delivered rows could not be encrypted to the auditor keys; only their digest is kept', { error: err.message, decision_id: d.decision_id });
        this.record({ type: 'statement_response', data: { ...base, encrypted: null } });
      },
    );
    evidence.track?.(work);
  }

  /**
   * Records the digest of what the client was sent for statement `index` of `verdict`, computed by the door
   * over the rows as delivered (the PostgreSQL door hashes its DataRows), with the rows the door kept when
   * the decision asked (capture_rows).
   */
  recordResponseDigest(verdict: Verdict, index: number, digest: { sha256: string; rows: number; bytes: number; captured?: CapturedRows | null }, execution?: string): void {
    if (!this.#services.evidence) return;
    const ran = this.#executions.get(verdict);
    if (ran) return this.recordResponseDigest(ran.verdict, ran.index, digest, ran.execution);
    const d = verdict.decisions[index];
    // A statement that sends no result set (SET, BEGIN, a write without RETURNING) delivered nothing to digest.
    if (!d || (digest.rows === 0 && verdict.statements[index]?.kind !== 'select')) return;
    this.#response(d, execution, digest, digest.captured ?? (d.capture_rows ? { columns: [], rows: [], truncated: false } : null));
  }

  /**
   * A request the door refuses without a policy decision (a PostgreSQL FunctionCall, an unknown portal):
   * recorded as a denied statement with its own decision id and a refused result. Returns the decision id.
   */
  recordRefusal(text: string, rule: string, message: string): string {
    const decisionId = randomUUID();
    if (!this.#services.evidence) return decisionId;
    this.statements++;
    this.record({
      type: 'statement',
      data: {
        session_id: this.id,
        decision_id: decisionId,
        text,
        text_redacted: false,
        fingerprint: null,
        kind: 'unknown',
        action: 'deny',
        reasons: [{ rule, message }],
        input_hash: createHash('sha256').update(JSON.stringify({ text, rule })).digest('hex'),
        policy_revision: this.#services.engine(this.#options.upstream).revision ?? 'none',
        masks: [],
        approval: null,
        cached: false,
        purpose: this.#context.connection.purpose,
      },
    });
    this.#result(decisionId, 0, 'refused', null, this.#options.refusalCode);
    return decisionId;
  }

  /** Appends an event without waiting (session, result and approval events); failures are logged, never silent. */
  record(event: EvidenceEvent, parts?: readonly PolicyInputPart[]): void {
    const evidence = this.#services.evidence;
    if (!evidence) return;
    // post() takes no promise: append().catch() cost a promise, a derived promise and a microtask per event
    // (one per statement result). Stand-in writers may offer only append.
    if (evidence.post) {
      evidence.post(event, this.#onPostError, parts);
      return;
    }
    evidence.append(event, parts).catch((err: unknown) => this.#onPostError(err, event));
  }

  readonly #onPostError = (err: unknown, ev: EvidenceEvent): void => {
    // Evidence is failing: every statement waits for a durable line of its own again (and is refused without).
    this.#durable.clear();
    this.#services.metrics.errors.inc({ kind: 'evidence' });
    this.#services.log.error('evidence append failed', { error: (err as Error).message, type: ev.type });
  };

  #result(decisionId: string, duration: number, outcome: string, tag: string | null, code: string | null, execution?: string): void {
    const rows = tag ? Number(/ (\d+)$/.exec(tag)?.[1] ?? NaN) : NaN;
    this.record({
      type: 'statement_result',
      data: {
        session_id: this.id,
        decision_id: decisionId,
        outcome,
        rows: Number.isFinite(rows) ? rows : null,
        duration_ms: duration,
        sqlstate: code,
        command_tag: tag,
        ...(execution ? { execution_id: execution } : {}),
      },
    });
  }
}
