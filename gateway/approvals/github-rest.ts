// How the GitHub approval provider talks to GitHub: failures mapped to their codes (errors.ts), the pull request
// and review shapes it reads, conditional GETs (an unchanged answer is a 304 that costs no rate limit) and ordered background writes.
import { githubMessage, statusOf, type GitHubClient } from '../github/client.ts';
import { GitHubApprovalError } from './errors.ts';
import type { ApprovalRequest } from './provider.ts';

/**
 * Maps an octokit failure to a stable code; our own errors pass through.
 *
 * @example
 * throw classify(err, `reading approval ${id}`); // GitHubApprovalError UNAVAILABLE for a 502
 */
export function classify(err: unknown, what: string): GitHubApprovalError {
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

/** A request as the gateway filed it: the request, its pull request number and link, the gateway's commit. */
export interface FiledRequest {
  request: ApprovalRequest;
  number: number;
  /** The gateway's commit: the only commit approvals count on. */
  commit: string;
  link: string;
}

/** A pull request review, as GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews lists it (fields read). */
export interface Review {
  id: number;
  user: { login: string; type: string } | null;
  state: string;
  commit_id: string | null;
}

/** A pull request, as GET /repos/{owner}/{repo}/pulls/{pull_number} answers (fields read). */
export interface Pull {
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

/** A pull request's label names, lower case. */
export const labelNames = (p: Pull): Set<string> => new Set(p.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? '')).toLowerCase()));

/** Reads over the REST API with conditional requests. */
export interface RestReader {
  /** GET `route`; a 304 for the remembered ETag returns the remembered body. Rejects with octokit's error. */
  get<T>(route: string, params: Record<string, unknown>): Promise<T>;
  /** Every page (100 items each, at most 50 pages) of a list route. */
  getAll<T>(route: string, params: Record<string, unknown>): Promise<T[]>;
  /** Requests sent and how many were answered 304 (304s cost no rate limit). */
  readonly stats: { requests: number; notModified: number };
}

/**
 * GETs with an ETag remembered per route and parameters (the 2000 most recently used), so re-reading an
 * unchanged pull request, review list or team membership is a 304.
 *
 * @example
 * const rest = conditionalReader(() => client);
 * const pr = await rest.get<Pull>('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner, repo, pull_number: 7 });
 */
export function conditionalReader(client: () => Promise<GitHubClient>): RestReader {
  const etags = new Map<string, { etag: string; data: unknown }>();
  const stats = { requests: 0, notModified: 0 };
  async function get<T>(route: string, params: Record<string, unknown>): Promise<T> {
    const o = await client();
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
  return {
    get,
    async getAll<T>(route: string, params: Record<string, unknown>): Promise<T[]> {
      const out: T[] = [];
      for (let page = 1; page <= 50; page++) {
        const items = await get<T[]>(route, { ...params, per_page: 100, page });
        out.push(...items);
        if (items.length < 100) break;
      }
      return out;
    },
    stats,
  };
}

/**
 * Work kept off a caller's path (comments, labels, closing a PR): run in order, one at a time, at most 1000
 * queued (more are dropped with a warning); failures are logged, never thrown.
 *
 * @example
 * const bg = backgroundQueue(log); bg.later(`closing ${link}`, () => close()); await bg.settled();
 */
export function backgroundQueue(log: { warn(msg: string): void }): { later(what: string, job: () => Promise<unknown>): void; settled(): Promise<void> } {
  let queue: Promise<void> = Promise.resolve();
  let queued = 0;
  return {
    later(what, job) {
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
    },
    async settled() {
      while (queued > 0) await queue;
    },
  };
}
