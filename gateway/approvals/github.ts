// The GitHub approval provider: a request is one gateway-made commit on its own branch plus a pull request;
// it is approved only by APPROVED reviews on that exact commit from human, non-requester team members.
// Filing is in github-filing.ts, the review rules in github-review.ts, the PR text in github-render.ts; this
// file holds a request's life: waiting (polls, webhook wake-ups), once-only use, withdrawal, outcome comments.
import { createGitHubClient, githubMessage, statusOf, type GitHubAuth, type GitHubClient, type GitHubClientTuning } from '../github/client.ts';
import { requestFiling } from './github-filing.ts';
import { decodeMarker, ic, LABELS, md } from './github-render.ts';
import { GitHubApprovalError } from './errors.ts';
import { backgroundQueue, classify, conditionalReader, labelNames, type FiledRequest, type Pull } from './github-rest.ts';
import { reviewEvaluator, type Evaluation, type ReviewerIdentities } from './github-review.ts';
import type { ApprovalProvider, ApprovalRequest, ApprovalState, ApprovalSubject, BreakGlassInput } from './provider.ts';
import type { WebhookEvent } from './webhook.ts';

export { defaultRiskLabels, LABELS } from './github-render.ts';
export type { ReviewerIdentities } from './github-review.ts';

// ---------------------------------------------------------------------------------------------
// Public types

export interface GitHubApprovalsOptions {
  /** The approvals repository (private; only the gateway should be able to push to it). */
  owner: string;
  repo: string;
  /** Branch pull requests target (default "main"); it must have at least one commit. */
  baseBranch?: string;
  /** The required approvers team: reviewers must be *active* members (GET /orgs/{org}/teams/{slug}/memberships/{login}). */
  team: { org: string; slug: string };
  /**
   * Policy approver names → team slugs in `team.org`. A requirement of `["team:phi-approvers"]` with
   * `{ 'phi-approvers': 'phi-approvers' }` checks that team instead of `team.slug`; approver names not
   * listed here fall back to `team.slug`.
   */
  teams?: Record<string, string>;
  /** How GitHub logins relate to OIDC subjects, so a requester cannot approve their own request. */
  identities?: ReviewerIdentities;
  /** Token or GitHub App installation (permissions: contents write, pull_requests write, members read). */
  auth?: GitHubAuth;
  /** https://api.github.com by default; GitHub Enterprise Server: https://ghe.example.com/api/v3. */
  baseUrl?: string;
  client?: GitHubClientTuning;
  /** A ready client instead of auth/baseUrl/client. */
  octokit?: GitHubClient;
  /** Author and committer of request commits (default: the credential's own identity). */
  author?: { name: string; email: string };
  /**
   * The login pull requests are opened as ("verdict-gateway[bot]" for an App with slug verdict-gateway).
   * Needed with App auth for requests another instance filed; learned from GET /user with a token.
   */
  gatewayLogin?: string;
  /** Poll interval while waiting; webhooks wake waiters early (default 10 s; 304s are free). */
  pollMs?: number;
  /** Labels for a request (default: `verdict:approval` plus a `risk:*` label from defaultRiskLabels). */
  labels?: (subject: ApprovalSubject) => string[];
  /** Affected tables and a cheap estimate for the PR body (the gateway's analysis knows them best). */
  describe?: (subject: ApprovalSubject) => { tables?: string[]; estimate?: string } | null | undefined;
  log?: { info(msg: string): void; warn(msg: string): void };
}

/** What the evidence needs about a request beyond its state. */
export interface GitHubRequestInfo {
  id: string;
  /** Pull request number and html_url. */
  number: number;
  link: string;
  /** The gateway's commit: the only commit approvals count on. */
  commit: string;
  hash: string;
}

/** The outcome comment posted on the PR after the statement ran. */
export interface ApprovalOutcome {
  executedAt: Date;
  rowsAffected?: number | null;
  /** Evidence reference (e.g. decision id, stream/sequence or commit). */
  evidence?: string;
  error?: string;
}

