// Publishes sealed evidence batches into a GitHub repository through the git data API: one commit per
// batch on top of the branch head, fast-forward only, retried with jitter when another instance wins.
import { MODE, blobSha, encodeTree, hashObject } from '../github/git-objects.ts';
import { commitFiles, createGitHubClient, githubMessage, statusOf, type GitHubAuth, type GitHubClient, type GitHubClientTuning, type TreeFile } from '../github/client.ts';
import { TreeMismatch } from '../github/errors.ts';
import { PublishError } from './errors.ts';
import type { EvidenceFile, EvidencePublisher, PublishResult } from './publisher.ts';

export interface GitHubPublisherOptions {
  owner: string;
  repo: string;
  /** The evidence branch; created by the first publish if it does not exist. */
  branch: string;
  /** https://api.github.com by default; GitHub Enterprise Server: https://ghe.example.com/api/v3. */
  baseUrl?: string;
  auth: GitHubAuth;
  /** Author and committer of evidence commits; GitHub's default is the token's user or the App's bot. */
  author?: { name: string; email: string };
  /** Client tuning: write budget per minute, retries, rate-limit waits (see createGitHubClient). */
  client?: GitHubClientTuning;
  /** A ready client instead of building one from auth/baseUrl/client (the other options still apply). */
  octokit?: GitHubClient;
  /** Rounds of read-head → commit → fast-forward before giving up with RETRYABLE (default 12). */
  maxAttempts?: number;
  /** Backoff after a lost race: uniform in [0, min(maxMs, baseMs × 2^round)] ("full jitter"). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Source of randomness for the jitter (tests make it deterministic). */
  random?: () => number;
}

/** A tree entry with its mode as git stores it ("40000" for trees, where the REST API says "040000"). */
type TreeItem = { name: string; mode: string; type: string; sha: string };
type Head = { kind: 'ok'; commit: string; tree: string } | { kind: 'missing' } | { kind: 'empty' };

