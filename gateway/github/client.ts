// The one way Verdict builds an octokit client: token or GitHub App installation auth, a configurable
// baseUrl for GitHub Enterprise, bounded retries on 5xx and rate limits, and a per-client write budget.
import { App, Octokit } from 'octokit';
import { messageOf } from '../../engine/errors.ts';
import { MODE } from './git-objects.ts';
import { TreeMismatch } from './errors.ts';

export type GitHubClient = InstanceType<typeof Octokit>;

/** A personal access token or fine-grained token. */
export interface TokenAuth {
  token: string;
}

/** A GitHub App installation: the app's id and PEM private key (PKCS#1 as GitHub issues it, or PKCS#8). */
export interface AppAuth {
  appId: number | string;
  privateKey: string;
  installationId: number;
}

export type GitHubAuth = TokenAuth | AppAuth;

export interface GitHubClientOptions {
  auth: GitHubAuth;
  /** https://api.github.com by default; GitHub Enterprise Server: https://ghe.example.com/api/v3. */
  baseUrl?: string;
  userAgent?: string;
  /**
   * Content-creating requests (POST/PATCH/PUT/DELETE) per minute for this client. GitHub's secondary
   * limit is about 80 per minute per user or installation, shared by every gateway instance using it,
   * so divide accordingly. Default 60 (octokit's own pace).
   */
  writesPerMinute?: number;
  /**
   * Writes that notify people (pull requests, comments; octokit's list) per minute for this client. Default:
   * octokit's own, one per 3 s shared by every client in the process. A simulator without notifications
   * needs no such spacing.
   */
  notificationsPerMinute?: number;
  /** Retries of one request after a 5xx or a network error (default 2). */
  retries?: number;
  /** Base of the quadratic retry delay in ms: waits (n+1)² × base (default 1000). */
  retryBaseMs?: number;
  /** Rate-limit waits up to this many seconds are sat out once; longer ones fail to the caller (default 60). */
  maxRateLimitWaitSeconds?: number;
  /** Milliseconds per second of retry-after (default 1000; tests shrink it). */
  rateLimitUnitMs?: number;
  /** Defaults to silence below warn. */
  log?: { debug(msg: string): void; info(msg: string): void; warn(msg: string): void; error(msg: string): void };
}

/** Options tests and callers commonly share, minus auth. */
export type GitHubClientTuning = Omit<GitHubClientOptions, 'auth' | 'baseUrl'>;

/**
 * Spaces content-creating requests for one client. It stands in for the throttling plugin's `write`
 * Bottleneck group (typed as an option of the plugin), because that group is shared by every client in the
 * process and fixed at one write per second, while Verdict needs a per-client, configurable budget (and,
 * when asked for, for its `notifications` group: one per 3 s, process-wide).
 */
function writePacer(writesPerMinute: number) {
  const interval = writesPerMinute === Number.POSITIVE_INFINITY ? 0 : 60_000 / writesPerMinute;
  let next = 0;
  const limiter = {
    schedule<T>(...args: unknown[]): Promise<T> {
      // Called as schedule(jobOptions, fn, ...fnArgs) or schedule(fn, ...fnArgs), like Bottleneck.
      const fnIndex = typeof args[0] === 'function' ? 0 : 1;
      const fn = args[fnIndex] as (...a: unknown[]) => Promise<T>;
      const now = Date.now();
      const at = Math.max(now, next);
      next = at + interval;
      const wait = at - now;
      const run = () => fn(...args.slice(fnIndex + 1));
      return wait <= 0 ? run() : new Promise<void>((r) => setTimeout(r, wait)).then(run);
    },
  };
  return { key: () => limiter };
}

function isAppAuth(auth: GitHubAuth): auth is AppAuth {
  return 'appId' in auth;
}

const quiet = { debug() {}, info() {}, warn: (m: string) => process.stderr.write(`github: ${m}\n`), error: (m: string) => process.stderr.write(`github: ${m}\n`) };

/**
 * Builds an authenticated octokit client. With App auth, installation tokens are minted on first use
 * and renewed before they expire by @octokit/auth-app.
 *
 * @example
 * const gh = await createGitHubClient({ auth: { token: process.env.GITHUB_TOKEN! } });
 * const ghe = await createGitHubClient({
 *   baseUrl: 'https://ghe.example.com/api/v3',
 *   auth: { appId: 12345, privateKey: pem, installationId: 678 },
 * });
 */
