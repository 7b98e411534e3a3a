// Review evaluation for GitHub approval requests: is a filed request approved, rejected, void, expired or still
// pending — always re-read from GitHub over REST (a webhook only says when to look, and whom to ask about).
// Approved means: PR open, head still the gateway's commit, APPROVED reviews on that commit by enough active,
// human members of the teams the policy names, none of them the requester, not expired.
import { statusOf } from '../github/client.ts';
import { LABELS } from './github-render.ts';
import { labelNames, type FiledRequest, type Pull, type RestReader, type Review } from './github-rest.ts';
import type { ApprovalRequest, ApprovalState, Requester } from './provider.ts';

/** How GitHub logins relate to OIDC subjects, so a requester cannot approve their own request. */
export interface ReviewerIdentities {
  /** GitHub login → OIDC `sub` (case-insensitive logins). */
  logins?: Record<string, string>;
  /** The requester's GitHub login when the gateway knows it (e.g. from a `github_login` token claim). */
  requesterLogin?: (requester: Requester) => string | null | undefined;
  /**
   * Count reviewers about whom nothing is known (not in `logins`, and no `requesterLogin`) as not the
   * requester. Default false: such reviews do not count (fail closed).
   */
  allowUnmapped?: boolean;
}

export interface ReviewRules {
  owner: string;
  repo: string;
  /** The approvers' org, and the team that reviews when none of the policy's approver names is mapped. */
  team: { org: string; slug: string };
  /** Policy approver names (`team:phi-approvers` → `phi-approvers`) → team slugs in `team.org`. */
  teams?: Record<string, string>;
  identities?: ReviewerIdentities;
}

/** One evaluation of a request. */
export interface Evaluation {
  state: ApprovalState;
  /** Set when the request can never be approved any more: label its PR so, comment why, close it. */
  close?: { label: string; comment: string };
}

export interface ReviewEvaluator {
  /** The team slugs whose active members review `request` (its requirement's approvers, mapped). */
  teamsFor(request: ApprovalRequest): string[];
  /**
   * Re-reads the PR, its reviews and the reviewers' team memberships and says where the request stands.
   * `ask` names logins likely to have reviewed (a webhook's reviewer, the last approvers): their memberships
   * are read alongside the PR and its reviews instead of after them, and count only if their review does.
   * Rejects with octokit's error when GitHub cannot be read.
   */
  evaluate(filed: FiledRequest, now: Date, ask?: Iterable<string>): Promise<Evaluation>;
}

/**
 * The review rules over conditional reads.
 *
 * @example
 * const reviews = reviewEvaluator(rest, { owner: 'acme', repo: 'approvals', team: { org: 'acme', slug: 'dba' } });
 * const { state } = await reviews.evaluate(filed, new Date()); // { status: 'approved', approved_by: ['carol'], ... }
 */
