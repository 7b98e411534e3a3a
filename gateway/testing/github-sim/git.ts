// The simulator's repository routes: GET repository, the git data API (blobs, trees, commits, refs) and
// the contents API, with GitHub's validation messages, 409 on empty repositories and fast-forward checks.
import { MODE, fromGitTime, toGitTime, type GitObject, type Signature, type TreeEntry } from '../../github/git-objects.ts';
import { SimError, type Actor, type Route, type SimRepository, type SimRequest, type SimulatorContext } from './model.ts';
import { nodeId, repositoryJson } from './json.ts';

const DOCS = {
  repo: 'https://docs.github.com/rest/repos/repos#get-a-repository',
  createBlob: 'https://docs.github.com/rest/git/blobs#create-a-blob',
  getBlob: 'https://docs.github.com/rest/git/blobs#get-a-blob',
  createTree: 'https://docs.github.com/rest/git/trees#create-a-tree',
  getTree: 'https://docs.github.com/rest/git/trees#get-a-tree',
  createCommit: 'https://docs.github.com/rest/git/commits#create-a-commit',
  getCommit: 'https://docs.github.com/rest/git/commits#get-a-commit-object',
  getRef: 'https://docs.github.com/rest/git/refs#get-a-reference',
  matchingRefs: 'https://docs.github.com/rest/git/refs#list-matching-references',
  createRef: 'https://docs.github.com/rest/git/refs#create-a-reference',
  updateRef: 'https://docs.github.com/rest/git/refs#update-a-reference',
  deleteRef: 'https://docs.github.com/rest/git/refs#delete-a-reference',
  getContent: 'https://docs.github.com/rest/repos/contents#get-repository-content',
  putContent: 'https://docs.github.com/rest/repos/contents#create-or-update-file-contents',
};

/** GitHub serves blob and file content as base64 wrapped at 60 columns. */
function wrapBase64(data: Buffer): string {
  const b64 = data.toString('base64');
  let out = '';
  for (let i = 0; i < b64.length; i += 60) out += `${b64.slice(i, i + 60)}\n`;
  return out;
}

function wantsRaw(req: SimRequest): boolean {
  return /application\/vnd\.github(\.v3)?\.raw/i.test(String(req.headers.accept ?? ''));
}

/** Git data endpoints answer 409 on a repository without commits; the contents API is how one starts it. */
function requireCommits(repo: SimRepository): void {
  if (repo.isEmpty) throw new SimError(409, 'Git Repository is empty.');
}