export interface GitHubApprovalProvider extends ApprovalProvider {
  /** Marks used (exactly one caller across instances gets true); an outcome, if given, goes into the PR comment. */
  consume(id: string, outcome?: ApprovalOutcome): Promise<boolean>;
  /**
   * A webhook says something changed: waiters re-read state over the REST API now (one that is reading at
   * that moment reads again). A `reviewer` is asked about first (their team membership is read alongside the
   * PR and its reviews); it counts only if GitHub's review list says so.
   */
  wake(event?: Pick<WebhookEvent, 'pullNumber' | 'headRef' | 'repository'> & { reviewer?: string | null }): void;
  /** Comments the execution outcome on the request's PR (after consume). */
  report(id: string, outcome: ApprovalOutcome): Promise<void>;
  /** PR number, link, commit and hash of a request (for evidence). */
  info(id: string): Promise<GitHubRequestInfo>;
  /** Opens an after-the-fact PR for a break-glass execution, labelled `break-glass`. */
  breakGlass(subject: ApprovalSubject, input: BreakGlassInput, now?: Date): Promise<{ request: ApprovalRequest; link: string; number: number }>;
  /** Resolves when background PR comments/closes are done (tests, shutdown). */
  settled(): Promise<void>;
  /** Conditional-request counters: 304s cost no rate limit. */
  readonly stats: { requests: number; notModified: number };
}

const ID = /^req-[0-9a-z]{12}$/;

/**
 * consume() tags while it re-verifies only for a request this instance read as approved at most this long
 * ago (wait() or findApproved() just did); otherwise it verifies first, so a request that was never approved
 * is never tagged.
 */
const CLAIM_WHILE_VERIFYING_MS = 1000;

/** A non-approved state in words, for the PR comment. */
function describeState(s: ApprovalState): string {
  switch (s.status) {
    case 'rejected':
      return `rejected by ${s.by}: ${s.reason}`;
    case 'pending':
      return 'not enough valid approvals any more: one was dismissed, changed, or its reviewer left the team';
    default:
      return s.status;
  }
}

/**
 * The GitHub approval provider. create() commits `requests/<id>.json` on branch `verdict/<id>` (one commit,
 * git data API) and opens a PR; state() re-reads the PR and its reviews over REST (conditional requests:
 * unchanged answers are 304s that cost no rate limit): PR open, head still the gateway commit, APPROVED on
 * that commit by active human team members other than the requester, enough of them, not expired.
 * consume() is once-only across instances: it creates the tag `verdict-used/<id>` on the request commit,
 * which GitHub refuses (422) to a second creator, then labels `verdict:used`, comments and closes the PR.
 *
 * @example
 * const approvals = githubApprovals({
 *   owner: 'acme', repo: 'verdict-approvals', team: { org: 'acme', slug: 'dba' },
 *   auth: { appId: 12345, privateKey: pem, installationId: 678 }, gatewayLogin: 'verdict-gateway[bot]',
 *   identities: { logins: { carol: 'oidc|carol', bob: 'oidc|bob' } },
 * });
 * const { request, link } = await approvals.create(subject); // link: the PR's html_url
 */
