// Simulator plugin for pull requests, reviews, issue comments and labels, with helpers tests use to act as
// reviewers (approve, request changes, dismiss), push to a PR branch or close it; changes emit webhooks.
import { isoSeconds, nodeId, repositoryJson, simpleUserJson } from './json.ts';
import type { WebhookSender } from './webhooks.ts';
import { SimError, type Actor, type Route, type SimRepository, type SimRequest, type SimUser, type SimulatorContext, type SimulatorPlugin } from './model.ts';

export type ReviewState = 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED';

export interface SimReview {
  id: number;
  user: SimUser;
  state: ReviewState;
  commitId: string;
  body: string;
  submittedAt: number;
}

export interface SimComment {
  id: number;
  user: SimUser;
  body: string;
  createdAt: number;
  updatedAt: number;
}

export interface SimPull {
  repo: SimRepository;
  number: number;
  id: number;
  title: string;
  body: string | null;
  user: SimUser;
  /** Branch names. */
  head: string;
  base: string;
  state: 'open' | 'closed';
  merged: boolean;
  draft: boolean;
  createdAt: number;
  updatedAt: number;
  closedAt: number | null;
  /** The head SHA last seen, kept when the branch is deleted (GitHub keeps it too). */
  lastHeadSha: string;
  labels: string[];
  reviews: SimReview[];
  comments: SimComment[];
}

export interface PullsSimulator {
  /** Register with `startGitHubSimulator({ plugins: [pulls.plugin] })`. */
  readonly plugin: SimulatorPlugin;
  /** A pull request by "owner/name" and number; throws if absent. */
  pull(repo: string, number: number): SimPull;
  /** All pull requests of a repository, by number. */
  pulls(repo: string): SimPull[];
  /**
   * Submits a review as `login` (created as a User, or a Bot with `type: 'Bot'`), on the head commit unless
   * `commitId` names another; emits `pull_request_review` submitted.
   */
  review(repo: string, number: number, review: { login: string; state: Exclude<ReviewState, 'DISMISSED'>; commitId?: string; body?: string; type?: 'User' | 'Bot' }): SimReview;
  /** Dismisses a review (its state becomes DISMISSED); emits `pull_request_review` dismissed. */
  dismissReview(repo: string, number: number, reviewId: number, options?: { by?: string; message?: string }): SimReview;
  /** Pushes one more commit onto the PR's head branch; emits `pull_request` synchronize. Returns the SHA. */
  push(repo: string, number: number, files?: Record<string, string>, message?: string): string;
  /** Force-pushes the head branch to `sha`; emits `pull_request` synchronize. */
  forcePush(repo: string, number: number, sha: string): void;
  /** Closes (or merges) the pull request as `by`; emits `pull_request` closed. */
  close(repo: string, number: number, options?: { by?: string; merged?: boolean }): void;
}

const DOCS = {
  create: 'https://docs.github.com/rest/pulls/pulls#create-a-pull-request',
  list: 'https://docs.github.com/rest/pulls/pulls#list-pull-requests',
  get: 'https://docs.github.com/rest/pulls/pulls#get-a-pull-request',
  update: 'https://docs.github.com/rest/pulls/pulls#update-a-pull-request',
  listReviews: 'https://docs.github.com/rest/pulls/reviews#list-reviews-for-a-pull-request',
  createReview: 'https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request',
  dismissReview: 'https://docs.github.com/rest/pulls/reviews#dismiss-a-review-for-a-pull-request',
  createComment: 'https://docs.github.com/rest/issues/comments#create-an-issue-comment',
  listComments: 'https://docs.github.com/rest/issues/comments#list-issue-comments',
  updateComment: 'https://docs.github.com/rest/issues/comments#update-an-issue-comment',
  addLabels: 'https://docs.github.com/rest/issues/labels#add-labels-to-an-issue',
  listLabels: 'https://docs.github.com/rest/issues/labels#list-labels-for-an-issue',
  removeLabel: 'https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue',
};

