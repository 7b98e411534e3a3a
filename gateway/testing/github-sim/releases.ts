// Releases and release assets as a simulator plugin: what a gateway's `policy.source: {github: …}` reads
// (the latest release or one by tag, and an asset's bytes). Shapes follow GitHub's REST description
// (components/schemas/release and release-asset); uploads go to uploads.github.com on GitHub, so tests
// attach assets with `attach` instead.
import { isoSeconds, nodeId, simpleUserJson } from './json.ts';
import { SimError, type SimRepository, type SimRequest, type SimulatorContext, type SimulatorPlugin, type SimUser } from './model.ts';

interface SimAsset {
  id: number;
  name: string;
  bytes: Buffer;
  contentType: string;
  createdAt: number;
  updatedAt: number;
  uploader: SimUser;
}

interface SimRelease {
  id: number;
  repo: SimRepository;
  tag: string;
  name: string;
  body: string;
  draft: boolean;
  prerelease: boolean;
  targetCommitish: string;
  author: SimUser;
  createdAt: number;
  publishedAt: number;
  assets: SimAsset[];
}

export interface ReleasesSimulator {
  /** Register with `startGitHubSimulator({ plugins: [releases.plugin] })`. */
  readonly plugin: SimulatorPlugin;
  /** Publishes a release of "owner/name" as `login`; returns its id. */
  publish(repo: string, release: { tag: string; name?: string; login?: string; draft?: boolean; prerelease?: boolean }): number;
  /** Attaches (or replaces, keeping nothing of the old one) an asset on a release, as an upload would. */
  attach(repo: string, releaseId: number, name: string, bytes: Uint8Array, contentType?: string): number;
}

const DOCS = {
  create: 'https://docs.github.com/rest/releases/releases#create-a-release',
  latest: 'https://docs.github.com/rest/releases/releases#get-the-latest-release',
  byTag: 'https://docs.github.com/rest/releases/releases#get-a-release-by-tag-name',
  asset: 'https://docs.github.com/rest/releases/assets#get-a-release-asset',
};

/**
 * @example
 * const releases = simulatorReleases();
 * await using sim = await startGitHubSimulator({ plugins: [releases.plugin], tokens: [...] });
 * releases.attach('acme/policies', releases.publish('acme/policies', { tag: 'policy-42' }), 'bundle.tar.gz', bytes);
 */
