// How a decided statement is let through when its decision asks for more than allow or mask: approval
// (hold or rerun), the measured blast radius of a write, break-glass review after the fact. Every step is
// evidence, recorded through the session (session.ts), which delegates its admit/measure/breakGlass here.
import { BREAK_GLASS_RULE, type ApprovalRequirement } from '../../engine/decision/decision.ts';
import { dialectOf, type Verdict } from '../../engine/engine.ts';
import type { EvidenceEvent } from '../../engine/evidence/events.ts';
import type { ApprovalInput } from '../../engine/policy/input.ts';
import type { BlastRadius } from '../../engine/sql/types.ts';
import type { ApprovalState, ApprovalSubject } from '../approvals/provider.ts';
import { subjectAnalysis, subjectHash } from '../approvals/provider.ts';
import type { PipelineServices, PipelineSessionOptions } from './services.ts';

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

/** What admission uses of its session (a `PipelineSession`): its evidence id, its decisions and its evidence. */
export interface AdmissionSession {
  readonly id: string;
  decide(sql: string, approval?: ApprovalInput | null, blastRadius?: readonly (BlastRadius | null)[] | null): Verdict;
  recordDecisions(verdict: Verdict, approval?: { request_id: string; approved_by: string[] } | null): Promise<void> | null;
  record(event: EvidenceEvent): void;
}

/**
 * The admission side of one pipeline session: approvals (with the wait of a held statement), measurement and
 * break-glass.
 *
 * @example
 * const admission = new SessionAdmission(services, options, session);
 * const next = await admission.admit(sql, [], verdict, null); // { kind: 'refuse', request: { id, link }, … }
 */
export class SessionAdmission {
  readonly #services: PipelineServices;
  readonly #options: PipelineSessionOptions;
  readonly #session: AdmissionSession;
  /** The blast radii each measured verdict was decided with (shown to approvers). */
  readonly #radii = new WeakMap<Verdict, readonly (BlastRadius | null)[]>();

  constructor(services: PipelineServices, options: PipelineSessionOptions, session: AdmissionSession) {
    this.#services = services;
    this.#options = options;
    this.#session = session;
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
    const n = verdict.decisions.indexOf(decision);
    const o = this.#options;
    const i = o.identity;
    const session = this.#session;
    const approvals = this.#services.approvals;
    const log = this.#services.log;
    const subject = this.#subject(verdict, n, sql, params, requirement, this.#radii.get(verdict)?.[n] ?? null);
    const refuse = (message: string, canceled = false): Extract<Admission, { kind: 'refuse' }> => ({ kind: 'refuse', message, canceled });
    const reasons = decision.reasons.map((r) => r.message).join('; ');
    const runApproved = async (requestId: string, state: Extract<ApprovalState, { status: 'approved' }>): Promise<Admission> => {
      if (!(await approvals.consume(requestId))) return refuse(`approval ${requestId} was already used; an approval runs its statement once`);
      session.record({ type: 'approval_granted', data: { request_id: requestId, approved_by: state.approved_by, review_ids: state.review_ids } });
      const approved = session.decide(sql, { request_id: requestId, approved_by: state.approved_by, review_ids: state.review_ids });
      const ref = { request_id: requestId, approved_by: state.approved_by };
      if (approved.action === 'deny' || approved.action === 'approve') {
        session.recordDecisions(approved, ref)?.catch(() => undefined);
        const denied = approved.decisions.find((d) => d.action === 'deny') ?? approved.decisions[0]!;
        return refuse(`Verdict denied this statement even with approval ${requestId}: ${denied.reasons[0]?.message ?? ''}`);
      }
      return { kind: 'run', verdict: approved, approval: ref };
    };
    const requested = (request: { id: string; hash: string; expires_at: string }, link: string) => {
      session.recordDecisions(verdict)?.catch(() => undefined); // the `approve` decision itself
      session.record({
        type: 'approval_requested',
        data: {
          request_id: request.id,
          session_id: session.id,
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
        session.record({ type: 'approval_rejected', data: { request_id: request.id, by: state.by, reason: state.reason } });
        return refuse(`approval request ${request.id} was rejected by ${state.by}${state.reason ? `: ${state.reason}` : ''}`);
      case 'withdrawn':
        session.record({ type: 'approval_withdrawn', data: { request_id: request.id, by: i.username, reason: 'withdrawn by the requester (the client cancelled)' } });
        return refuse(`canceling statement due to user request; approval request ${request.id} was withdrawn`, true);
      default:
        session.record({ type: 'approval_expired', data: { request_id: request.id } });
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
    const verdict = this.#session.decide(sql, null, radii);
    this.#radii.set(verdict, radii);
    this.#services.log.info('blast radius measured', { user: this.#options.identity.username, radii, action: verdict.action });
    return verdict;
  }

  /**
   * Break-glass: the policy let a statement that needs approval run at once on a stated reason
   * (rule `approvals.break_glass`). The request is filed after the fact for the reviewers the decision names
   * (its `approval`, from the policy; a PR labelled break-glass with GitHub) and recorded as evidence. Call it
   * with every verdict sent upstream: the rule is looked for here, and decisions without it file nothing.
   */
  breakGlass(verdict: Verdict, parameters: readonly (Buffer | string | null)[] = []): void {
    const i = this.#options.identity;
    const session = this.#session;
    const log = this.#services.log;
    for (let n = 0; n < verdict.decisions.length; n++) {
      const d = verdict.decisions[n]!;
      const bg = d.reasons.find((r) => r.rule === BREAK_GLASS_RULE);
      if (!bg) continue;
      // Decision validation requires the review requirement with this reason; without it nothing says who reviews.
      if (!d.approval) {
        log.error('break-glass decision names no reviewers; no review filed', { decision_id: d.decision_id });
        continue;
      }
      // Text for the reviewer, made only here: the doors call this for every statement they send.
      const text = parameters.map((p) => (p === null || typeof p === 'string' ? p : p.toString('utf8')));
      const subject = this.#subject(verdict, n, verdict.statements[n]?.text ?? '', text, d.approval);
      log.warn('break-glass statement', { user: i.username, decision_id: d.decision_id, reason: bg.message });
      this.#services.metrics.approvalsRequested.inc({ mode: 'break_glass' });
      this.#services.approvals.breakGlass(subject, { reason: bg.message, executedAt: new Date(), evidence: d.decision_id }).then(
        ({ request, link }) =>
          session.record({
            type: 'approval_requested',
            data: {
              request_id: request.id,
              session_id: session.id,
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

  /**
   * The approval subject of statement `n` of `verdict`, for an approval request and a break-glass review alike:
   * the statement and parameters as given (with the requester and target, what an approval binds: subjectHash),
   * the decision's reasons, the gateway's analysis, and `blastRadius` when the request carries one (approvals).
   */
  #subject(verdict: Verdict, n: number, statement: string, parameters: (string | null)[], requirement: ApprovalRequirement, blastRadius?: BlastRadius | null): ApprovalSubject {
    const o = this.#options;
    const i = o.identity;
    const d = verdict.decisions[n]!;
    const a = verdict.statements[n];
    return {
      statement,
      parameters,
      fingerprint: d.fingerprint,
      requester: { sub: i.sub, username: i.username, email: i.email, groups: i.groups },
      target: { upstream: o.upstream, database: o.database },
      reasons: d.reasons,
      policy_revision: d.policy_revision,
      requirement,
      ...(blastRadius !== undefined ? { blast_radius: blastRadius } : {}),
      ...(a ? { analysis: subjectAnalysis(a) } : {}),
    };
  }
}
