// The GitHub approval provider: a request is one gateway-made commit on its own branch plus a pull request;
// it is approved only by APPROVED reviews on that exact commit from human, non-requester team members.
import { randomBytes } from 'node:crypto';
import { commitFiles, createGitHubClient, githubMessage, statusOf, type GitHubAuth, type GitHubClient, type GitHubClientTuning } from '../github/client.ts';
import { subjectHash, type ApprovalProvider, type ApprovalRequest, type ApprovalState, type ApprovalSubject, type Requester } from './provider.ts';
import type { WebhookEvent } from './webhook.ts';
import { decodeMarker, defaultRiskLabels, encodeMarker, LABELS, md, ic, renderBody } from './github-render.ts';

export { defaultRiskLabels, LABELS } from './github-render.ts';

// ---------------------------------------------------------------------------------------------
// Public types

export type GitHubApprovalErrorCode =
  /** No such request (unknown id, or no pull request of the gateway's for it). */
  | 'NOT_FOUND'
  /** GitHub could not be reached, answered 5xx or rate-limited us: try again later. */
  | 'UNAVAILABLE'
  /** Credentials rejected or missing permissions (401/403). */
  | 'FORBIDDEN'
  /** What is on GitHub does not match what the gateway filed (edited marker, forged commit or file). */
  | 'TAMPERED'
  /** The provider is configured in a way that cannot work (e.g. no gatewayLogin with App auth). */
  | 'CONFIG';

export class GitHubApprovalError extends Error {
  override name = 'GitHubApprovalError';
  constructor(
    readonly code: GitHubApprovalErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

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
  identities?: {
    /** GitHub login → OIDC `sub` (case-insensitive logins). */
    logins?: Record<string, string>;
    /** The requester's GitHub login when the gateway knows it (e.g. from a `github_login` token claim). */
    requesterLogin?: (requester: Requester) => string | null | undefined;
    /**
     * Count reviewers about whom nothing is known (not in `logins`, and no `requesterLogin`) as not the
     * requester. Default false: such reviews do not count (fail closed).
     */
    allowUnmapped?: boolean;
  };
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
  /** A webhook says something changed: waiters re-read state over the REST API now. */
  wake(event?: Pick<WebhookEvent, 'pullNumber' | 'headRef' | 'repository'>): void;
  /** Comments the execution outcome on the request's PR (after consume). */
  report(id: string, outcome: ApprovalOutcome): Promise<void>;
  /** PR number, link, commit and hash of a request (for evidence). */
  info(id: string): Promise<GitHubRequestInfo>;
  /** Opens an after-the-fact PR for a break-glass execution, labelled `break-glass`. */
  breakGlass(subject: ApprovalSubject, input: { reason: string; executedAt?: Date; evidence?: string }, now?: Date): Promise<{ request: ApprovalRequest; link: string; number: number }>;
  /** Resolves when background PR comments/closes are done (tests, shutdown). */
  settled(): Promise<void>;
  /** Conditional-request counters: 304s cost no rate limit. */
  readonly stats: { requests: number; notModified: number };
}

const ID = /^req-[0-9a-z]{12}$/;

// ---------------------------------------------------------------------------------------------
// Helpers

/** Maps an octokit failure to a stable code; our own errors pass through. */
function classify(err: unknown, what: string): GitHubApprovalError {
  if (err instanceof GitHubApprovalError) return err;
  const status = statusOf(err);
  const msg = githubMessage(err);
  if (status === 401) return new GitHubApprovalError('FORBIDDEN', `${what}: GitHub rejected the credentials (401 ${msg})`, { cause: err });
  if (status === 403 && !/rate limit/i.test(msg)) {
    return new GitHubApprovalError('FORBIDDEN', `${what}: not allowed (403 ${msg}); the App needs contents: write, pull_requests: write and members: read`, { cause: err });
  }
  if (status === 404) return new GitHubApprovalError('NOT_FOUND', `${what}: not found (404)`, { cause: err });
  return new GitHubApprovalError('UNAVAILABLE', `${what}: ${status ? `GitHub answered ${status} (${msg})` : msg}`, { cause: err });
}

function newId(): string {
  return `req-${randomBytes(9).toString('base64url').toLowerCase().replace(/[^0-9a-z]/g, '0').slice(0, 12)}`;
}

interface Record_ {
  request: ApprovalRequest;
  number: number;
  commit: string;
  link: string;
}

interface Review {
  id: number;
  user: { login: string; type: string } | null;
  state: string;
  commit_id: string | null;
}

interface Pull {
  number: number;
  state: string;
  merged?: boolean;
  merged_at: string | null;
  html_url: string;
  body: string | null;
  user: { login: string } | null;
  labels: Array<{ name?: string } | string>;
  head: { ref: string; sha: string };
  base: { ref: string };
}

const labelNames = (p: Pull): Set<string> => new Set(p.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? '')).toLowerCase()));