export function simulatorReleases(): ReleasesSimulator {
  let ctxRef: SimulatorContext | undefined;
  const all: SimRelease[] = [];
  let nextId = 900_000;
  const ctx = (): SimulatorContext => {
    if (!ctxRef) throw new Error('simulatorReleases: register the plugin with startGitHubSimulator first');
    return ctxRef;
  };
  const repoOf = (full: string): SimRepository => {
    const [owner = '', name = ''] = full.split('/');
    const r = ctx().findRepo(owner, name);
    if (!r) throw new Error(`no repository ${full}`);
    return r;
  };

  const assetJson = (r: SimRelease, a: SimAsset) => {
    const c = ctx();
    return {
      url: `${c.baseUrl}/repos/${r.repo.fullName}/releases/assets/${a.id}`,
      browser_download_url: `${c.htmlUrl}/${r.repo.fullName}/releases/download/${encodeURIComponent(r.tag)}/${encodeURIComponent(a.name)}`,
      id: a.id,
      node_id: nodeId('ReleaseAsset', a.id),
      name: a.name,
      label: null,
      state: 'uploaded',
      content_type: a.contentType,
      size: a.bytes.length,
      digest: null,
      download_count: 0,
      created_at: isoSeconds(a.createdAt),
      updated_at: isoSeconds(a.updatedAt),
      uploader: simpleUserJson(c, a.uploader),
    };
  };

  const releaseJson = (r: SimRelease) => {
    const c = ctx();
    const api = `${c.baseUrl}/repos/${r.repo.fullName}/releases/${r.id}`;
    return {
      url: api,
      html_url: `${c.htmlUrl}/${r.repo.fullName}/releases/tag/${encodeURIComponent(r.tag)}`,
      assets_url: `${api}/assets`,
      upload_url: `https://uploads.github.com/repos/${r.repo.fullName}/releases/${r.id}/assets{?name,label}`,
      tarball_url: `${c.baseUrl}/repos/${r.repo.fullName}/tarball/${encodeURIComponent(r.tag)}`,
      zipball_url: `${c.baseUrl}/repos/${r.repo.fullName}/zipball/${encodeURIComponent(r.tag)}`,
      id: r.id,
      node_id: nodeId('Release', r.id),
      tag_name: r.tag,
      target_commitish: r.targetCommitish,
      name: r.name,
      body: r.body,
      draft: r.draft,
      prerelease: r.prerelease,
      immutable: false,
      created_at: isoSeconds(r.createdAt),
      published_at: r.draft ? null : isoSeconds(r.publishedAt),
      updated_at: isoSeconds(Math.max(r.publishedAt, ...r.assets.map((a) => a.updatedAt))),
      author: simpleUserJson(c, r.author),
      assets: r.assets.map((a) => assetJson(r, a)),
    };
  };

  const ofRepo = (repo: SimRepository) => all.filter((r) => r.repo === repo);

  function create(repo: SimRepository, tag: string, author: SimUser, options: { name?: string; body?: string; draft?: boolean; prerelease?: boolean; target?: string } = {}): SimRelease {
    if (ofRepo(repo).some((r) => r.tag === tag)) throw new SimError(422, 'Validation Failed', { errors: [{ resource: 'Release', code: 'already_exists', field: 'tag_name' }] });
    const t = ctx().now();
    const r: SimRelease = {
      id: nextId++,
      repo,
      tag,
      name: options.name ?? tag,
      body: options.body ?? '',
      draft: options.draft ?? false,
      prerelease: options.prerelease ?? false,
      targetCommitish: options.target ?? repo.defaultBranch,
      author,
      createdAt: t,
      publishedAt: t,
      assets: [],
    };
    all.push(r);
    return r;
  }

  const plugin: SimulatorPlugin = (c) => {
    ctxRef = c;
    return [
      {
        method: 'POST',
        path: '/repos/{owner}/{repo}/releases',
        permission: ['contents', 'write'],
        docs: DOCS.create,
        handle(req: SimRequest) {
          const b = (req.body ?? {}) as Record<string, unknown>;
          if (typeof b.tag_name !== 'string' || b.tag_name === '') throw new SimError(422, 'Validation Failed', { errors: [{ resource: 'Release', code: 'missing_field', field: 'tag_name' }] });
          if (req.actor.kind !== 'user' && req.actor.kind !== 'installation') throw new SimError(401, 'Requires authentication');
          const r = create(req.repo!, b.tag_name, req.actor.user, {
            ...(typeof b.name === 'string' ? { name: b.name } : {}),
            ...(typeof b.body === 'string' ? { body: b.body } : {}),
            ...(typeof b.draft === 'boolean' ? { draft: b.draft } : {}),
            ...(typeof b.prerelease === 'boolean' ? { prerelease: b.prerelease } : {}),
            ...(typeof b.target_commitish === 'string' ? { target: b.target_commitish } : {}),
          });
          const json = releaseJson(r);
          return { status: 201, body: json, headers: { location: json.url } };
        },
      },
      {
        method: 'GET',
        path: '/repos/{owner}/{repo}/releases/latest',
        permission: ['contents', 'read'],
        docs: DOCS.latest,
        handle(req) {
          // GitHub: the most recent non-prerelease, non-draft release, by creation.
          const latest = ofRepo(req.repo!)
            .filter((r) => !r.draft && !r.prerelease)
            .sort((a, b) => b.createdAt - a.createdAt || b.id - a.id)[0];
          if (!latest) throw new SimError(404, 'Not Found');
          return { status: 200, body: releaseJson(latest) };
        },
      },
      {
        method: 'GET',
        path: '/repos/{owner}/{repo}/releases/tags/{tag}',
        permission: ['contents', 'read'],
        docs: DOCS.byTag,
        handle(req) {
          const r = ofRepo(req.repo!).find((x) => x.tag === req.params.tag && !x.draft);
          if (!r) throw new SimError(404, 'Not Found');
          return { status: 200, body: releaseJson(r) };
        },
      },
      {
        method: 'GET',
        path: '/repos/{owner}/{repo}/releases/assets/{asset_id}',
        permission: ['contents', 'read'],
        docs: DOCS.asset,
        handle(req) {
          for (const r of ofRepo(req.repo!)) {
            const a = r.assets.find((x) => x.id === Number(req.params.asset_id));
            if (!a) continue;
            // With Accept: application/octet-stream GitHub redirects to the file or streams it; we stream it.
            if (String(req.headers.accept ?? '').includes('application/octet-stream')) {
              return { status: 200, body: a.bytes, headers: { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename=${a.name}` } };
            }
            return { status: 200, body: assetJson(r, a) };
          }
          throw new SimError(404, 'Not Found');
        },
      },
    ];
  };

  return {
    plugin,
    publish(repo, release) {
      const r = repoOf(repo);
      return create(r, release.tag, ctx().user(release.login ?? 'policy-ci[bot]', release.login ? 'User' : 'Bot'), {
        ...(release.name ? { name: release.name } : {}),
        ...(release.draft !== undefined ? { draft: release.draft } : {}),
        ...(release.prerelease !== undefined ? { prerelease: release.prerelease } : {}),
      }).id;
    },
    attach(repo, releaseId, name, bytes, contentType = 'application/gzip') {
      const r = all.find((x) => x.id === releaseId && x.repo === repoOf(repo));
      if (!r) throw new Error(`no release ${releaseId} in ${repo}`);
      const t = ctx().now();
      r.assets = r.assets.filter((a) => a.name !== name);
      const a: SimAsset = { id: nextId++, name, bytes: Buffer.from(bytes), contentType, createdAt: t, updatedAt: t, uploader: r.author };
      r.assets.push(a);
      return a.id;
    },
  };
}