export async function createGitHubClient(options: GitHubClientOptions): Promise<GitHubClient> {
  const maxWait = options.maxRateLimitWaitSeconds ?? 60;
  const log = options.log ?? quiet;
  // Sit out one rate-limit wait if it is short; otherwise fail so the caller (the evidence spool) keeps
  // its backlog instead of a request hanging for up to an hour.
  const onLimit = (retryAfter: number, opts: { method: string; url: string }, _o: unknown, retryCount: number) => {
    log.warn(`rate limited on ${opts.method} ${opts.url}; retry-after ${retryAfter}s`);
    return retryCount < 1 && retryAfter <= maxWait;
  };
  const defaults = {
    baseUrl: (options.baseUrl ?? 'https://api.github.com').replace(/\/+$/, ''),
    userAgent: options.userAgent ?? 'verdict-gateway',
    log,
    retry: {
      retries: options.retries ?? 2,
      retryAfterBaseValue: options.retryBaseMs ?? 1000,
      // 409 joins octokit's list: it means "repository empty" or a state conflict, never a blip.
      doNotRetry: [400, 401, 403, 404, 409, 410, 422, 451],
    },
    throttle: {
      onRateLimit: onLimit,
      onSecondaryRateLimit: onLimit,
      retryAfterBaseValue: options.rateLimitUnitMs ?? 1000,
      write: writePacer(options.writesPerMinute ?? 60),
      ...(options.notificationsPerMinute !== undefined ? { notifications: writePacer(options.notificationsPerMinute) } : {}),
    },
  };
  // The throttle option types name Bottleneck.Group for `write`; our pacer implements the part used.
  const Client = Octokit.defaults(defaults as unknown as NonNullable<ConstructorParameters<typeof Octokit>[0]>);
  if (!isAppAuth(options.auth)) return new Client({ auth: options.auth.token });
  const app = new App({ appId: options.auth.appId, privateKey: options.auth.privateKey, Octokit: Client });
  return (await app.getInstallationOctokit(options.auth.installationId)) as unknown as GitHubClient;
}

/** The HTTP status of an octokit RequestError, or undefined for anything else (a network failure). */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { status?: unknown } | null)?.status;
  return typeof s === 'number' ? s : undefined;
}

/** GitHub's own error message (the response body's `message`) when there is one, else the error's. */
export function githubMessage(err: unknown): string {
  const data = (err as { response?: { data?: { message?: unknown } } } | null)?.response?.data;
  return typeof data?.message === 'string' ? data.message : messageOf(err);
}

/** One file of a commit: its text, or the sha of a blob already uploaded (git data API tree entry). */
export type TreeFile = { path: string; content: string } | { path: string; sha: string };

/**
 * Creates a tree over `base` (or an empty one) with `files` added, and a commit of it (git data API: POST
 * /git/trees, POST /git/commits). The caller moves a ref to the commit. With `expectTree`, a tree GitHub built
 * differently (other bytes than planned) throws TreeMismatch before any commit is made.
 *
 * @example
 * const { commit } = await commitFiles(o, { owner, repo, base: { commit: head, tree }, files: [{ path: 'a.json', content: '{}' }], message: 'add a' });
 */
export async function commitFiles(
  o: GitHubClient,
  input: {
    owner: string;
    repo: string;
    base: { commit: string; tree: string } | null;
    files: TreeFile[];
    message: string;
    author?: { name: string; email: string } | undefined;
    expectTree?: string;
  },
): Promise<{ tree: string; commit: string }> {
  const { owner, repo, base } = input;
  const tree = input.files.map((f) => ({ path: f.path, mode: MODE.file, type: 'blob' as const, ...('sha' in f ? { sha: f.sha } : { content: f.content }) }));
  const { data: built } = await o.rest.git.createTree({ owner, repo, tree, ...(base ? { base_tree: base.tree } : {}) });
  if (input.expectTree !== undefined && built.sha !== input.expectTree) throw new TreeMismatch(built.sha, input.expectTree);
  const sig = input.author ? { ...input.author, date: new Date().toISOString() } : undefined;
  const { data: commit } = await o.rest.git.createCommit({ owner, repo, message: input.message, tree: built.sha, parents: base ? [base.commit] : [], ...(sig ? { author: sig, committer: sig } : {}) });
  return { tree: built.sha, commit: commit.sha };
}
