// Filing GitHub approval requests: one gateway-made commit of the request file on its own branch plus a
// labelled pull request (approval requests and after-the-fact break-glass records), and reading a request
// back from GitHub alone when another instance filed it (believed only if it is the gateway's own).
import { randomBytes } from 'node:crypto';
import { commitFiles, statusOf, type GitHubClient } from '../github/client.ts';
import { decodeMarker, defaultRiskLabels, encodeMarker, LABELS, renderBody } from './github-render.ts';
import { GitHubApprovalError } from './errors.ts';
import { classify, type FiledRequest, type Pull, type RestReader } from './github-rest.ts';
import { subjectHash, type ApprovalRequest, type ApprovalSubject, type BreakGlassInput } from './provider.ts';

export interface FilingOptions {
  owner: string;
  repo: string;
  /** Branch pull requests target; it must have at least one commit. */
  base: string;
  /** The approvers' org (the PR body names `org/slug`). */
  org: string;
  /** Author and committer of request commits (default: the credential's own identity). */
  author?: { name: string; email: string };
  /** The login pull requests are opened as; learned from GET /user (token auth) or the first PR when absent. */
  gatewayLogin?: string;
  /** App auth: installation tokens cannot read GET /user. */
  appAuth: boolean;
  labels?: (subject: ApprovalSubject) => string[];
  describe?: (subject: ApprovalSubject) => { tables?: string[]; estimate?: string } | null | undefined;
}

export interface RequestFiling {
  /** Commits `requests/<id>.json` on `verdict/<id>` and opens a PR labelled `verdict:approval` + risk. */
  create(subject: ApprovalSubject, now: Date): Promise<FiledRequest>;
  /** Commits `break-glass/<id>.json` on `verdict/break-glass/<id>` and opens a PR labelled `break-glass`. */
  breakGlass(subject: ApprovalSubject, input: BreakGlassInput, now: Date): Promise<FiledRequest>;
  /**
   * A request filed by another instance (or before a restart), from its branch or the given PR. Errors:
   * GitHubApprovalError NOT_FOUND (no PR of the gateway's), TAMPERED (marker, commit or file not the
   * gateway's), CONFIG (the gateway's login is unknown).
   */
  reconstruct(id: string, pr?: Pull): Promise<FiledRequest>;
}

function newId(): string {
  return `req-${randomBytes(9).toString('base64url').toLowerCase().replace(/[^0-9a-z]/g, '0').slice(0, 12)}`;
}

/**
 * Request filing over `client` (writes) and `rest` (conditional reads); `teamsFor` names the teams that
 * review a request (the policy's approvers, mapped), for its PR body.
 *
 * @example
 * const filing = requestFiling(gh, rest, { owner, repo, base: 'main', org: 'acme', appAuth: false }, reviews.teamsFor);
 * const { request, link } = await filing.create(subject, new Date());
 */
