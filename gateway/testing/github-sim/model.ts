// The simulator's model: the public types, route plumbing (Route, SimulatorContext, SimulatorPlugin), GitHub's
// error, and the repositories (refs over a real git object store). Route sets and the server import it; it
// imports none of them.
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { MODE, ObjectStore, type CommitData, type GitObject, type TreeEntry } from '../../github/git-objects.ts';

// ---------------------------------------------------------------------------------------------
// Public types

/** Permission levels as GitHub names them for fine-grained tokens and App installations. */
export type Permissions = Partial<Record<string, 'read' | 'write'>>;

export interface SimulatorOptions {
  /** Personal access tokens the simulator accepts, with the user they act as. */
  tokens?: Array<{ token: string; login: string; permissions?: Permissions }>;
  /** GitHub Apps: the public key verifies the app's RS256 JWTs; installations mint installation tokens. */
  apps?: Array<{
    id: number;
    slug?: string;
    publicKey: string | KeyObject;
    installations: Array<{ id: number; account: string; permissions?: Permissions; repositories?: string[] }>;
  }>;
  /** Repositories created empty (no commits) at start. */
  repos?: Array<{ owner: string; name: string; defaultBranch?: string; private?: boolean }>;
  /** Path prefix of the API, "/api/v3" to look like GitHub Enterprise Server. */
  pathPrefix?: string;
  /** Clock for token expiry, JWT checks, commit dates and rate-limit windows (ms since the epoch). */
  now?: () => number;
  /** Primary rate limit per credential (GitHub: 5000/hour for tokens, 60/hour anonymous). */
  rateLimit?: { limit?: number; windowMs?: number };
  /** Secondary limit on content-creating requests per credential (GitHub: ~80/minute). Off by default. */
  secondaryRateLimit?: { maxWrites: number; windowMs: number; retryAfter?: number };
  /** Lifetime of installation tokens (GitHub: one hour). */
  installationTokenTtlMs?: number;
  /** Extra route sets (pull requests, reviews, teams… for the approvals provider). */
  plugins?: SimulatorPlugin[];
}

/** A failure to inject. Without `times` or `durationMs` it stays until cleared. */
export interface Fault {
  /** error: answer `status` (default 502); secondary-rate-limit / primary-rate-limit: GitHub's 403s. */
  kind?: 'error' | 'secondary-rate-limit' | 'primary-rate-limit';
  status?: number;
  /** Applies to the next N matching requests. */
  times?: number;
  /** Applies for this long from now (an outage window). */
  durationMs?: number;
  /** retry-after seconds for the rate-limit kinds. */
  retryAfter?: number;
  /** Only requests for which this returns true (path without the prefix or query). */
  match?: (request: { method: string; path: string }) => boolean;
}

export interface FaultHandle {
  clear(): void;
  /** How many requests this fault has answered. */
  readonly hits: number;
}

/** One request as the simulator answered it; tests validate `responseBody` against the OpenAPI description. */
export interface RequestRecord {
  seq: number;
  /** When the request arrived (the simulator's clock, ms). */
  at: number;
  method: string;
  /** Path without prefix or query. */
  path: string;
  /** The OpenAPI path template that matched, e.g. "/repos/{owner}/{repo}/git/refs/{ref}". */
  route: string | null;
  status: number;
  requestBody: unknown;
  responseBody: unknown;
  responseHeaders: Record<string, string>;
  /** True when an injected fault answered. */
  fault: boolean;
  /** Login (or "app:<id>", "anonymous") the request was authenticated as. */
  actor: string;
}

export interface GitHubSimulator extends AsyncDisposable {
  /** Octokit's `baseUrl`, e.g. "http://127.0.0.1:40123" or ".../api/v3". */
  readonly baseUrl: string;
  /** Every request answered so far, in order. */
  readonly requests: RequestRecord[];
  /** Creates an empty repository (no commits, like "Create repository" without a README). */
  createRepo(owner: string, name: string, options?: { defaultBranch?: string; private?: boolean }): SimRepository;
  /** An existing repository; throws if absent. */
  repo(owner: string, name: string): SimRepository;
  /** Accepts another personal access token. */
  addToken(token: string, login: string, permissions?: Permissions): void;
  /** Makes the next requests fail, e.g. `inject({ status: 502, durationMs: 500 })` for an outage. */
  inject(fault: Fault): FaultHandle;
  clearFaults(): void;
  close(): Promise<void>;
}

export interface SimUser {
  login: string;
  id: number;
  type: 'User' | 'Organization' | 'Bot';
}