function body(req: SimRequest): Record<string, unknown> {
  const b = req.body;
  return typeof b === 'object' && b !== null && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

function validationFailed(errors: Array<Record<string, unknown>>): SimError {
  return new SimError(422, 'Validation Failed', { errors });
}

function actorUser(actor: Actor): SimUser {
  if (actor.kind === 'user' || actor.kind === 'installation') return actor.user;
  throw new SimError(401, 'Requires authentication');
}

// Deterministic label colours, so ETags stay stable across runs.
function labelColor(name: string): string {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return (h & 0xffffff).toString(16).padStart(6, '0');
}

/**
 * Pull requests, reviews, issue comments and labels as a simulator plugin, with reviewer helpers.
 *
 * @example
 * const webhooks = webhookSender();
 * const pulls = simulatorPulls({ webhooks });
 * await using sim = await startGitHubSimulator({ plugins: [pulls.plugin], tokens: [...] });
 * pulls.review('acme/approvals', 1, { login: 'carol', state: 'APPROVED' });
 */
export function simulatorPulls(options: { webhooks?: WebhookSender } = {}): PullsSimulator {
  let ctxRef: SimulatorContext | undefined;
  const byRepo = new Map<SimRepository, SimPull[]>();
  const labelIds = new Map<string, number>();
  let nextId = 500_000;

  const ctx = (): SimulatorContext => {
    if (!ctxRef) throw new Error('simulatorPulls: register the plugin with startGitHubSimulator first');
    return ctxRef;
  };
  const list = (repo: SimRepository): SimPull[] => {
    let l = byRepo.get(repo);
    if (!l) byRepo.set(repo, (l = []));
    return l;
  };
  const findRepo = (full: string): SimRepository => {
    const [owner = '', name = ''] = full.split('/');
    const r = ctx().findRepo(owner, name);
    if (!r) throw new Error(`no repository ${full}`);
    return r;
  };
  const findPull = (repo: SimRepository, number: number): SimPull | undefined => list(repo).find((p) => p.number === number);
  const requirePull = (req: SimRequest, param: string): SimPull => {
    const p = findPull(req.repo!, Number(req.params[param]));
    if (!p) throw new SimError(404, 'Not Found');
    return p;
  };

  const headSha = (p: SimPull): string => {
    const sha = p.repo.head(p.head);
    if (sha) p.lastHeadSha = sha;
    return p.lastHeadSha;
  };

  const commitsBetween = (p: SimPull): number => {
    const baseSha = p.repo.head(p.base);
    let n = 0;
    let sha: string | undefined = headSha(p);
    while (sha && n < 250 && !(baseSha && p.repo.objects.isAncestor(sha, baseSha))) {
      n++;
      sha = p.repo.commit(sha)?.parents[0];
    }
    return n;
  };

  const labelJson = (repo: SimRepository, name: string) => {
    const key = `${repo.id}:${name.toLowerCase()}`;
    let id = labelIds.get(key);
    if (id === undefined) labelIds.set(key, (id = nextId++));
    return {
      id,
      node_id: nodeId('Label', id),
      url: `${ctx().baseUrl}/repos/${repo.fullName}/labels/${encodeURIComponent(name)}`,
      name,
      description: '',
      color: labelColor(name),
      default: false,
    };
  };

  const pullJson = (p: SimPull, full: boolean) => {
    const c = ctx();
    const api = `${c.baseUrl}/repos/${p.repo.fullName}`;
    const html = `${c.htmlUrl}/${p.repo.fullName}/pull/${p.number}`;
    const repoJson = repositoryJson(c, p.repo);
    const owner = simpleUserJson(c, p.repo.owner);
    const ref = (branch: string, sha: string) => ({ label: `${p.repo.owner.login}:${branch}`, ref: branch, sha, user: owner, repo: repoJson });
    const basic = {
      url: `${api}/pulls/${p.number}`,
      id: p.id,
      node_id: nodeId('PullRequest', p.id),
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: `${api}/issues/${p.number}`,
      commits_url: `${api}/pulls/${p.number}/commits`,
      review_comments_url: `${api}/pulls/${p.number}/comments`,
      review_comment_url: `${api}/pulls/comments{/number}`,
      comments_url: `${api}/issues/${p.number}/comments`,
      statuses_url: `${api}/statuses/${headSha(p)}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: simpleUserJson(c, p.user),
      body: p.body,
      labels: p.labels.map((l) => labelJson(p.repo, l)),
      milestone: null,
      active_lock_reason: null,
      created_at: isoSeconds(p.createdAt),
      updated_at: isoSeconds(p.updatedAt),
      closed_at: p.closedAt === null ? null : isoSeconds(p.closedAt),
      merged_at: p.merged && p.closedAt !== null ? isoSeconds(p.closedAt) : null,
      merge_commit_sha: null,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      head: ref(p.head, headSha(p)),
      base: ref(p.base, p.repo.head(p.base) ?? ''),
      _links: {
        self: { href: `${api}/pulls/${p.number}` },
        html: { href: html },
        issue: { href: `${api}/issues/${p.number}` },
        comments: { href: `${api}/issues/${p.number}/comments` },
        review_comments: { href: `${api}/pulls/${p.number}/comments` },
        review_comment: { href: `${api}/pulls/comments{/number}` },
        commits: { href: `${api}/pulls/${p.number}/commits` },
        statuses: { href: `${api}/statuses/${headSha(p)}` },
      },
      author_association: p.user.type === 'Bot' ? 'NONE' : 'MEMBER',
      auto_merge: null,
      draft: p.draft,
    };
    if (!full) return basic;
    return {
      ...basic,
      merged: p.merged,
      mergeable: p.state === 'open' ? true : null,
      rebaseable: p.state === 'open' ? true : null,
      mergeable_state: p.state === 'open' ? 'clean' : 'unknown',
      merged_by: null,
      comments: p.comments.length,
      review_comments: 0,
      maintainer_can_modify: false,
      commits: commitsBetween(p),
      additions: 1,
      deletions: 0,
      changed_files: 1,
    };
  };

  const reviewJson = (p: SimPull, r: SimReview, webhookCase = false) => {
    const c = ctx();
    const html = `${c.htmlUrl}/${p.repo.fullName}/pull/${p.number}#pullrequestreview-${r.id}`;
    const prUrl = `${c.baseUrl}/repos/${p.repo.fullName}/pulls/${p.number}`;
    return {
      id: r.id,
      node_id: nodeId('PullRequestReview', r.id),
      user: simpleUserJson(c, r.user),
      body: r.body,
      // REST says APPROVED, webhook payloads say approved.
      state: webhookCase ? r.state.toLowerCase() : r.state,
      html_url: html,
      pull_request_url: prUrl,
      author_association: r.user.type === 'Bot' ? 'NONE' : 'MEMBER',
      _links: { html: { href: html }, pull_request: { href: prUrl } },
      submitted_at: isoSeconds(r.submittedAt),
      commit_id: r.commitId,
    };
  };

  const commentJson = (p: SimPull, cm: SimComment) => {
    const c = ctx();
    const api = `${c.baseUrl}/repos/${p.repo.fullName}`;
    return {
      id: cm.id,
      node_id: nodeId('IssueComment', cm.id),
      url: `${api}/issues/comments/${cm.id}`,
      html_url: `${c.htmlUrl}/${p.repo.fullName}/pull/${p.number}#issuecomment-${cm.id}`,
      body: cm.body,
      user: simpleUserJson(c, cm.user),
      created_at: isoSeconds(cm.createdAt),
      updated_at: isoSeconds(cm.updatedAt),
      issue_url: `${api}/issues/${p.number}`,
      author_association: cm.user.type === 'Bot' ? 'NONE' : 'MEMBER',
    };
  };

  const emit = (event: string, payload: Record<string, unknown>, p: SimPull, sender: SimUser) => {
    if (!options.webhooks) return;
    void options.webhooks.deliver(event, { ...payload, repository: repositoryJson(ctx(), p.repo), sender: simpleUserJson(ctx(), sender) });
  };
  const emitPull = (action: string, p: SimPull, sender: SimUser, extra: Record<string, unknown> = {}) =>
    emit('pull_request', { action, number: p.number, ...extra, pull_request: pullJson(p, true) }, p, sender);
  const emitReview = (action: string, p: SimPull, r: SimReview, sender: SimUser) =>
    emit('pull_request_review', { action, review: reviewJson(p, r, true), pull_request: pullJson(p, false) }, p, sender);

  const paginate = <T>(req: SimRequest, items: T[]): { body: T[]; headers: Record<string, string> } => {
    const perPage = Math.min(100, Math.max(1, Number(req.query.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(req.query.get('page') ?? 1) || 1);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const headers: Record<string, string> = {};
    if (last > 1) {
      const link = (n: number) => {
        const q = new URLSearchParams(req.query);
        q.set('page', String(n));
        q.set('per_page', String(perPage));
        return `<${ctx().baseUrl}${req.route.replace(/\{(\w+)\}/g, (_, k: string) => encodeURIComponent(req.params[k] ?? ''))}?${q}>`;
      };
      const rels: string[] = [];
      if (page < last) rels.push(`${link(page + 1)}; rel="next"`, `${link(last)}; rel="last"`);
      if (page > 1) rels.push(`${link(1)}; rel="first"`, `${link(page - 1)}; rel="prev"`);
      if (rels.length > 0) headers.link = rels.join(', ');
    }
    return { body: items.slice((page - 1) * perPage, page * perPage), headers };
  };

  const addReview = (p: SimPull, user: SimUser, state: Exclude<ReviewState, 'DISMISSED'>, commitId: string, text: string): SimReview => {
    const r: SimReview = { id: nextId++, user, state, commitId, body: text, submittedAt: ctx().now() };
    p.reviews.push(r);
    p.updatedAt = ctx().now();
    emitReview('submitted', p, r, user);
    return r;
  };

  const dismiss = (p: SimPull, r: SimReview, by: SimUser): SimReview => {
    r.state = 'DISMISSED';
    p.updatedAt = ctx().now();
    emitReview('dismissed', p, r, by);
    return r;
  };

  const closePull = (p: SimPull, by: SimUser, merged: boolean) => {
    p.state = 'closed';
    p.merged = merged;
    p.closedAt = p.updatedAt = ctx().now();
    emitPull('closed', p, by);
  };

  const routes = (c: SimulatorContext): Route[] => {
    ctxRef = c;
    return [
      {
        method: 'POST',
        path: '/repos/{owner}/{repo}/pulls',
        permission: ['pull_requests', 'write'],
        docs: DOCS.create,
        handle(req) {
          const repo = req.repo!;
          const b = body(req);
          if (typeof b.title !== 'string' || b.title === '') throw validationFailed([{ resource: 'PullRequest', field: 'title', code: 'missing_field' }]);
          if (typeof b.head !== 'string') throw validationFailed([{ resource: 'PullRequest', field: 'head', code: 'missing_field' }]);
          if (typeof b.base !== 'string') throw validationFailed([{ resource: 'PullRequest', field: 'base', code: 'missing_field' }]);
          const head = b.head.includes(':') ? b.head.slice(b.head.indexOf(':') + 1) : b.head;
          const headOwner = b.head.includes(':') ? b.head.slice(0, b.head.indexOf(':')) : repo.owner.login;
          const headSha0 = repo.head(head);
          if (!headSha0 || headOwner.toLowerCase() !== repo.owner.login.toLowerCase()) {
            throw validationFailed([{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
          }
          const baseSha = repo.head(b.base);
          if (!baseSha) throw validationFailed([{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
          if (list(repo).some((p) => p.state === 'open' && p.head === head && p.base === b.base)) {
            throw validationFailed([{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${repo.owner.login}:${head}.` }]);
          }
          if (repo.objects.isAncestor(headSha0, baseSha)) {
            throw validationFailed([{ resource: 'PullRequest', code: 'custom', message: `No commits between ${b.base} and ${head}` }]);
          }
          const t = c.now();
          const p: SimPull = {
            repo,
            number: list(repo).length + 1,
            id: nextId++,
            title: b.title,
            body: typeof b.body === 'string' ? b.body : null,
            user: actorUser(req.actor),
            head,
            base: b.base,
            state: 'open',
            merged: false,
            draft: b.draft === true,
            createdAt: t,
            updatedAt: t,
            closedAt: null,
            lastHeadSha: headSha0,
            labels: [],
            reviews: [],
            comments: [],
          };
          list(repo).push(p);
          emitPull('opened', p, p.user);
          const json = pullJson(p, true);
          return { status: 201, body: json, headers: { location: json.url } };
        },
      },
      {
        method: 'GET',
        path: '/repos/{owner}/{repo}/pulls',
        permission: ['pull_requests', 'read'],
        docs: DOCS.list,
        handle(req) {
          const repo = req.repo!;
          const state = req.query.get('state') ?? 'open';
          const head = req.query.get('head');
          const base = req.query.get('base');
          let items = list(repo).filter((p) => state === 'all' || p.state === state);
          if (head) {
            const [o, br] = head.includes(':') ? [head.slice(0, head.indexOf(':')), head.slice(head.indexOf(':') + 1)] : [head, null];
            items = items.filter((p) => o.toLowerCase() === repo.owner.login.toLowerCase() && (br === null || p.head === br));
          }
          if (base) items = items.filter((p) => p.base === base);
          const sort = req.query.get('sort') ?? 'created';
          const asc = (req.query.get('direction') ?? (sort === 'created' ? 'desc' : 'desc')) === 'asc';
          items = [...items].sort((a, b) => {
            const d = sort === 'updated' ? a.updatedAt - b.updatedAt || a.number - b.number : a.number - b.number;
            return asc ? d : -d;
          });
          const page = paginate(req, items);
          return { status: 200, body: page.body.map((p) => pullJson(p, false)), headers: page.headers };
        },
      },
      {
        method: 'GET',
        path: '/repos/{owner}/{repo}/pulls/{pull_number}',
        permission: ['pull_requests', 'read'],
        docs: DOCS.get,
        handle: (req) => ({ status: 200, body: pullJson(requirePull(req, 'pull_number'), true) }),
      },
      {
        method: 'PATCH',
        path: '/repos/{owner}/{repo}/pulls/{pull_number}',
        permission: ['pull_requests', 'write'],
        docs: DOCS.update,
        handle(req) {
          const p = requirePull(req, 'pull_number');
          const b = body(req);
          if (typeof b.title === 'string') p.title = b.title;
          if (typeof b.body === 'string') p.body = b.body;
          if (b.state !== undefined && b.state !== 'open' && b.state !== 'closed') {
            throw validationFailed([{ resource: 'PullRequest', field: 'state', code: 'invalid' }]);
          }
          p.updatedAt = c.now();
          if (b.state === 'closed' && p.state === 'open') closePull(p, actorUser(req.actor), false);
          else if (b.state === 'open' && p.state === 'closed' && !p.merged) {
            p.state = 'open';
            p.closedAt = null;
            emitPull('reopened', p, actorUser(req.actor));
          }
          return { status: 200, body: pullJson(p, true) };
        },
      },
      {
        method: 'GET',
        path: '/repos/{owner}/{repo}/pulls/{pull_number}/reviews',
        permission: ['pull_requests', 'read'],
        docs: DOCS.listReviews,
        handle(req) {
          const p = requirePull(req, 'pull_number');
          const page = paginate(req, p.reviews);
          return { status: 200, body: page.body.map((r) => reviewJson(p, r)), headers: page.headers };
        },
      },
      {
        method: 'POST',
        path: '/repos/{owner}/{repo}/pulls/{pull_number}/reviews',
        permission: ['pull_requests', 'write'],
        docs: DOCS.createReview,
        handle(req) {
          const p = requirePull(req, 'pull_number');
          const b = body(req);
          const user = actorUser(req.actor);
          const event = b.event;
          const state = event === 'APPROVE' ? 'APPROVED' : event === 'REQUEST_CHANGES' ? 'CHANGES_REQUESTED' : event === 'COMMENT' ? 'COMMENTED' : null;
          // Without an event GitHub creates a PENDING review; the approvals flow never needs one.
          if (!state) throw new SimError(422, 'Unprocessable Entity', { errors: ['event must be one of APPROVE, REQUEST_CHANGES, COMMENT'] });
          if (p.state !== 'open') throw new SimError(422, 'Unprocessable Entity', { errors: ['Can not review a closed pull request'] });
          if (state !== 'COMMENTED' && user.id === p.user.id) {
            throw new SimError(422, 'Unprocessable Entity', { errors: [`Can not ${state === 'APPROVED' ? 'approve' : 'request changes on'} your own pull request`] });
          }
          if ((state === 'CHANGES_REQUESTED' || state === 'COMMENTED') && (typeof b.body !== 'string' || b.body === '')) {
            throw new SimError(422, 'Unprocessable Entity', { errors: ['Review body is required'] });
          }
          const commitId = typeof b.commit_id === 'string' ? b.commit_id : headSha(p);
          if (!p.repo.commit(commitId)) throw new SimError(422, 'Unprocessable Entity', { errors: ['Commit SHA does not exist'] });
          const r = addReview(p, user, state, commitId, typeof b.body === 'string' ? b.body : '');
          return { status: 200, body: reviewJson(p, r) };
        },
      },
      {
        method: 'PUT',
        path: '/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/dismissals',
        permission: ['pull_requests', 'write'],
        docs: DOCS.dismissReview,
        handle(req) {
          const p = requirePull(req, 'pull_number');
          const r = p.reviews.find((x) => x.id === Number(req.params.review_id));
          if (!r) throw new SimError(404, 'Not Found');
          if (typeof body(req).message !== 'string') throw validationFailed([{ resource: 'PullRequestReview', field: 'message', code: 'missing_field' }]);
          if (r.state !== 'APPROVED' && r.state !== 'CHANGES_REQUESTED') throw new SimError(422, 'Can not dismiss a commented pull request review');
          return { status: 200, body: reviewJson(p, dismiss(p, r, actorUser(req.actor))) };
        },
      },
      {
        method: 'POST',
        path: '/repos/{owner}/{repo}/issues/{issue_number}/comments',
        permission: ['pull_requests', 'write'],
        docs: DOCS.createComment,
        handle(req) {
          const p = requirePull(req, 'issue_number');
          const b = body(req);
          if (typeof b.body !== 'string' || b.body === '') throw validationFailed([{ resource: 'IssueComment', field: 'body', code: 'missing_field' }]);
          const t = c.now();
          const cm: SimComment = { id: nextId++, user: actorUser(req.actor), body: b.body, createdAt: t, updatedAt: t };
          p.comments.push(cm);
          p.updatedAt = t;
          const json = commentJson(p, cm);
          return { status: 201, body: json, headers: { location: json.url } };
        },
      },
      {
        method: 'GET',
        path: '/repos/{owner}/{repo}/issues/{issue_number}/comments',
        permission: ['pull_requests', 'read'],
        docs: DOCS.listComments,
        handle(req) {
          const p = requirePull(req, 'issue_number');
          const page = paginate(req, p.comments);
          return { status: 200, body: page.body.map((cm) => commentJson(p, cm)), headers: page.headers };
        },
      },
      {
        method: 'PATCH',
        path: '/repos/{owner}/{repo}/issues/comments/{comment_id}',
        permission: ['pull_requests', 'write'],
        docs: DOCS.updateComment,
        handle(req) {
          const id = Number(req.params.comment_id);
          for (const p of list(req.repo!)) {
            const cm = p.comments.find((x) => x.id === id);
            if (!cm) continue;
            const b = body(req);
            if (typeof b.body !== 'string' || b.body === '') throw validationFailed([{ resource: 'IssueComment', field: 'body', code: 'missing_field' }]);
            const who = actorUser(req.actor);
            // GitHub lets the author (or a maintainer) edit a comment; the simulator keeps to the author.
            if (who.login !== cm.user.login) throw new SimError(403, 'Must have admin rights to Repository.');
            cm.body = b.body;
            cm.updatedAt = c.now();
            return { status: 200, body: commentJson(p, cm) };
          }
          throw new SimError(404, 'Not Found');
        },
      },
      {
        method: 'POST',
        path: '/repos/{owner}/{repo}/issues/{issue_number}/labels',
        permission: ['pull_requests', 'write'],
        docs: DOCS.addLabels,
        handle(req) {
          const p = requirePull(req, 'issue_number');
          const b = body(req);
          const names = Array.isArray(b.labels) ? b.labels : Array.isArray(req.body) ? req.body : null;
          if (!names || names.some((n) => typeof n !== 'string' || n === '')) {
            throw validationFailed([{ resource: 'Label', field: 'labels', code: 'invalid' }]);
          }
          for (const n of names as string[]) if (!p.labels.some((l) => l.toLowerCase() === n.toLowerCase())) p.labels.push(n);
          p.updatedAt = c.now();
          return { status: 200, body: p.labels.map((l) => labelJson(p.repo, l)) };
        },
      },
      {
        method: 'GET',
        path: '/repos/{owner}/{repo}/issues/{issue_number}/labels',
        permission: ['pull_requests', 'read'],
        docs: DOCS.listLabels,
        handle(req) {
          const p = requirePull(req, 'issue_number');
          return { status: 200, body: p.labels.map((l) => labelJson(p.repo, l)) };
        },
      },
      {
        method: 'DELETE',
        path: '/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}',
        permission: ['pull_requests', 'write'],
        docs: DOCS.removeLabel,
        handle(req) {
          const p = requirePull(req, 'issue_number');
          const name = (req.params.name ?? '').toLowerCase();
          const i = p.labels.findIndex((l) => l.toLowerCase() === name);
          if (i < 0) throw new SimError(404, 'Label does not exist');
          p.labels.splice(i, 1);
          p.updatedAt = c.now();
          return { status: 200, body: p.labels.map((l) => labelJson(p.repo, l)) };
        },
      },
    ];
  };

  const helperPull = (repo: string, number: number): SimPull => {
    const p = findPull(findRepo(repo), number);
    if (!p) throw new Error(`no pull request ${repo}#${number}`);
    return p;
  };

  return {
    plugin: routes,
    pull: helperPull,
    pulls: (repo) => [...list(findRepo(repo))],
    review(repo, number, r) {
      const p = helperPull(repo, number);
      const user = ctx().user(r.login, r.type ?? 'User');
      if (r.type && user.type !== r.type) throw new Error(`${r.login} already exists as a ${user.type}`);
      return addReview(p, user, r.state, r.commitId ?? headSha(p), r.body ?? '');
    },
    dismissReview(repo, number, reviewId, o = {}) {
      const p = helperPull(repo, number);
      const r = p.reviews.find((x) => x.id === reviewId);
      if (!r) throw new Error(`no review ${reviewId} on ${repo}#${number}`);
      return dismiss(p, r, ctx().user(o.by ?? p.repo.owner.login));
    },
    push(repo, number, files = { 'extra.txt': `pushed at ${ctx().now()}\n` }, message = 'another commit') {
      const p = helperPull(repo, number);
      const before = headSha(p);
      const sha = p.repo.commitFiles(p.head, files, message);
      p.updatedAt = ctx().now();
      emitPull('synchronize', p, p.repo.owner, { before, after: sha });
      return sha;
    },
    forcePush(repo, number, sha) {
      const p = helperPull(repo, number);
      if (!p.repo.commit(sha)) throw new Error(`no commit ${sha}`);
      const before = headSha(p);
      p.repo.setRef(`refs/heads/${p.head}`, sha);
      p.updatedAt = ctx().now();
      emitPull('synchronize', p, p.repo.owner, { before, after: sha });
    },
    close(repo, number, o = {}) {
      const p = helperPull(repo, number);
      if (o.merged) {
        // A merge: the base branch gets the head's tree (a fast-forward is enough for the simulator).
        p.repo.setRef(`refs/heads/${p.base}`, headSha(p));
      }
      closePull(p, ctx().user(o.by ?? p.repo.owner.login), o.merged ?? false);
    },
  };
}