export function reviewEvaluator(rest: RestReader, rules: ReviewRules): ReviewEvaluator {
  const { owner, repo } = rules;
  const logins = new Map(Object.entries(rules.identities?.logins ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const teamsMap = rules.teams ?? {};

  /** Whether `login` is the requester; null when nothing tells (see identities.allowUnmapped). */
  function isRequester(login: string, requester: Requester): boolean | null {
    const l = login.toLowerCase();
    // Same name counts as the requester even if the IdP's username means something else: fail closed.
    if (l === requester.username.toLowerCase()) return true;
    const mapped = logins.get(l);
    const theirs = rules.identities?.requesterLogin?.(requester)?.toLowerCase() ?? null;
    if (mapped === requester.sub || theirs === l) return true;
    if (mapped !== undefined || theirs !== null) return false;
    return rules.identities?.allowUnmapped ? false : null;
  }

  function teamsFor(request: ApprovalRequest): string[] {
    const slugs = new Set<string>();
    for (const a of request.requirement.approvers) {
      const name = a.includes(':') ? a.slice(a.indexOf(':') + 1) : a;
      const slug = teamsMap[name];
      if (slug) slugs.add(slug);
    }
    if (slugs.size === 0) slugs.add(rules.team.slug);
    return [...slugs];
  }

  /** Active in one of `slugs` (GET /orgs/{org}/teams/{team_slug}/memberships/{username}; 404: not a member). */
  async function isActiveMember(login: string, slugs: string[]): Promise<boolean> {
    const answers = await Promise.all(
      slugs.map((slug) =>
        rest.get<{ state: string }>('GET /orgs/{org}/teams/{team_slug}/memberships/{username}', { org: rules.team.org, team_slug: slug, username: login }).then(
          (m) => m.state === 'active',
          (err: unknown) => {
            if (statusOf(err) !== 404) throw err;
            return false;
          },
        ),
      ),
    );
    return answers.some(Boolean);
  }

  async function evaluate(filed: FiledRequest, now: Date, ask: Iterable<string> = []): Promise<Evaluation> {
    const { request, number, commit } = filed;
    const slugs = teamsFor(request);
    // One membership read per login and evaluation; started early for the logins asked about. A read that is
    // never awaited (its review did not count) must not surface as an unhandled rejection.
    const memberships = new Map<string, Promise<boolean>>();
    const member = (login: string): Promise<boolean> => {
      const key = login.toLowerCase();
      let p = memberships.get(key);
      if (!p) {
        p = isActiveMember(login, slugs);
        p.catch(() => undefined);
        memberships.set(key, p);
      }
      return p;
    };
    // Saves a round trip after the webhook (the membership no longer waits for the review list); costs one
    // membership read per asked login whose review turns out not to count.
    for (const login of ask) if (isRequester(login, request.requester) === false) member(login);

    const [pr, reviews] = await Promise.all([
      rest.get<Pull>('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner, repo, pull_number: number }),
      rest.getAll<Review>('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', { owner, repo, pull_number: number }),
    ]);
    const labels = labelNames(pr);
    if (labels.has(LABELS.used)) return { state: { status: 'consumed' } };
    if (labels.has(LABELS.withdrawn)) return { state: { status: 'withdrawn' } };
    if (labels.has(LABELS.expired)) return { state: { status: 'expired' } };

    // A reviewer's latest APPROVED / CHANGES_REQUESTED / DISMISSED review is their position (GitHub's own
    // rule); COMMENTED and PENDING reviews change nothing.
    const latest = new Map<string, Review>();
    for (const r of reviews.sort((a, b) => a.id - b.id)) {
      if (r.user && (r.state === 'APPROVED' || r.state === 'CHANGES_REQUESTED' || r.state === 'DISMISSED')) latest.set(r.user.login.toLowerCase(), r);
    }
    /** Human, not the requester, active in a required team. */
    const validApprover = (r: Review): Promise<boolean> => {
      if (!r.user || r.user.type !== 'User') return Promise.resolve(false);
      if (isRequester(r.user.login, request.requester) !== false) return Promise.resolve(false);
      return member(r.user.login);
    };
    const headIsOurs = pr.head.sha === commit && pr.head.ref === `verdict/${request.id}`;
    const open = pr.state === 'open';
    const expired = Date.parse(request.expires_at) <= now.getTime();
    const objections = [...latest.values()].filter((r) => r.state === 'CHANGES_REQUESTED');
    const approvals = headIsOurs && open && !expired ? [...latest.values()].filter((r) => r.state === 'APPROVED' && r.commit_id === commit) : [];
    // Every membership that can matter is read at once; the outcome is still decided in the order below.
    const objectionValid = objections.map(validApprover);
    const approvalValid = approvals.map(validApprover);
    for (const p of approvalValid) p.catch(() => undefined);

    for (const [i, r] of objections.entries()) {
      if (await objectionValid[i]!) {
        const state: ApprovalState = { status: 'rejected', by: r.user!.login, reason: `changes requested in review ${r.id}` };
        if (!open) return { state };
        return { state, close: { label: LABELS.rejected, comment: `Rejected by @${r.user!.login} (review ${r.id}). This request can no longer be approved; the requester may file a new one.` } };
      }
    }
    if (!headIsOurs) {
      const state: ApprovalState = { status: 'rejected', by: 'github', reason: `void: the request branch was pushed to (head ${pr.head.sha.slice(0, 12)}, gateway commit ${commit.slice(0, 12)})` };
      if (!open) return { state };
      return { state, close: { label: LABELS.rejected, comment: `Void: the branch now points at ${pr.head.sha}, not at the gateway's commit ${commit}. A request whose branch was pushed to can never be approved.` } };
    }
    if (!open) {
      const merged = pr.merged === true || pr.merged_at !== null;
      return { state: { status: 'rejected', by: 'github', reason: merged ? `pull request #${number} was merged; approvals count only on an open request` : `pull request #${number} was closed without merging` } };
    }
    if (expired) return { state: { status: 'expired' }, close: { label: LABELS.expired, comment: `Expired at ${request.expires_at} without enough approvals.` } };

    const approvedBy: string[] = [];
    const reviewIds: string[] = [];
    for (const [i, r] of approvals.entries()) {
      if (!(await approvalValid[i]!)) continue;
      approvedBy.push(r.user!.login);
      reviewIds.push(String(r.id));
    }
    if (approvedBy.length >= Math.max(1, request.requirement.min_approvals)) return { state: { status: 'approved', approved_by: approvedBy, review_ids: reviewIds } };
    return { state: { status: 'pending' } };
  }

  return { teamsFor, evaluate };
}