/** Who a request is authenticated as. */
export type Actor =
  | { kind: 'anonymous'; key: string }
  | { kind: 'user'; key: string; user: SimUser; permissions: Permissions | 'all' }
  | { kind: 'installation'; key: string; user: SimUser; installation: InstallationState; permissions: Permissions }
  | { kind: 'app'; key: string; app: AppState };

export interface AppState {
  id: number;
  slug: string;
  publicKey: KeyObject;
  bot: SimUser;
  installations: Map<number, InstallationState>;
}

export interface InstallationState {
  id: number;
  app: AppState;
  account: string;
  permissions: Permissions;
  repositories: string[] | null;
}

export interface SimRequest {
  method: string;
  route: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
  actor: Actor;
  /** Resolved for routes under /repos/{owner}/{repo}, after the access check. */
  repo: SimRepository | null;
}

export interface SimResponse {
  status: number;
  /** JSON body, or raw bytes (with a content-type header) for raw media types. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** A route in GitHub's terms: method + OpenAPI path template + the permission it needs. */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Exactly as in api.github.com.json, so the request log names the operation whose schema applies. */
  path: string;
  /** For /repos/{owner}/{repo}/… routes: [permission, level] the credential needs, e.g. ['contents', 'write']. */
  permission?: [string, 'read' | 'write'];
  /** 'app': authenticated with the GitHub App's JWT (POST /app/installations/{id}/access_tokens). */
  auth?: 'token' | 'app';
  /** docs.github.com anchor used in error bodies' documentation_url. */
  docs: string;
  handle(request: SimRequest, sim: SimulatorContext): SimResponse | Promise<SimResponse>;
}

/** What route sets get to work with: state and URL builders. */
export interface SimulatorContext {
  readonly baseUrl: string;
  /** Web URL root (the simulator's origin), for html_url fields. */
  readonly htmlUrl: string;
  now(): number;
  user(login: string, type?: SimUser['type']): SimUser;
  findRepo(owner: string, name: string): SimRepository | undefined;
}

/**
 * A route set, composed like an octokit plugin: a plain function from the simulator context to routes.
 *
 * @example
 * const pulls: SimulatorPlugin = (sim) => [{ method: 'GET', path: '/repos/{owner}/{repo}/pulls', docs: '…', handle: … }];
 * await startGitHubSimulator({ plugins: [pulls] });
 */
export type SimulatorPlugin = (sim: SimulatorContext) => Route[];

/** Throw from a route handler to answer with GitHub's error body. */
export class SimError extends Error {
  override name = 'SimError';
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Repository state with helpers for tests

/** A simulated repository: refs + object database, and helpers tests use to seed and inspect it. */
export class SimRepository {
  readonly objects = new ObjectStore();
  /** Full ref name ("refs/heads/main") → commit SHA. */
  readonly refs = new Map<string, string>();
  readonly createdAt: number;
  updatedAt: number;
  pushedAt: number;

  constructor(
    readonly id: number,
    readonly owner: SimUser,
    readonly name: string,
    public defaultBranch: string,
    readonly isPrivate: boolean,
    private readonly now: () => number,
  ) {
    this.createdAt = this.updatedAt = this.pushedAt = now();
  }

  get fullName(): string {
    return `${this.owner.login}/${this.name}`;
  }

  /** No commits at all: GitHub answers the git data API with 409 "Git Repository is empty.". */
  get isEmpty(): boolean {
    return this.refs.size === 0;
  }

  /** The commit a branch points at, or undefined. */
  head(branch: string): string | undefined {
    return this.refs.get(`refs/heads/${branch}`);
  }

  /** Sets a ref unconditionally and bumps pushed_at (GitHub's behaviour for any ref update). */
  setRef(fullRef: string, sha: string): void {
    this.refs.set(fullRef, sha);
    this.pushedAt = this.updatedAt = this.now();
  }

  /** Resolves a branch name, full ref or SHA to a commit SHA. */
  resolveCommit(refOrSha: string): string | undefined {
    const direct = this.objects.get(refOrSha);
    if (direct?.type === 'commit') return direct.sha;
    return this.refs.get(refOrSha) ?? this.refs.get(`refs/heads/${refOrSha}`) ?? this.refs.get(`refs/tags/${refOrSha}`);
  }

  commit(sha: string): Extract<GitObject, { type: 'commit' }> | undefined {
    const o = this.objects.get(sha);
    return o?.type === 'commit' ? o : undefined;
  }

  tree(sha: string): Extract<GitObject, { type: 'tree' }> | undefined {
    const o = this.objects.get(sha);
    return o?.type === 'tree' ? o : undefined;
  }