// ---------------------------------------------------------------------------------------------
// The provider

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
  const logins = new Map(Object.entries(options.identities?.logins ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const teamsMap = options.teams ?? {};
  const records = new Map<string, Record_>();
  const byNumber = new Map<number, string>();
  const waiters = new Map<string, Set<() => void>>();
  const consuming = new Set<string>();
  const consumed = new Set<string>();
  const finalized = new Set<string>();
  const stats = { requests: 0, notModified: 0 };
  let gatewayLogin: string | null = options.gatewayLogin ?? null;
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

  // --- conditional GETs: ETag per URL, bounded; a 304 returns the remembered body
  const etags = new Map<string, { etag: string; data: unknown }>();
  async function get<T>(route: string, params: Record<string, unknown>): Promise<T> {
    const o = await gh();
    const key = `${route} ${JSON.stringify(params)}`;
    const hit = etags.get(key);
    stats.requests++;
    try {
      const res = await o.request(route, { ...params, headers: hit ? { 'if-none-match': hit.etag } : {} });
      const etag = res.headers.etag;
      if (typeof etag === 'string') {
        etags.delete(key);
        etags.set(key, { etag, data: res.data });
        if (etags.size > 2000) etags.delete(etags.keys().next().value as string);
      }
      return res.data as T;
    } catch (err) {
      if (statusOf(err) === 304 && hit) {
        stats.notModified++;
        return hit.data as T;
      }
      throw err;
    }
  }

  async function getAll<T>(route: string, params: Record<string, unknown>): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; page <= 50; page++) {
      const items = await get<T[]>(route, { ...params, per_page: 100, page });
      out.push(...items);
      if (items.length < 100) break;
    }
    return out;
  }

  // --- background work (comments, closing) kept off the caller's path, in order, bounded
  let queue: Promise<void> = Promise.resolve();
  let queued = 0;
  function later(what: string, job: () => Promise<unknown>): void {
    if (queued >= 1000) {
      log.warn(`dropping "${what}": 1000 GitHub updates are already queued`);
      return;
    }
    queued++;
    queue = queue
      .then(job)
      .then(
        () => undefined,
        (err: unknown) => log.warn(`${what} failed: ${githubMessage(err)}`),
      )
      .finally(() => void queued--);
  }

  async function learnGatewayLogin(): Promise<string | null> {
    if (gatewayLogin) return gatewayLogin;
    if (options.auth && 'appId' in options.auth) return null;
    try {
      const me = await get<{ login: string }>('GET /user', {});
      gatewayLogin = me.login;
    } catch {
      // installation tokens cannot read /user: only options.gatewayLogin or our own PRs tell
    }
    return gatewayLogin;
  }

  function remember(rec: Record_): Record_ {
    records.set(rec.request.id, rec);
    byNumber.set(rec.number, rec.request.id);
    return rec;
  }

  /**
   * A request filed by another instance (or before a restart): found by its branch, and believed only
   * if the PR is the gateway's, the marker names a single-parent commit whose request file hashes right.
   */
  async function reconstruct(id: string, pr?: Pull): Promise<Record_> {
    const branch = `verdict/${id}`;
    const me = await learnGatewayLogin();
    if (!me) {
      throw new GitHubApprovalError('CONFIG', `cannot verify ${id}, filed by another gateway instance: set gatewayLogin (the App's bot login, e.g. "verdict-gateway[bot]")`);
    }
    if (!pr) {
      const pulls = await get<Pull[]>('GET /repos/{owner}/{repo}/pulls', { owner, repo, state: 'all', head: `${owner}:${branch}`, per_page: 100 });
      pr = pulls.find((p) => p.head.ref === branch && p.base.ref === base && p.user?.login.toLowerCase() === me.toLowerCase());
    }
    if (!pr || pr.head.ref !== branch || pr.user?.login.toLowerCase() !== me.toLowerCase()) {
      throw new GitHubApprovalError('NOT_FOUND', `no approval request ${id} in ${owner}/${repo}`);
    }
    const marker = decodeMarker(pr.body);
    if (!marker || marker.id !== id) throw new GitHubApprovalError('TAMPERED', `the description of ${pr.html_url} no longer carries the gateway's marker for ${id}`);
    const commit = await get<{ sha: string; message: string; parents: unknown[]; author: { name?: string; email?: string } }>(
      'GET /repos/{owner}/{repo}/git/commits/{commit_sha}',
      { owner, repo, commit_sha: marker.commit },
    ).catch((err: unknown) => {
      throw statusOf(err) === 404 ? new GitHubApprovalError('TAMPERED', `the commit ${marker.commit} named by ${pr!.html_url} does not exist`) : err;
    });
    const authorOk = !options.author || (commit.author.name === options.author.name && commit.author.email === options.author.email);
    if (commit.parents.length !== 1 || !commit.message.includes(id) || !authorOk) {
      throw new GitHubApprovalError('TAMPERED', `${marker.commit} is not a commit the gateway made for ${id}`);
    }
    const file = await get<{ content?: string; encoding?: string }>('GET /repos/{owner}/{repo}/contents/{path}', { owner, repo, path: `requests/${id}.json`, ref: marker.commit });
    let request: ApprovalRequest;
    try {
      request = JSON.parse(Buffer.from(file.content ?? '', 'base64').toString('utf8')) as ApprovalRequest;
    } catch {
      throw new GitHubApprovalError('TAMPERED', `requests/${id}.json at ${marker.commit} is not JSON`);
    }
    if (request.id !== id || request.hash !== marker.hash || subjectHash(request) !== request.hash) {
      throw new GitHubApprovalError('TAMPERED', `requests/${id}.json at ${marker.commit} does not hash to the request's sha256`);
    }
    return remember({ request, number: pr.number, commit: marker.commit, link: pr.html_url });
  }

  async function load(id: string): Promise<Record_> {
    if (!ID.test(id)) throw new GitHubApprovalError('NOT_FOUND', `no approval request ${JSON.stringify(id)} (ids look like req-xxxxxxxxxxxx)`);
    return records.get(id) ?? (await reconstruct(id));
  }

  /** Whether `login` is the requester; null when nothing tells (see identities.allowUnmapped). */
  function isRequester(login: string, requester: Requester): boolean | null {
    const l = login.toLowerCase();
    // Same name counts as the requester even if the IdP's username means something else: fail closed.
    if (l === requester.username.toLowerCase()) return true;
    const mapped = logins.get(l);
    const theirs = options.identities?.requesterLogin?.(requester)?.toLowerCase() ?? null;
    if (mapped === requester.sub || theirs === l) return true;
    if (mapped !== undefined || theirs !== null) return false;
    return options.identities?.allowUnmapped ? false : null;
  }

  function teamsFor(request: ApprovalRequest): string[] {
    const slugs = new Set<string>();
    for (const a of request.requirement.approvers) {
      const name = a.includes(':') ? a.slice(a.indexOf(':') + 1) : a;
      const slug = teamsMap[name];
      if (slug) slugs.add(slug);
    }
    if (slugs.size === 0) slugs.add(options.team.slug);
    return [...slugs];
  }

  async function isActiveMember(login: string, slugs: string[]): Promise<boolean> {
    for (const slug of slugs) {
      try {
        const m = await get<{ state: string }>('GET /orgs/{org}/teams/{team_slug}/memberships/{username}', { org: options.team.org, team_slug: slug, username: login });
        if (m.state === 'active') return true;
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    }
    return false;
  }

  /** Human, not the requester, active in a required team. */
  async function validApprover(r: Review, request: ApprovalRequest, slugs: string[]): Promise<boolean> {
    if (!r.user || r.user.type !== 'User') return false;
    if (isRequester(r.user.login, request.requester) !== false) return false;
    return isActiveMember(r.user.login, slugs);
  }

  function finalize(rec: Record_, label: string, comment: string): void {
    if (finalized.has(rec.request.id)) return;
    finalized.add(rec.request.id);
    later(`closing ${rec.link}`, async () => {
      const o = await gh();
      await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { owner, repo, issue_number: rec.number, labels: [label] });
      await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: rec.number, body: comment });
      await o.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { owner, repo, pull_number: rec.number, state: 'closed' });
    });
  }

  async function evaluate(rec: Record_, now: Date): Promise<ApprovalState> {
    const { request, number, commit } = rec;
    const pr = await get<Pull>('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner, repo, pull_number: number });
    const labels = labelNames(pr);
    if (labels.has(LABELS.used)) return { status: 'consumed' };
    if (labels.has(LABELS.withdrawn)) return { status: 'withdrawn' };
    if (labels.has(LABELS.expired)) return { status: 'expired' };

    const reviews = (await getAll<Review>('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', { owner, repo, pull_number: number })).sort((a, b) => a.id - b.id);
    // A reviewer's latest APPROVED / CHANGES_REQUESTED / DISMISSED review is their position (GitHub's own
    // rule); COMMENTED and PENDING reviews change nothing.
    const latest = new Map<string, Review>();
    for (const r of reviews) {
      if (r.user && (r.state === 'APPROVED' || r.state === 'CHANGES_REQUESTED' || r.state === 'DISMISSED')) latest.set(r.user.login.toLowerCase(), r);
    }
    const slugs = teamsFor(request);
    for (const r of latest.values()) {
      if (r.state === 'CHANGES_REQUESTED' && (await validApprover(r, request, slugs))) {
        const out: ApprovalState = { status: 'rejected', by: r.user!.login, reason: `changes requested in review ${r.id}` };
        if (pr.state === 'open') finalize(rec, LABELS.rejected, `Rejected by @${r.user!.login} (review ${r.id}). This request can no longer be approved; the requester may file a new one.`);
        return out;
      }
    }
    if (pr.head.sha !== commit || pr.head.ref !== `verdict/${request.id}`) {
      if (pr.state === 'open') finalize(rec, LABELS.rejected, `Void: the branch now points at ${pr.head.sha}, not at the gateway's commit ${commit}. A request whose branch was pushed to can never be approved.`);
      return { status: 'rejected', by: 'github', reason: `void: the request branch was pushed to (head ${pr.head.sha.slice(0, 12)}, gateway commit ${commit.slice(0, 12)})` };
    }
    if (pr.state !== 'open') {
      const merged = pr.merged === true || pr.merged_at !== null;
      return { status: 'rejected', by: 'github', reason: merged ? `pull request #${number} was merged; approvals count only on an open request` : `pull request #${number} was closed without merging` };
    }
    if (Date.parse(request.expires_at) <= now.getTime()) {
      finalize(rec, LABELS.expired, `Expired at ${request.expires_at} without enough approvals.`);
      return { status: 'expired' };
    }
    const approvedBy: string[] = [];
    const reviewIds: string[] = [];
    for (const r of latest.values()) {
      if (r.state !== 'APPROVED' || r.commit_id !== commit) continue;
      if (!(await validApprover(r, request, slugs))) continue;
      approvedBy.push(r.user!.login);
      reviewIds.push(String(r.id));
    }
    if (approvedBy.length >= Math.max(1, request.requirement.min_approvals)) return { status: 'approved', approved_by: approvedBy, review_ids: reviewIds };
    return { status: 'pending' };
  }

  async function state(id: string, now = new Date()): Promise<ApprovalState> {
    const rec = await load(id);
    if (consumed.has(id)) return { status: 'consumed' };
    try {
      return await evaluate(rec, now);
    } catch (err) {
      throw classify(err, `reading approval ${id}`);
    }
  }

  /** Creates branch + one commit + PR; returns PR number, link and the commit. */
  async function file(input: { id: string; branch: string; path: string; content: string; message: string; title: string; body: (commit: string) => string; labels: string[] }) {
    const o = await gh();
    const ref = await get<{ object: { sha: string } }>('GET /repos/{owner}/{repo}/git/ref/{ref}', { owner, repo, ref: `heads/${base}` });
    const parent = ref.object.sha;
    const parentCommit = await get<{ tree: { sha: string } }>('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', { owner, repo, commit_sha: parent });
    const commit = await commitFiles(o, { owner, repo, base: { commit: parent, tree: parentCommit.tree.sha }, files: [{ path: input.path, content: input.content }], message: input.message, author: options.author });
    await o.rest.git.createRef({ owner, repo, ref: `refs/heads/${input.branch}`, sha: commit.commit });
    try {
      const { data: pr } = await o.rest.pulls.create({ owner, repo, head: input.branch, base, title: input.title, body: input.body(commit.commit) });
      if (!gatewayLogin && pr.user?.login) gatewayLogin = pr.user.login;
      await o.rest.issues.addLabels({ owner, repo, issue_number: pr.number, labels: input.labels });
      return { number: pr.number, link: pr.html_url, commit: commit.commit };
    } catch (err) {
      // Without a PR the branch is litter; without labels the request could be missed by findApproved.
      await o.rest.git.deleteRef({ owner, repo, ref: `heads/${input.branch}` }).catch(() => undefined);
      throw err;
    }
  }

  function describe(subject: ApprovalSubject) {
    const d = options.describe?.(subject);
    const tables = d?.tables ?? subject.analysis?.tables ?? null;
    return { tables, ...(d?.estimate ? { estimate: d.estimate } : {}) };
  }

  function title(prefix: string, request: ApprovalRequest): string {
    const sql = request.statement.replace(/\s+/g, ' ').trim();
    const head = `${prefix}: ${sql}`;
    const tail = ` (${request.id}, ${request.requester.username})`;
    return (head.length + tail.length > 120 ? `${head.slice(0, 117 - tail.length)}…` : head) + tail;
  }

  function buildRequest(subject: ApprovalSubject, now: Date): ApprovalRequest {
    return {
      ...subject,
      id: newId(),
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + subject.requirement.ttl_seconds * 1000).toISOString(),
      hash: subjectHash(subject),
    };
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
    later(`closing ${rec.link}`, async () => {
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
    stats,

    async create(subject, now = new Date()) {
      const request = buildRequest(subject, now);
      const slugs = teamsFor(request);
      try {
        const filed = await file({
          id: request.id,
          branch: `verdict/${request.id}`,
          path: `requests/${request.id}.json`,
          content: `${JSON.stringify(request, null, 2)}\n`,
          message: `Approval request ${request.id}\n\nsha256:${request.hash}`,
          title: title('Approve', request),
          body: (commit) =>
            `${renderBody(request, commit, `${options.team.org}/${slugs.join(', ')}`, describe(subject))}\n${encodeMarker({ id: request.id, commit, hash: request.hash, requester: request.requester.sub })}\n`,
          labels: (options.labels ?? defaultRiskLabels)(subject).concat(LABELS.approval).filter((l, i, a) => a.indexOf(l) === i),
        });
        remember({ request, number: filed.number, commit: filed.commit, link: filed.link });
        log.info(`filed ${request.id} as ${filed.link}`);
        return { request, link: filed.link };
      } catch (err) {
        throw classify(err, `filing approval request ${request.id} in ${owner}/${repo}`);
      }
    },

    state,

    async request(id) {
      const rec = await load(id);
      return { request: rec.request, link: rec.link };
    },

    async wait(id, { signal, timeoutMs }) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
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
        await sleepOrWake(id, Math.min(pollMs, left), signal);
      }
    },

    async consume(id, outcome) {
      // One caller per instance proceeds; across instances the tag below decides.
      if (consumed.has(id) || consuming.has(id)) return false;
      consuming.add(id);
      try {
        const rec = await load(id);
        const s = await state(id);
        if (s.status !== 'approved') return false;
        const o = await gh();
        try {
          await o.rest.git.createRef({ owner, repo, ref: `refs/tags/verdict-used/${id}`, sha: rec.commit });
        } catch (err) {
          if (statusOf(err) !== 422) throw classify(err, `marking ${id} used`);
          // Someone else used it first; make sure the label says so (they may have crashed before it).
          await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { owner, repo, issue_number: rec.number, labels: [LABELS.used] }).catch(() => undefined);
          consumed.add(id);
          return false;
        }
        consumed.add(id);
        finalized.add(id);
        // Off the statement's path: the tag already guards every instance; the label tells people and
        // lets other instances' state() say "consumed" without reading tags.
        later(`closing ${rec.link}`, async () => {
          await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', { owner, repo, issue_number: rec.number, labels: [LABELS.used] });
          const body = [
            `Used once by the gateway at ${new Date().toISOString()}, approved by ${s.approved_by.map((l) => `@${l}`).join(', ')} (reviews ${s.review_ids.join(', ')}) on \`${rec.commit}\`.`,
            ...(outcome ? ['', outcomeText(outcome)] : []),
          ].join('\n');
          await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: rec.number, body });
          await o.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', { owner, repo, pull_number: rec.number, state: 'closed' });
        });
        return true;
      } finally {
        consuming.delete(id);
      }
    },

    withdraw,

    async findApproved(hash, requesterSub, now = new Date()) {
      let pulls: Pull[];
      try {
        pulls = await getAll<Pull>('GET /repos/{owner}/{repo}/pulls', { owner, repo, state: 'open', base });
      } catch (err) {
        throw classify(err, 'listing approval requests');
      }
      for (const pr of pulls) {
        if (!labelNames(pr).has(LABELS.approval)) continue;
        const marker = decodeMarker(pr.body);
        // The marker only narrows the search; the request file at the gateway's commit decides.
        if (!marker || marker.hash !== hash || marker.requester !== requesterSub || !ID.test(marker.id)) continue;
        let rec: Record_;
        try {
          rec = records.get(marker.id) ?? (await reconstruct(marker.id, pr));
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
      const targets = id !== undefined ? [waiters.get(id)] : [...waiters.values()];
      for (const set of targets) for (const w of [...(set ?? [])]) w();
    },

    async report(id, outcome) {
      const rec = await load(id);
      later(`reporting on ${rec.link}`, async () => {
        const o = await gh();
        await o.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: rec.number, body: `Outcome\n\n${outcomeText(outcome)}` });
      });
    },

    async info(id) {
      const rec = await load(id);
      return { id, number: rec.number, link: rec.link, commit: rec.commit, hash: rec.request.hash };
    },

    async breakGlass(subject, input, now = new Date()) {
      const request = buildRequest(subject, now);
      const executedAt = (input.executedAt ?? now).toISOString();
      const content = { ...request, break_glass: { reason: input.reason, executed_at: executedAt, ...(input.evidence ? { evidence: input.evidence } : {}) } };
      try {
        const filed = await file({
          id: request.id,
          branch: `verdict/break-glass/${request.id}`,
          path: `break-glass/${request.id}.json`,
          content: `${JSON.stringify(content, null, 2)}\n`,
          message: `Break-glass ${request.id}\n\nsha256:${request.hash}`,
          title: title('Break-glass', request),
          body: (commit) => renderBody(request, commit, options.team.slug, describe(subject), { reason: input.reason, executedAt, ...(input.evidence ? { evidence: input.evidence } : {}) }),
          // Never verdict:approval, so findApproved cannot mistake it for an approval.
          labels: [LABELS.breakGlass, ...(options.labels ?? defaultRiskLabels)(subject).filter((l) => l !== LABELS.approval)],
        });
        return { request, link: filed.link, number: filed.number };
      } catch (err) {
        throw classify(err, `filing break-glass record ${request.id}`);
      }
    },

    async settled() {
      while (queued > 0) await queue;
    },
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
  input: { reason: string; executedAt?: Date; evidence?: string },
  now?: Date,
): Promise<{ request: ApprovalRequest; link: string; number: number }> {
  if (!input.reason.trim()) return Promise.reject(new GitHubApprovalError('CONFIG', 'break-glass needs a stated reason'));
  return provider.breakGlass(subject, input, now);
}