export function githubApprovals(options: GitHubApprovalsOptions): GitHubApprovalProvider {
  const { owner, repo } = options;
  const base = options.baseBranch ?? 'main';
  const pollMs = options.pollMs ?? 10_000;
  const log = options.log ?? { info() {}, warn: (m: string) => process.stderr.write(`github approvals: ${m}\n`) };
  const records = new Map<string, FiledRequest>();
  const byNumber = new Map<number, string>();
  const waiters = new Map<string, Set<() => void>>();
  /** Per request being waited on: wake-ups so far (a wait compares them across its read) and waits. */
  const watching = new Map<string, { waits: number; wakes: number }>();
  /** Per request: logins to ask GitHub about first (a webhook's reviewer, the last approvers); at most 1000 requests. */
  const asks = new Map<string, Set<string>>();
  /** Per request this instance last read as approved: when (Date.now()). */
  const approvedAt = new Map<string, number>();
  const consuming = new Set<string>();
  const consumed = new Set<string>();
  const finalized = new Set<string>();
  let client: Promise<GitHubClient> | undefined;

  const gh = (): Promise<GitHubClient> => {
    if (!client) {
      if (options.octokit) client = Promise.resolve(options.octokit);
      else if (options.auth) client = createGitHubClient({ ...options.client, auth: options.auth, ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}) });
      else throw new GitHubApprovalError('CONFIG', 'githubApprovals needs auth (token or GitHub App) or an octokit client');
      client.catch(() => (client = undefined));
    }
    return client;
  };
  const rest = conditionalReader(gh);
  const background = backgroundQueue(log);
  const reviews = reviewEvaluator(rest, { owner, repo, team: options.team, ...(options.teams ? { teams: options.teams } : {}), ...(options.identities ? { identities: options.identities } : {}) });
  const filing = requestFiling(
    gh,
    rest,
    {
      owner,
      repo,
      base,
      org: options.team.org,
      appAuth: options.auth !== undefined && 'appId' in options.auth,
      ...(options.author ? { author: options.author } : {}),
      ...(options.gatewayLogin ? { gatewayLogin: options.gatewayLogin } : {}),
      ...(options.labels ? { labels: options.labels } : {}),
      ...(options.describe ? { describe: options.describe } : {}),
    },
    reviews.teamsFor,
  );

  function remember(rec: FiledRequest): FiledRequest {
    records.set(rec.request.id, rec);
    byNumber.set(rec.number, rec.request.id);
    return rec;
  }

  async function load(id: string): Promise<FiledRequest> {
    if (!ID.test(id)) throw new GitHubApprovalError('NOT_FOUND', `no approval request ${JSON.stringify(id)} (ids look like req-xxxxxxxxxxxx)`);
    return records.get(id) ?? remember(await filing.reconstruct(id));
  }

  /** Labels, comments and closes the PR of a request that can no longer be approved (once, off the caller's path). */
  function finalize(rec: FiledRequest, label: string, comment: string): void {
    if (finalized.has(rec.request.id)) return;
    finalized.add(rec.request.id);
    background.later(`closing ${rec.link}`, async () => {
      const o = await gh();
      await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { owner, repo, issue_number: rec.number, labels: [label] });
      await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: rec.number, body: comment });
      await o.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { owner, repo, pull_number: rec.number, state: 'closed' });
    });
  }

  function ask(id: string, logins: Iterable<string>): void {
    let set = asks.get(id);
    if (!set) {
      asks.set(id, (set = new Set()));
      if (asks.size > 1000) asks.delete(asks.keys().next().value as string);
    }
    for (const l of logins) set.add(l);
  }

  async function state(id: string, now = new Date()): Promise<ApprovalState> {
    const rec = await load(id);
    if (consumed.has(id)) return { status: 'consumed' };
    let e: Evaluation;
    try {
      e = await reviews.evaluate(rec, now, asks.get(id) ?? []);
    } catch (err) {
      throw classify(err, `reading approval ${id}`);
    }
    if (e.close) finalize(rec, e.close.label, e.close.comment);
    // consume() re-reads right after an approval: the approvers' memberships then go with the PR and reviews.
    approvedAt.delete(id);
    if (e.state.status === 'approved') {
      ask(id, e.state.approved_by);
      approvedAt.set(id, Date.now());
      if (approvedAt.size > 1000) approvedAt.delete(approvedAt.keys().next().value as string);
    } else if (e.state.status !== 'pending') asks.delete(id);
    return e.state;
  }

  function sleepOrWake(id: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      let set = waiters.get(id);
      if (!set) waiters.set(id, (set = new Set()));
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        set!.delete(done);
        if (set!.size === 0) waiters.delete(id);
        resolve();
      };
      const t = setTimeout(done, ms);
      set.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  const withdraw = async (id: string): Promise<void> => {
    const rec = await load(id);
    try {
      const o = await gh();
      await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { owner, repo, issue_number: rec.number, labels: [LABELS.withdrawn] });
    } catch (err) {
      throw classify(err, `withdrawing ${id}`);
    }
    finalized.add(id);
    background.later(`closing ${rec.link}`, async () => {
      const o = await gh();
      await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: rec.number, body: 'Withdrawn: the client stopped waiting (cancelled or disconnected). Nothing was executed.' });
      await o.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { owner, repo, pull_number: rec.number, state: 'closed' });
    });
  };

  const outcomeText = (o: ApprovalOutcome) =>
    [
      `- Executed at: ${o.executedAt.toISOString()}`,
      ...(o.rowsAffected !== undefined && o.rowsAffected !== null ? [`- Rows affected: ${o.rowsAffected}`] : []),
      ...(o.error ? [`- Error: ${md(o.error)}`] : []),
      ...(o.evidence ? [`- Evidence: ${ic(o.evidence)}`] : []),
    ].join('\n');

  const provider: GitHubApprovalProvider = {
    name: 'github',
    stats: rest.stats,

    async create(subject, now = new Date()) {
      const filed = remember(await filing.create(subject, now));
      log.info(`filed ${filed.request.id} as ${filed.link}`);
      return { request: filed.request, link: filed.link };
    },

    state,

    async request(id) {
      const rec = await load(id);
      return { request: rec.request, link: rec.link };
    },

    async wait(id, { signal, timeoutMs }) {
      const deadline = Date.now() + timeoutMs;
      let watch = watching.get(id);
      if (!watch) watching.set(id, (watch = { waits: 0, wakes: 0 }));
      watch.waits++;
      try {
        for (;;) {
          // A webhook that arrives while GitHub is being read may describe a change that read missed: it
          // must not be lost until the next poll (poll_seconds), so a wake-up during the read reads again.
          const wakes = watch.wakes;
          let s: ApprovalState = { status: 'pending' };
          try {
            s = await state(id);
          } catch (err) {
            const e = classify(err, `reading approval ${id}`);
            if (e.code !== 'UNAVAILABLE') throw e;
            log.warn(`${e.message}; will retry`); // an outage keeps the request pending, never approves it
          }
          if (s.status !== 'pending') return s;
          if (signal.aborted) {
            await withdraw(id).catch((err: unknown) => log.warn(`withdrawing ${id}: ${githubMessage(err)}`));
            return { status: 'withdrawn' };
          }
          const left = deadline - Date.now();
          if (left <= 0) return { status: 'expired' };
          if (watch.wakes !== wakes) continue;
          await sleepOrWake(id, Math.min(pollMs, left), signal);
        }
      } finally {
        if (--watch.waits === 0) watching.delete(id);
      }
    },

    async consume(id, outcome) {
      // One caller per instance proceeds; across instances the tag below decides.
      if (consumed.has(id) || consuming.has(id)) return false;
      consuming.add(id);
      try {
        const rec = await load(id);
        const o = await gh();
        /** Creates the tag `verdict-used/<id>`: true for the one creator, false when it exists (422). */
        const claim = async (): Promise<boolean> => {
          try {
            await o.rest.git.createRef({ owner, repo, ref: `refs/tags/verdict-used/${id}`, sha: rec.commit });
            return true;
          } catch (err) {
            if (statusOf(err) !== 422) throw classify(err, `marking ${id} used`);
            return false;
          }
        };
        const used = (s: Extract<ApprovalState, { status: 'approved' }> | null, note: string | null) => {
          consumed.add(id);
          finalized.add(id);
          asks.delete(id);
          approvedAt.delete(id);
          // Off the statement's path: the tag already guards every instance; the label tells people and
          // lets other instances' state() say "consumed" without reading tags.
          background.later(`closing ${rec.link}`, async () => {
            await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { owner, repo, issue_number: rec.number, labels: [LABELS.used] });
            const body = s
              ? [
                  `Used once by the gateway at ${new Date().toISOString()}, approved by ${s.approved_by.map((l) => `@${l}`).join(', ')} (reviews ${s.review_ids.join(', ')}) on \`${rec.commit}\`.`,
                  ...(outcome ? ['', outcomeText(outcome)] : []),
                ].join('\n')
              : `Not run: ${note}. The gateway had already marked the request used, so it cannot run now; the requester may file a new one.`;
            await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: rec.number, body });
            await o.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { owner, repo, pull_number: rec.number, state: 'closed' });
          });
        };
        const lost = async () => {
          // Someone else used it first; make sure the label says so (they may have crashed before it).
          await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { owner, repo, issue_number: rec.number, labels: [LABELS.used] }).catch(() => undefined);
          consumed.add(id);
          return false;
        };

        // Verified again at the moment of use, never trusted from wait(). Done in order (re-read, then tag),
        // the statement waits for three GitHub round trips after the webhook: the read that found the
        // approval, the re-read, the tag. When this instance read the request as approved a moment ago, the
        // re-read and the tag go out together, so it waits for two. The re-read still decides whether the
        // statement runs; what changes is the cost of a re-read that disagrees (the approval was dismissed or
        // the branch pushed to within that round trip): the tag is made by then, so the request is spent
        // without running, and its PR says why. Trade-off measured with bench:approvals (review → held
        // statement executed, GitHub simulator, 50 samples, 2 shared cores), before → after this and the
        // concurrent reads in github-review.ts: p50 121–134 → 67–69 ms, p99 230–372 → 110–111 ms.
        const seen = approvedAt.get(id);
        if (seen !== undefined && Date.now() - seen <= CLAIM_WHILE_VERIFYING_MS) {
          const [verified, tagged] = await Promise.allSettled([state(id), claim()]);
          if (tagged.status === 'rejected') throw tagged.reason;
          if (!tagged.value) return await lost();
          if (verified.status === 'rejected') {
            used(null, `GitHub could not be read to verify the approval at its use (${githubMessage(verified.reason)})`);
            throw verified.reason;
          }
          if (verified.value.status !== 'approved') {
            used(null, `at its use the request was no longer approved (${describeState(verified.value)})`);
            return false;
          }
          used(verified.value, null);
          return true;
        }
        const s = await state(id);
        if (s.status !== 'approved') return false;
        if (!(await claim())) return await lost();
        used(s, null);
        return true;
      } finally {
        consuming.delete(id);
      }
    },

    withdraw,

    async findApproved(hash, requesterSub, now = new Date()) {
      let pulls: Pull[];
      try {
        pulls = await rest.getAll<Pull>('GET /repos/{owner}/{repo}/pulls', { owner, repo, state: 'open', base });
      } catch (err) {
        throw classify(err, 'listing approval requests');
      }
      for (const pr of pulls) {
        if (!labelNames(pr).has(LABELS.approval)) continue;
        const marker = decodeMarker(pr.body);
        // The marker only narrows the search; the request file at the gateway's commit decides.
        if (!marker || marker.hash !== hash || marker.requester !== requesterSub || !ID.test(marker.id)) continue;
        let rec: FiledRequest;
        try {
          rec = records.get(marker.id) ?? remember(await filing.reconstruct(marker.id, pr));
        } catch (err) {
          log.warn(`skipping ${pr.html_url}: ${githubMessage(err)}`);
          continue;
        }
        if (rec.request.hash !== hash || rec.request.requester.sub !== requesterSub) continue;
        if ((await state(marker.id, now)).status === 'approved') return rec.request;
      }
      return null;
    },

    wake(event) {
      if (event?.repository && event.repository.toLowerCase() !== `${owner}/${repo}`.toLowerCase()) return;
      const fromRef = event?.headRef?.startsWith('verdict/') ? event.headRef.slice('verdict/'.length) : undefined;
      const id = fromRef ?? (event?.pullNumber != null ? byNumber.get(event.pullNumber) : undefined);
      // Unknown PR (another instance's request, or no detail): wake everyone; they re-read anyway.
      const watches = id !== undefined ? [watching.get(id)] : [...watching.values()];
      for (const w of watches) if (w) w.wakes++;
      if (id !== undefined && watching.has(id) && event?.reviewer) ask(id, [event.reviewer]);
      const targets = id !== undefined ? [waiters.get(id)] : [...waiters.values()];
      for (const set of targets) for (const w of [...(set ?? [])]) w();
    },

    async report(id, outcome) {
      const rec = await load(id);
      background.later(`reporting on ${rec.link}`, async () => {
        const o = await gh();
        await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: rec.number, body: `Outcome\n\n${outcomeText(outcome)}` });
      });
    },

    async info(id) {
      const rec = await load(id);
      return { id, number: rec.number, link: rec.link, commit: rec.commit, hash: rec.request.hash };
    },

    async breakGlass(subject, input, now = new Date()) {
      const filed = await filing.breakGlass(subject, input, now);
      return { request: filed.request, link: filed.link, number: filed.number };
    },

    settled: () => background.settled(),
  };
  return provider;
}

/**
 * Opens the after-the-fact pull request for a break-glass execution (labelled `break-glass`, with the
 * request JSON and the stated reason); the same as `provider.breakGlass(...)`.
 *
 * @example
 * const { link } = await openBreakGlassPullRequest(approvals, subject, { reason: 'INC-4711: stuck payroll run', evidence: decisionId });
 */
export function openBreakGlassPullRequest(
  provider: GitHubApprovalProvider,
  subject: ApprovalSubject,
  input: BreakGlassInput,
  now?: Date,
): Promise<{ request: ApprovalRequest; link: string; number: number }> {
  if (!input.reason.trim()) return Promise.reject(new GitHubApprovalError('CONFIG', 'break-glass needs a stated reason'));
  return provider.breakGlass(subject, input, now);
}