  /** The entry at `path` inside a tree (path "" is the tree itself), or undefined. */
  lookup(treeSha: string, path: string): TreeEntry | undefined {
    let entry: TreeEntry = { name: '', mode: MODE.tree, type: 'tree', sha: treeSha };
    for (const part of path.split('/').filter((p) => p !== '')) {
      const t = entry.type === 'tree' ? this.tree(entry.sha) : undefined;
      const next = t?.entries.find((e) => e.name === part);
      if (!next) return undefined;
      entry = next;
    }
    return entry;
  }

  /**
   * Applies path-based changes to a tree (null removes), creating intermediate trees as git does.
   * Empty subtrees disappear, because git cannot represent an empty directory in a parent tree.
   */
  editTree(baseSha: string | null, changes: Array<{ path: string; entry: Omit<TreeEntry, 'name'> | null }>): string {
    return this.#edit(baseSha, changes.map((c) => ({ parts: c.path.split('/'), entry: c.entry })));
  }

  #edit(baseSha: string | null, changes: Array<{ parts: string[]; entry: Omit<TreeEntry, 'name'> | null }>): string {
    const entries = new Map<string, TreeEntry>();
    if (baseSha) for (const e of this.tree(baseSha)?.entries ?? []) entries.set(e.name, e);
    const nested = new Map<string, Array<{ parts: string[]; entry: Omit<TreeEntry, 'name'> | null }>>();
    for (const c of changes) {
      const [first, ...rest] = c.parts;
      if (first === undefined) continue;
      if (rest.length === 0) {
        if (c.entry) entries.set(first, { name: first, ...c.entry });
        else entries.delete(first);
      } else {
        const list = nested.get(first) ?? [];
        list.push({ parts: rest, entry: c.entry });
        nested.set(first, list);
      }
    }
    for (const [name, sub] of nested) {
      const existing = entries.get(name);
      const sha = this.#edit(existing?.type === 'tree' ? existing.sha : null, sub);
      if (this.tree(sha)?.entries.length === 0) entries.delete(name);
      else entries.set(name, { name, mode: MODE.tree, type: 'tree', sha });
    }
    return this.objects.putTree([...entries.values()]);
  }

  /** Every file under a tree as path → blob SHA (recursive). */
  listTree(treeSha: string, prefix = ''): Map<string, TreeEntry> {
    const out = new Map<string, TreeEntry>();
    for (const e of this.tree(treeSha)?.entries ?? []) {
      const path = prefix + e.name;
      if (e.type === 'tree') for (const [p, sub] of this.listTree(e.sha, `${path}/`)) out.set(p, sub);
      else out.set(path, e);
    }
    return out;
  }

  /** All files on a branch as path → bytes ({} for a missing branch). */
  files(branch: string): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    const head = this.head(branch);
    const c = head ? this.commit(head) : undefined;
    if (!c) return out;
    for (const [path, e] of this.listTree(c.tree)) {
      const blob = this.objects.get(e.sha);
      if (blob?.type === 'blob') out.set(path, blob.data);
    }
    return out;
  }

  /** One file's bytes at a branch head, or null. */
  readFile(branch: string, path: string): Buffer | null {
    const head = this.head(branch);
    const c = head ? this.commit(head) : undefined;
    const e = c ? this.lookup(c.tree, path) : undefined;
    const blob = e ? this.objects.get(e.sha) : undefined;
    return blob?.type === 'blob' ? blob.data : null;
  }

  /** First-parent history of a branch, newest first. */
  history(branch: string): Array<{ sha: string; parents: string[]; message: string }> {
    const out: Array<{ sha: string; parents: string[]; message: string }> = [];
    let sha = this.head(branch);
    while (sha) {
      const c = this.commit(sha);
      if (!c) break;
      out.push({ sha, parents: c.parents, message: c.message });
      sha = c.parents[0];
    }
    return out;
  }

  /**
   * Seeds a commit on `branch` (created if missing) with files added on top of its head, the way a push would.
   *
   * @example
   * sim.createRepo('acme', 'evidence').commitFiles('main', { 'README.md': '# evidence\n' }, 'init');
   */
  commitFiles(branch: string, files: Record<string, string | Buffer>, message: string): string {
    const head = this.head(branch);
    const base = head ? this.commit(head)?.tree ?? null : null;
    const tree = this.editTree(
      base,
      Object.entries(files).map(([path, content]) => ({
        path,
        entry: { mode: MODE.file, type: 'blob' as const, sha: this.objects.putBlob(Buffer.from(content)) },
      })),
    );
    const sig = { name: 'Seeder', email: 'seeder@example.com', seconds: Math.floor(this.now() / 1000), tz: '+0000' };
    const data: CommitData = { tree, parents: head ? [head] : [], author: sig, committer: sig, message };
    const sha = this.objects.putCommit(data);
    if (this.isEmpty) this.defaultBranch = branch;
    this.setRef(`refs/heads/${branch}`, sha);
    return sha;
  }
}