// Trees and commits are content-addressed, so a cache keyed by SHA never goes stale; the bound keeps
// memory flat on a long-running gateway.
class ShaCache<V> {
  readonly #map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(sha: string): V | undefined {
    return this.#map.get(sha);
  }
  set(sha: string, value: V): void {
    if (this.#map.size >= this.max) this.#map.delete(this.#map.keys().next().value as string);
    this.#map.set(sha, value);
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Maps an octokit failure to the publisher's codes: outages and rate limits are RETRYABLE (the spool
 * keeps the backlog), credentials and permissions are FATAL.
 */
function classify(err: unknown, what: string): PublishError {
  if (err instanceof PublishError) return err;
  const status = statusOf(err);
  const msg = githubMessage(err);
  const headers = (err as { response?: { headers?: Record<string, string> } }).response?.headers ?? {};
  if (status === undefined) {
    const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    const network = err instanceof TypeError || (code !== undefined && NETWORK_CODES.has(code)) || (err as Error).name === 'AbortError';
    return new PublishError(network ? 'RETRYABLE' : 'FATAL', `${what}: ${msg}`, { cause: err });
  }
  // octokit reports network failures (no HTTP answer) as status 500.
  if (status >= 500) return new PublishError('RETRYABLE', `${what}: GitHub answered ${status} (${msg})`, { cause: err });
  if (status === 429 || (status === 403 && (headers['x-ratelimit-remaining'] === '0' || headers['retry-after'] !== undefined || /rate limit/i.test(msg)))) {
    return new PublishError('RETRYABLE', `${what}: rate limited by GitHub (${msg})`, { cause: err });
  }
  if (status === 401) return new PublishError('FATAL', `${what}: GitHub rejected the credentials (401 ${msg}); check the token or the App's key and id`, { cause: err });
  if (status === 403) return new PublishError('FATAL', `${what}: not allowed (403 ${msg}); the token or App installation needs contents: write on the evidence repository`, { cause: err });
  if (status === 404) return new PublishError('FATAL', `${what}: repository not found or not visible to these credentials (404)`, { cause: err });
  return new PublishError('FATAL', `${what}: GitHub answered ${status} (${msg})`, { cause: err });
}

function isLostRace(err: unknown): boolean {
  return statusOf(err) === 422 && /not a fast forward|Reference already exists|Reference does not exist/i.test(githubMessage(err));
}

function checkPath(path: string): void {
  const parts = path.split('/');
  if (path === '' || parts.some((p) => p === '' || p === '.' || p === '..' || p === '.git')) {
    throw new PublishError('FATAL', `invalid evidence path ${JSON.stringify(path)}`);
  }
}

/** True when the bytes survive a UTF-8 round trip, so they can travel inline as a tree entry's `content`. */
function isUtf8(data: Buffer): boolean {
  return Buffer.from(data.toString('utf8'), 'utf8').equals(data);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The GitHub evidence publisher. Each publish reads the branch head, skips files already there with
 * identical bytes, fails with CONFLICT on a path holding other bytes, then creates one tree (new files
 * inline; non-UTF-8 files as blobs) and one commit and fast-forwards the branch with force: false. A lost
 * race (422 "Update is not a fast forward") re-reads the head and tries again after a jittered pause.
 * Writes are paced by the client's budget (GitHub's secondary limit is ~80 content writes per minute);
 * a publish costs three writes. An empty repository is started through the contents API, because the git
 * data API answers 409 there.
 *
 * @example
 * const publisher = githubPublisher({
 *   owner: 'acme', repo: 'verdict-evidence', branch: 'main',
 *   auth: { appId: 12345, privateKey: pem, installationId: 678 },
 *   author: { name: 'Verdict gateway', email: 'verdict@acme.example' },
 * });
 * const { commit } = await publisher.publish([{ path: 'streams/gw-1/2026/11/21/000000000001.jsonl', content }], 'evidence gw-1 #1');
 */
export function githubPublisher(options: GitHubPublisherOptions): EvidencePublisher {
  const { owner, repo, branch } = options;
  const maxAttempts = options.maxAttempts ?? 12;
  const baseMs = options.backoff?.baseMs ?? 100;
  const maxMs = options.backoff?.maxMs ?? 5_000;
  const random = options.random ?? Math.random;
  const trees = new ShaCache<TreeItem[]>(4096);
  const commitTrees = new ShaCache<string>(4096);
  let client: Promise<GitHubClient> | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const gh = (): Promise<GitHubClient> => {
    client ??= options.octokit
      ? Promise.resolve(options.octokit)
      : createGitHubClient({ ...options.client, auth: options.auth, ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}) });
    return client;
  };

  const signature = () => (options.author ? { ...options.author, date: new Date().toISOString() } : undefined);

  async function readHead(o: GitHubClient): Promise<Head> {
    let commit: string;
    try {
      const { data } = await o.rest.git.getRef({ owner, repo, ref: `heads/${branch}` });
      commit = data.object.sha;
    } catch (err) {
      if (statusOf(err) === 404) return { kind: 'missing' };
      if (statusOf(err) === 409) return { kind: 'empty' };
      throw err;
    }
    let tree = commitTrees.get(commit);
    if (!tree) {
      const { data } = await o.rest.git.getCommit({ owner, repo, commit_sha: commit });
      tree = data.tree.sha;
      commitTrees.set(commit, tree);
    }
    return { kind: 'ok', commit, tree };
  }

  async function listTree(o: GitHubClient, sha: string): Promise<TreeItem[]> {
    let items = trees.get(sha);
    if (!items) {
      const { data } = await o.rest.git.getTree({ owner, repo, tree_sha: sha });
      items = data.tree.map((e) => ({ name: e.path ?? '', mode: e.mode === '040000' ? MODE.tree : (e.mode ?? ''), type: e.type ?? '', sha: e.sha ?? '' }));
      trees.set(sha, items);
    }
    return items;
  }

  /** The entry at `path` below a root tree, walking one directory level per (cached) request. */
  async function lookup(o: GitHubClient, root: string, path: string): Promise<TreeItem | undefined> {
    const parts = path.split('/');
    let sha = root;
    for (let i = 0; i < parts.length; i++) {
      const item = (await listTree(o, sha)).find((e) => e.name === parts[i]);
      if (!item || i === parts.length - 1) return item;
      // A file where a directory is needed: reported as its own kind so it can never pass as identical.
      if (item.type !== 'tree') return { name: parts.slice(0, i + 1).join('/'), mode: item.mode, type: `${item.type} in the way`, sha: item.sha };
      sha = item.sha;
    }
    return undefined;
  }

  /**
   * The tree GitHub must build from `base` plus `adds`, hashed locally like git does. Comparing it with
   * GitHub's answer proves every byte arrived intact (inline content included), and caching the new
   * directories spares the next publish from reading back what it just wrote.
   */
  async function plannedTree(o: GitHubClient, base: string | null, adds: Array<{ parts: string[]; sha: string }>): Promise<string> {
    const entries = new Map<string, TreeItem>();
    if (base) for (const e of await listTree(o, base)) entries.set(e.name, e);
    const nested = new Map<string, Array<{ parts: string[]; sha: string }>>();
    for (const a of adds) {
      const [first, ...rest] = a.parts;
      if (first === undefined) continue;
      if (rest.length === 0) entries.set(first, { name: first, mode: MODE.file, type: 'blob', sha: a.sha });
      else nested.set(first, [...(nested.get(first) ?? []), { parts: rest, sha: a.sha }]);
    }
    for (const [name, sub] of nested) {
      const existing = entries.get(name);
      const sha = await plannedTree(o, existing?.type === 'tree' ? existing.sha : null, sub);
      entries.set(name, { name, mode: MODE.tree, type: 'tree', sha });
    }
    const items = [...entries.values()];
    const sha = hashObject('tree', encodeTree(items.map((e) => ({ ...e, type: e.type as 'blob' | 'tree' | 'commit' }))));
    trees.set(sha, items);
    return sha;
  }

  async function publishOnce(files: EvidenceFile[], message: string): Promise<PublishResult> {
    const local = new Map<string, EvidenceFile & { sha: string }>();
    for (const f of files) {
      checkPath(f.path);
      const sha = blobSha(f.content);
      const twin = local.get(f.path);
      if (twin && twin.sha !== sha) throw new PublishError('FATAL', `${f.path} appears twice in one batch with different content`);
      local.set(f.path, { ...f, sha });
    }
    const o = await gh().catch((err: unknown) => {
      client = undefined;
      throw classify(err, 'creating the GitHub client');
    });
    const bootstrapped = new Set<string>();
    const blobs = new Set<string>(); // non-UTF-8 blobs already uploaded in an earlier round

    for (let round = 0; round < maxAttempts; round++) {
      const head = await readHead(o);
      if (head.kind === 'empty') {
        // A repository without commits: the git data API answers 409, the contents API can start it.
        const first = local.values().next().value;
        if (!first) throw new PublishError('FATAL', 'nothing to publish into an empty repository');
        try {
          await o.rest.repos.createOrUpdateFileContents({
            owner, repo, branch, path: first.path, message,
            content: first.content.toString('base64'),
            ...(options.author ? { author: signature(), committer: signature() } : {}),
          });
          bootstrapped.add(first.path);
        } catch (err) {
          // 409/422/404: another instance started the repository first (perhaps on another branch);
          // the next round sees its commit or the missing branch.
          if (statusOf(err) !== 409 && statusOf(err) !== 422 && statusOf(err) !== 404) throw err;
        }
        continue;
      }

      if (head.kind === 'missing' && local.size === 0) throw new PublishError('FATAL', `nothing to publish, and ${branch} does not exist yet`);
      const present: string[] = [];
      const toAdd: Array<EvidenceFile & { sha: string }> = [];
      for (const f of local.values()) {
        const entry = head.kind === 'ok' ? await lookup(o, head.tree, f.path) : undefined;
        if (!entry) toAdd.push(f);
        else if (entry.type === 'blob' && entry.sha === f.sha) present.push(f.path);
        else {
          throw new PublishError(
            'CONFLICT',
            `${f.path} already exists in ${owner}/${repo}@${branch} with other content (${entry.type} ${entry.sha}, ours ${f.sha}); published evidence is never overwritten`,
          );
        }
      }
      const alreadyPresent = present.filter((p) => !bootstrapped.has(p));
      if (toAdd.length === 0 && head.kind === 'ok') return { commit: head.commit, alreadyPresent };

      const files: TreeFile[] = [];
      for (const f of toAdd) {
        if (isUtf8(f.content)) {
          files.push({ path: f.path, content: f.content.toString('utf8') });
          continue;
        }
        if (!blobs.has(f.sha)) {
          await o.rest.git.createBlob({ owner, repo, content: f.content.toString('base64'), encoding: 'base64' });
          blobs.add(f.sha);
        }
        files.push({ path: f.path, sha: f.sha });
      }
      const base = head.kind === 'ok' ? head : null;
      const planned = await plannedTree(o, base?.tree ?? null, toAdd.map((f) => ({ parts: f.path.split('/'), sha: f.sha })));
      let commit: { tree: string; commit: string };
      try {
        commit = await commitFiles(o, { owner, repo, base: base ? { commit: base.commit, tree: base.tree } : null, files, message, author: options.author, expectTree: planned });
      } catch (err) {
        if (!(err instanceof TreeMismatch)) throw err;
        throw new PublishError('FATAL', `GitHub built tree ${err.built} where ${planned} was expected: the evidence bytes or the base tree differ from what was sent; nothing was committed`);
      }
      try {
        if (base) await o.rest.git.updateRef({ owner, repo, ref: `heads/${branch}`, sha: commit.commit, force: false });
        else await o.rest.git.createRef({ owner, repo, ref: `refs/heads/${branch}`, sha: commit.commit });
      } catch (err) {
        if (!isLostRace(err)) throw err;
        await sleep(random() * Math.min(maxMs, baseMs * 2 ** round));
        continue;
      }
      commitTrees.set(commit.commit, commit.tree);
      return { commit: commit.commit, alreadyPresent };
    }
    throw new PublishError('RETRYABLE', `lost the race for ${owner}/${repo}@${branch} ${maxAttempts} times in a row; will try again later`);
  }

  async function readOnce(path: string): Promise<Buffer | null> {
    const o = await gh().catch((err: unknown) => {
      client = undefined;
      throw classify(err, 'creating the GitHub client');
    });
    const head = await readHead(o);
    if (head.kind !== 'ok') return null;
    const entry = await lookup(o, head.tree, path);
    if (!entry || entry.type !== 'blob') return null;
    const { data } = await o.rest.git.getBlob({ owner, repo, file_sha: entry.sha });
    return Buffer.from(data.content, data.encoding === 'base64' ? 'base64' : 'utf8');
  }

  return {
    name: `github:${owner}/${repo}@${branch}`,
    publish(files, message) {
      // One publish at a time per instance: racing ourselves would only burn the write budget.
      const run = queue.then(() => publishOnce(files, message)).catch((err: unknown) => {
        throw classify(err, `publishing to ${owner}/${repo}@${branch}`);
      });
      queue = run.catch(() => undefined);
      return run;
    },
    async read(path) {
      try {
        return await readOnce(path);
      } catch (err) {
        throw classify(err, `reading ${path} from ${owner}/${repo}@${branch}`);
      }
    },
  };
}