function body(req: SimRequest): Record<string, unknown> {
  const b = req.body;
  return typeof b === 'object' && b !== null && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

function missing(field: string): SimError {
  return new SimError(422, `Invalid request.\n\n"${field}" wasn't supplied.`);
}

function validRefName(ref: string): boolean {
  return (
    /^refs\/[^/]+\/.+/.test(ref) &&
    !/(\.\.|@\{|\/\/|[\s~^:?*[\\\x00-\x1f\x7f])/.test(ref) &&
    !ref.endsWith('/') &&
    !ref.endsWith('.lock') &&
    !ref.endsWith('.')
  );
}

/**
 * The repository, git data and contents routes, as a simulator plugin.
 *
 * @example
 * const routes = gitRoutes(ctx); // registered by startGitHubSimulator itself
 */
export function gitRoutes(ctx: SimulatorContext): Route[] {
  const api = (repo: SimRepository, path: string) => `${ctx.baseUrl}/repos/${repo.fullName}${path}`;
  const html = (repo: SimRepository, path: string) => `${ctx.htmlUrl}/${repo.fullName}${path}`;

  // The shared `repository` shape, plus what GET /repos/{o}/{r} adds for the caller (full-repository).
  const repoJson = (repo: SimRepository, actor: Actor) => {
    const canWrite = actor.kind === 'user' || actor.kind === 'installation';
    return {
      ...repositoryJson(ctx, repo),
      permissions: { admin: false, maintain: false, push: canWrite, triage: canWrite, pull: true },
      network_count: 0,
      subscribers_count: 0,
    };
  };

  const signatureJson = (s: Signature) => ({ name: s.name, email: s.email, date: fromGitTime(s.seconds, s.tz) });

  const commitJson = (repo: SimRepository, c: Extract<GitObject, { type: 'commit' }>) => ({
    sha: c.sha,
    node_id: nodeId('Commit', c.sha),
    url: api(repo, `/git/commits/${c.sha}`),
    html_url: html(repo, `/commit/${c.sha}`),
    author: signatureJson(c.author),
    committer: signatureJson(c.committer),
    tree: { sha: c.tree, url: api(repo, `/git/trees/${c.tree}`) },
    message: c.message,
    parents: c.parents.map((p) => ({ sha: p, url: api(repo, `/git/commits/${p}`), html_url: html(repo, `/commit/${p}`) })),
    verification: { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null },
  });

  const treeEntryJson = (repo: SimRepository, e: TreeEntry, path: string) => {
    const base = { path, mode: e.mode === MODE.tree ? '040000' : e.mode, type: e.type, sha: e.sha };
    if (e.type === 'blob') {
      const o = repo.objects.get(e.sha);
      return { ...base, size: o?.type === 'blob' ? o.data.length : 0, url: api(repo, `/git/blobs/${e.sha}`) };
    }
    if (e.type === 'tree') return { ...base, url: api(repo, `/git/trees/${e.sha}`) };
    return base;
  };

  // GitHub caps recursive tree listings at 100,000 entries and sets truncated.
  const TREE_LIMIT = 100_000;
  const treeJson = (repo: SimRepository, sha: string, recursive: boolean) => {
    const entries: ReturnType<typeof treeEntryJson>[] = [];
    let truncated = false;
    const walk = (treeSha: string, prefix: string) => {
      for (const e of repo.tree(treeSha)?.entries ?? []) {
        if (entries.length >= TREE_LIMIT) {
          truncated = true;
          return;
        }
        entries.push(treeEntryJson(repo, e, prefix + e.name));
        if (recursive && e.type === 'tree') walk(e.sha, `${prefix}${e.name}/`);
      }
    };
    walk(sha, '');
    return { sha, url: api(repo, `/git/trees/${sha}`), tree: entries, truncated };
  };

  const refJson = (repo: SimRepository, fullRef: string, sha: string) => {
    const o = repo.objects.get(sha);
    const type = o?.type ?? 'commit';
    return {
      ref: fullRef,
      node_id: nodeId('Ref', `${repo.id}:${fullRef}`),
      url: api(repo, `/git/${fullRef}`),
      object: { sha, type, url: api(repo, `/git/${type}s/${sha}`) },
    };
  };

  const actorSignature = (actor: Actor): Signature => {
    const u = actor.kind === 'user' || actor.kind === 'installation' ? actor.user : ctx.user('ghost');
    return { name: u.login, email: `${u.id}+${u.login}@users.noreply.github.com`, seconds: Math.floor(ctx.now() / 1000), tz: '+0000' };
  };

  const parseSignature = (value: unknown, field: string, fallback: Signature): Signature => {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'object') throw new SimError(422, `Invalid request.\n\nFor '${field}', ${JSON.stringify(value)} is not an object.`);
    const v = value as Record<string, unknown>;
    if (typeof v.name !== 'string' || v.name === '') throw new SimError(422, `Invalid request.\n\n"name" wasn't supplied.`);
    if (typeof v.email !== 'string' || v.email === '') throw new SimError(422, `Invalid request.\n\n"email" wasn't supplied.`);
    let time = { seconds: Math.floor(ctx.now() / 1000), tz: '+0000' };
    if (v.date !== undefined) {
      const t = typeof v.date === 'string' ? toGitTime(v.date) : null;
      if (!t) throw new SimError(422, `Invalid request.\n\n${JSON.stringify(v.date)} is not a valid date-time.`);
      time = t;
    }
    return { name: v.name, email: v.email, ...time };
  };

  const fileJson = (repo: SimRepository, path: string, ref: string, e: TreeEntry) => {
    const name = path.split('/').pop() ?? path;
    const self = `${api(repo, `/contents/${path}`)}?ref=${encodeURIComponent(ref)}`;
    const gitUrl = e.type === 'tree' ? api(repo, `/git/trees/${e.sha}`) : api(repo, `/git/blobs/${e.sha}`);
    const htmlUrl = html(repo, `/${e.type === 'tree' ? 'tree' : 'blob'}/${ref}/${path}`);
    const o = repo.objects.get(e.sha);
    return {
      type: e.type === 'tree' ? 'dir' : e.type === 'commit' ? 'submodule' : e.mode === MODE.symlink ? 'symlink' : 'file',
      size: o?.type === 'blob' ? o.data.length : 0,
      name,
      path,
      sha: e.sha,
      url: self,
      git_url: gitUrl,
      html_url: htmlUrl,
      download_url: e.type === 'blob' ? `${ctx.htmlUrl}/raw/${repo.fullName}/${ref}/${path}` : null,
      _links: { self, git: gitUrl, html: htmlUrl },
    };
  };

  // Content over 1 MB comes back without content (encoding "none"), as GitHub does; use the blobs API.
  const CONTENT_LIMIT = 1024 * 1024;

  return [
    {
      method: 'GET',
      path: '/repos/{owner}/{repo}',
      docs: DOCS.repo,
      handle: (req) => ({ status: 200, body: repoJson(req.repo!, req.actor) }),
    },
    {
      method: 'POST',
      path: '/repos/{owner}/{repo}/git/blobs',
      permission: ['contents', 'write'],
      docs: DOCS.createBlob,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        const b = body(req);
        if (typeof b.content !== 'string') throw missing('content');
        const encoding = b.encoding ?? 'utf-8';
        if (encoding !== 'utf-8' && encoding !== 'utf8' && encoding !== 'base64') {
          throw new SimError(422, `encoding must be either 'utf-8' or 'base64'`);
        }
        const data = encoding === 'base64' ? Buffer.from(b.content, 'base64') : Buffer.from(b.content, 'utf8');
        const sha = repo.objects.putBlob(data);
        const url = api(repo, `/git/blobs/${sha}`);
        return { status: 201, body: { sha, url }, headers: { location: url } };
      },
    },
    {
      method: 'GET',
      path: '/repos/{owner}/{repo}/git/blobs/{file_sha}',
      permission: ['contents', 'read'],
      docs: DOCS.getBlob,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        const o = repo.objects.get(req.params.file_sha ?? '');
        if (o?.type !== 'blob') throw new SimError(404, 'Not Found');
        if (wantsRaw(req)) return { status: 200, body: o.data, headers: { 'content-type': 'application/vnd.github.raw' } };
        return {
          status: 200,
          body: { sha: o.sha, node_id: nodeId('Blob', o.sha), size: o.data.length, url: api(repo, `/git/blobs/${o.sha}`), content: wrapBase64(o.data), encoding: 'base64' },
        };
      },
    },
    {
      method: 'POST',
      path: '/repos/{owner}/{repo}/git/trees',
      permission: ['contents', 'write'],
      docs: DOCS.createTree,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        const b = body(req);
        if (!Array.isArray(b.tree)) throw missing('tree');
        let base: string | null = null;
        if (b.base_tree !== undefined && b.base_tree !== null) {
          if (typeof b.base_tree !== 'string' || !repo.tree(b.base_tree)) throw new SimError(422, 'Invalid request.\n\nbase_tree is not a valid tree oid.');
          base = b.base_tree;
        }
        const changes: Array<{ path: string; entry: Omit<TreeEntry, 'name'> | null }> = [];
        for (const raw of b.tree as unknown[]) {
          const e = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
          const path = e.path;
          if (typeof path !== 'string' || path === '' || path.startsWith('/') || path.endsWith('/') || path.split('/').some((p) => p === '' || p === '.' || p === '..' || p === '.git')) {
            throw new SimError(422, `Invalid request.\n\n"path" ${JSON.stringify(path)} is not a valid tree path.`);
          }
          const mode = e.mode;
          if (mode !== '100644' && mode !== '100755' && mode !== '040000' && mode !== '160000' && mode !== '120000') {
            throw new SimError(422, `Invalid request.\n\nFor 'properties/mode', ${JSON.stringify(mode)} is not one of ["100644", "100755", "040000", "160000", "120000"].`);
          }
          const type = e.type ?? (mode === '040000' ? 'tree' : mode === '160000' ? 'commit' : 'blob');
          if (type !== 'blob' && type !== 'tree' && type !== 'commit') {
            throw new SimError(422, `Invalid request.\n\nFor 'properties/type', ${JSON.stringify(type)} is not one of ["blob", "tree", "commit"].`);
          }
          const hasSha = 'sha' in e;
          const hasContent = typeof e.content === 'string';
          if (hasSha && hasContent) throw new SimError(422, 'Must supply either tree.sha or tree.content. Request will fail if both are supplied.');
          const storedMode = mode === '040000' ? MODE.tree : mode;
          if (hasContent) {
            if (type !== 'blob') throw new SimError(422, 'tree.content can only be used with blobs');
            changes.push({ path, entry: { mode: storedMode, type, sha: repo.objects.putBlob(Buffer.from(e.content as string, 'utf8')) } });
          } else if (hasSha && e.sha === null) {
            changes.push({ path, entry: null });
          } else if (typeof e.sha === 'string') {
            const o = repo.objects.get(e.sha);
            // A submodule entry points at a commit of another repository, so it need not exist here.
            if (type !== 'commit' && o?.type !== type) throw new SimError(422, 'GitRPC::BadObjectState');
            changes.push({ path, entry: { mode: storedMode, type, sha: e.sha } });
          } else {
            throw new SimError(422, 'Must supply either tree.sha or tree.content. Request will fail if both are supplied.');
          }
        }
        const sha = repo.editTree(base, changes);
        const url = api(repo, `/git/trees/${sha}`);
        return { status: 201, body: treeJson(repo, sha, false), headers: { location: url } };
      },
    },
    {
      method: 'GET',
      path: '/repos/{owner}/{repo}/git/trees/{tree_sha}',
      permission: ['contents', 'read'],
      docs: DOCS.getTree,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        // tree_sha may also be a commit SHA or a branch/tag name: GitHub peels it to the commit's tree.
        const key = req.params.tree_sha ?? '';
        let sha: string | undefined = repo.tree(key)?.sha;
        if (!sha) {
          const c = repo.resolveCommit(key);
          sha = c ? repo.commit(c)?.tree : undefined;
        }
        if (!sha) throw new SimError(404, 'Not Found');
        return { status: 200, body: treeJson(repo, sha, req.query.has('recursive')) };
      },
    },
    {
      method: 'POST',
      path: '/repos/{owner}/{repo}/git/commits',
      permission: ['contents', 'write'],
      docs: DOCS.createCommit,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        const b = body(req);
        if (typeof b.message !== 'string') throw missing('message');
        if (typeof b.tree !== 'string') throw missing('tree');
        if (!repo.tree(b.tree)) throw new SimError(422, 'Tree SHA does not exist');
        const parents = b.parents === undefined ? [] : b.parents;
        if (!Array.isArray(parents) || parents.some((p) => typeof p !== 'string' || !repo.commit(p))) {
          throw new SimError(422, 'Parent SHA does not exist or is not a commit object');
        }
        const author = parseSignature(b.author, 'author', actorSignature(req.actor));
        const committer = parseSignature(b.committer, 'committer', b.author ? author : actorSignature(req.actor));
        const sha = repo.objects.putCommit({ tree: b.tree, parents: parents as string[], author, committer, message: b.message });
        const url = api(repo, `/git/commits/${sha}`);
        return { status: 201, body: commitJson(repo, repo.commit(sha)!), headers: { location: url } };
      },
    },
    {
      method: 'GET',
      path: '/repos/{owner}/{repo}/git/commits/{commit_sha}',
      permission: ['contents', 'read'],
      docs: DOCS.getCommit,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        const c = repo.commit(req.params.commit_sha ?? '');
        if (!c) throw new SimError(404, 'Not Found');
        return { status: 200, body: commitJson(repo, c) };
      },
    },
    {
      method: 'GET',
      path: '/repos/{owner}/{repo}/git/ref/{ref}',
      permission: ['contents', 'read'],
      docs: DOCS.getRef,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        const full = `refs/${(req.params.ref ?? '').replace(/^refs\//, '')}`;
        const sha = repo.refs.get(full);
        if (!sha) throw new SimError(404, 'Not Found');
        return { status: 200, body: refJson(repo, full, sha) };
      },
    },
    {
      method: 'GET',
      path: '/repos/{owner}/{repo}/git/matching-refs/{ref}',
      permission: ['contents', 'read'],
      docs: DOCS.matchingRefs,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        const prefix = `refs/${(req.params.ref ?? '').replace(/^refs\//, '')}`;
        const out = [...repo.refs].filter(([r]) => r.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
        return { status: 200, body: out.map(([r, sha]) => refJson(repo, r, sha)) };
      },
    },
    {
      method: 'POST',
      path: '/repos/{owner}/{repo}/git/refs',
      permission: ['contents', 'write'],
      docs: DOCS.createRef,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        const b = body(req);
        if (typeof b.ref !== 'string') throw missing('ref');
        if (typeof b.sha !== 'string') throw missing('sha');
        if (!validRefName(b.ref)) throw new SimError(422, `Reference name is not valid: '${b.ref}' must be fully qualified (refs/heads/…).`);
        if (repo.refs.has(b.ref)) throw new SimError(422, 'Reference already exists');
        if (!repo.objects.get(b.sha)) throw new SimError(422, 'Object does not exist');
        repo.setRef(b.ref, b.sha);
        const url = api(repo, `/git/${b.ref}`);
        return { status: 201, body: refJson(repo, b.ref, b.sha), headers: { location: url } };
      },
    },
    {
      method: 'PATCH',
      path: '/repos/{owner}/{repo}/git/refs/{ref}',
      permission: ['contents', 'write'],
      docs: DOCS.updateRef,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        const b = body(req);
        if (typeof b.sha !== 'string') throw missing('sha');
        const full = `refs/${(req.params.ref ?? '').replace(/^refs\//, '')}`;
        const current = repo.refs.get(full);
        if (!current) throw new SimError(422, 'Reference does not exist');
        const target = repo.objects.get(b.sha);
        if (!target) throw new SimError(422, 'Object does not exist');
        // The check GitHub does: without force the new commit must descend from the current one.
        if (b.force !== true && !(target.type === 'commit' && repo.objects.isAncestor(current, b.sha))) {
          throw new SimError(422, 'Update is not a fast forward');
        }
        repo.setRef(full, b.sha);
        return { status: 200, body: refJson(repo, full, b.sha) };
      },
    },
    {
      method: 'DELETE',
      path: '/repos/{owner}/{repo}/git/refs/{ref}',
      permission: ['contents', 'write'],
      docs: DOCS.deleteRef,
      handle(req) {
        const repo = req.repo!;
        requireCommits(repo);
        const full = `refs/${(req.params.ref ?? '').replace(/^refs\//, '')}`;
        if (!repo.refs.delete(full)) throw new SimError(422, 'Reference does not exist');
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/repos/{owner}/{repo}/contents/{path}',
      permission: ['contents', 'read'],
      docs: DOCS.getContent,
      handle(req) {
        const repo = req.repo!;
        if (repo.isEmpty) throw new SimError(404, 'This repository is empty.');
        const ref = req.query.get('ref') ?? repo.defaultBranch;
        const commit = repo.resolveCommit(ref);
        if (!commit) throw new SimError(404, `No commit found for the ref ${ref}`);
        const path = (req.params.path ?? '').replace(/^\/+|\/+$/g, '');
        const entry = repo.lookup(repo.commit(commit)!.tree, path);
        if (!entry) throw new SimError(404, 'Not Found');
        if (entry.type === 'tree') {
          const items = repo.tree(entry.sha)!.entries.map((e) => fileJson(repo, path ? `${path}/${e.name}` : e.name, ref, e));
          return { status: 200, body: items };
        }
        const blob = repo.objects.get(entry.sha);
        const data = blob?.type === 'blob' ? blob.data : Buffer.alloc(0);
        if (wantsRaw(req)) return { status: 200, body: data, headers: { 'content-type': 'application/vnd.github.raw' } };
        const big = data.length > CONTENT_LIMIT;
        return { status: 200, body: { ...fileJson(repo, path, ref, entry), content: big ? '' : wrapBase64(data), encoding: big ? 'none' : 'base64' } };
      },
    },
    {
      method: 'PUT',
      path: '/repos/{owner}/{repo}/contents/{path}',
      permission: ['contents', 'write'],
      docs: DOCS.putContent,
      handle(req) {
        const repo = req.repo!;
        const b = body(req);
        const path = (req.params.path ?? '').replace(/^\/+|\/+$/g, '');
        if (typeof b.message !== 'string') throw missing('message');
        if (typeof b.content !== 'string') throw missing('content');
        const branch = typeof b.branch === 'string' ? b.branch : repo.defaultBranch;
        const wasEmpty = repo.isEmpty;
        const head = repo.head(branch);
        if (!wasEmpty && !head) throw new SimError(404, `Branch ${branch} not found`);
        const baseTree = head ? repo.commit(head)!.tree : null;
        const existing = baseTree ? repo.lookup(baseTree, path) : undefined;
        if (existing && existing.type !== 'blob') throw new SimError(422, `Invalid request.\n\n"path" ${path} is a directory.`);
        if (existing && b.sha === undefined) throw new SimError(422, `Invalid request.\n\n"sha" wasn't supplied.`);
        if (existing && b.sha !== existing.sha) throw new SimError(409, `${path} does not match ${String(b.sha)}`);
        if (!existing && b.sha !== undefined) throw new SimError(422, `Invalid request.\n\n"sha" is not needed for a new file.`);
        const blob = repo.objects.putBlob(Buffer.from(b.content, 'base64'));
        const tree = repo.editTree(baseTree, [{ path, entry: { mode: MODE.file, type: 'blob', sha: blob } }]);
        const author = parseSignature(b.author, 'author', actorSignature(req.actor));
        const committer = parseSignature(b.committer, 'committer', b.author ? author : actorSignature(req.actor));
        const sha = repo.objects.putCommit({ tree, parents: head ? [head] : [], author, committer, message: b.message });
        // The first commit into an empty repository also makes its branch the default branch.
        if (wasEmpty) repo.defaultBranch = branch;
        repo.setRef(`refs/heads/${branch}`, sha);
        const entry = repo.lookup(tree, path)!;
        const file = fileJson(repo, path, branch, entry);
        return { status: existing ? 200 : 201, body: { content: file, commit: commitJson(repo, repo.commit(sha)!) } };
      },
    },
  ];
}