export function requestFiling(client: () => Promise<GitHubClient>, rest: RestReader, options: FilingOptions, teamsFor: (request: ApprovalRequest) => string[]): RequestFiling {
  const { owner, repo, base } = options;
  let gatewayLogin: string | null = options.gatewayLogin ?? null;

  async function learnGatewayLogin(): Promise<string | null> {
    if (gatewayLogin) return gatewayLogin;
    if (options.appAuth) return null;
    try {
      const me = await rest.get<{ login: string }>('GET /user', {});
      gatewayLogin = me.login;
    } catch {
      // installation tokens cannot read /user: only options.gatewayLogin or our own PRs tell
    }
    return gatewayLogin;
  }

  /** Creates branch + one commit + PR; returns PR number, link and the commit. */
  async function file(input: { branch: string; path: string; content: string; message: string; title: string; body: (commit: string) => string; labels: string[] }) {
    const o = await client();
    const ref = await rest.get<{ object: { sha: string } }>('GET /repos/{owner}/{repo}/git/ref/{ref}', { owner, repo, ref: `heads/${base}` });
    const parent = ref.object.sha;
    const parentCommit = await rest.get<{ tree: { sha: string } }>('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', { owner, repo, commit_sha: parent });
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

  const reviewersOf = (request: ApprovalRequest) => `${options.org}/${teamsFor(request).join(', ')}`;
  const labelsOf = (subject: ApprovalSubject) => (options.labels ?? defaultRiskLabels)(subject);

  return {
    async create(subject, now) {
      const request = buildRequest(subject, now);
      try {
        const filed = await file({
          branch: `verdict/${request.id}`,
          path: `requests/${request.id}.json`,
          content: `${JSON.stringify(request, null, 2)}\n`,
          message: `Approval request ${request.id}\n\nsha256:${request.hash}`,
          title: title('Approve', request),
          body: (commit) => `${renderBody(request, commit, reviewersOf(request), describe(subject))}\n${encodeMarker({ id: request.id, commit, hash: request.hash, requester: request.requester.sub })}\n`,
          labels: labelsOf(subject).concat(LABELS.approval).filter((l, i, a) => a.indexOf(l) === i),
        });
        return { request, ...filed };
      } catch (err) {
        throw classify(err, `filing approval request ${request.id} in ${owner}/${repo}`);
      }
    },

    async breakGlass(subject, input, now) {
      const executedAt = (input.executedAt ?? now).toISOString();
      const request: ApprovalRequest = { ...buildRequest(subject, now), break_glass: { reason: input.reason, executed_at: executedAt, ...(input.evidence ? { evidence: input.evidence } : {}) } };
      try {
        const filed = await file({
          branch: `verdict/break-glass/${request.id}`,
          path: `break-glass/${request.id}.json`,
          content: `${JSON.stringify(request, null, 2)}\n`,
          message: `Break-glass ${request.id}\n\nsha256:${request.hash}`,
          title: title('Break-glass', request),
          body: (commit) => renderBody(request, commit, reviewersOf(request), describe(subject), { reason: input.reason, executedAt, ...(input.evidence ? { evidence: input.evidence } : {}) }),
          // Never verdict:approval, so findApproved cannot mistake it for an approval.
          labels: [LABELS.breakGlass, ...labelsOf(subject).filter((l) => l !== LABELS.approval)],
        });
        return { request, ...filed };
      } catch (err) {
        throw classify(err, `filing break-glass record ${request.id}`);
      }
    },

    async reconstruct(id, pr) {
      const branch = `verdict/${id}`;
      const me = await learnGatewayLogin();
      if (!me) {
        throw new GitHubApprovalError('CONFIG', `cannot verify ${id}, filed by another gateway instance: set gatewayLogin (the App's bot login, e.g. "verdict-gateway[bot]")`);
      }
      if (!pr) {
        const pulls = await rest.get<Pull[]>('GET /repos/{owner}/{repo}/pulls', { owner, repo, state: 'all', head: `${owner}:${branch}`, per_page: 100 });
        pr = pulls.find((p) => p.head.ref === branch && p.base.ref === base && p.user?.login.toLowerCase() === me.toLowerCase());
      }
      if (!pr || pr.head.ref !== branch || pr.user?.login.toLowerCase() !== me.toLowerCase()) {
        throw new GitHubApprovalError('NOT_FOUND', `no approval request ${id} in ${owner}/${repo}`);
      }
      const marker = decodeMarker(pr.body);
      if (!marker || marker.id !== id) throw new GitHubApprovalError('TAMPERED', `the description of ${pr.html_url} no longer carries the gateway's marker for ${id}`);
      const link = pr.html_url;
      const commit = await rest
        .get<{ sha: string; message: string; parents: unknown[]; author: { name?: string; email?: string } }>('GET /repos/{owner}/{repo}/git/commits/{commit_sha}', { owner, repo, commit_sha: marker.commit })
        .catch((err: unknown) => {
          throw statusOf(err) === 404 ? new GitHubApprovalError('TAMPERED', `the commit ${marker.commit} named by ${link} does not exist`) : err;
        });
      const authorOk = !options.author || (commit.author.name === options.author.name && commit.author.email === options.author.email);
      if (commit.parents.length !== 1 || !commit.message.includes(id) || !authorOk) {
        throw new GitHubApprovalError('TAMPERED', `${marker.commit} is not a commit the gateway made for ${id}`);
      }
      const file = await rest.get<{ content?: string; encoding?: string }>('GET /repos/{owner}/{repo}/contents/{path}', { owner, repo, path: `requests/${id}.json`, ref: marker.commit });
      let request: ApprovalRequest;
      try {
        request = JSON.parse(Buffer.from(file.content ?? '', 'base64').toString('utf8')) as ApprovalRequest;
      } catch {
        throw new GitHubApprovalError('TAMPERED', `requests/${id}.json at ${marker.commit} is not JSON`);
      }
      if (request.id !== id || request.hash !== marker.hash || subjectHash(request) !== request.hash) {
        throw new GitHubApprovalError('TAMPERED', `requests/${id}.json at ${marker.commit} does not hash to the request's sha256`);
      }
      return { request, number: pr.number, commit: marker.commit, link };
    },
  };
}
