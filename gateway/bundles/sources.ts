// Where a gateway fetches its policy bundle from: a local file or directory (watched), an HTTP(S) URL
// polled with ETag (how OPA's bundle plugin polls a bundle service), or a GitHub release asset through
// octokit. A source only fetches bytes; verification, anti-rollback and activation are the follower's.
import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { archiveFiles } from '../../engine/policy/bundle.ts';
import { messageOf } from '../../engine/errors.ts';
import { statusOf, type GitHubClient } from '../github/client.ts';
import { BundleSourceError, BundleSourceErrorCode } from './errors.ts';

/** A fetched bundle: its files (names relative to the bundle root) and the source's version tag for it. */
export interface FetchedBundle {
  files: Map<string, Uint8Array>;
  /** What the source says identifies this content (ETag, asset id + update time, mtime + size). */
  version: string;
}

export interface BundleSource {
  /** For logs, `/status` and evidence: "file:/etc/verdict/bundle.tar.gz", "https://…", "github:acme/policies#bundle.tar.gz". */
  readonly description: string;
  /** How often to poll, ms; null when the source notifies (watch) and is checked on SIGHUP only otherwise. */
  readonly pollMs: number | null;
  /**
   * Fetches the bundle unless the source's version is still `known` (then null: nothing new).
   * Throws BundleSourceError when the source cannot be read.
   */
  fetch(known: string | null): Promise<FetchedBundle | null>;
  /** Calls `changed` when the source may have changed; returns a function that stops watching. */
  watch?(changed: () => void): () => void;
}

/**
 * A bundle file (`.tar.gz`) or an unpacked bundle directory. Watched with fs.watch (its directory, so an
 * atomic rename by `verdict policy build` is seen) and polled every `pollMs` as a fallback.
 *
 * @example
 * const src = fileSource('.build/bundle.tar.gz');
 */
export function fileSource(path: string, options: { pollMs?: number } = {}): BundleSource {
  const full = resolve(path);
  return {
    description: `file:${full}`,
    pollMs: options.pollMs ?? 5000,
    async fetch(known) {
      let info;
      try {
        info = await stat(full);
      } catch (err) {
        throw new BundleSourceError(BundleSourceErrorCode.FileUnreadable, `no policy bundle at ${full}: ${messageOf(err)}`);
      }
      if (!info.isDirectory()) {
        const version = `${info.mtimeMs}:${info.size}:${info.ino}`;
        if (version === known) return null;
        return { files: archiveFiles(await readFile(full), full), version };
      }
      // A directory: its version is every file's name, size and mtime.
      const entries = await readdir(full, { recursive: true, withFileTypes: true });
      const files = new Map<string, Uint8Array>();
      const parts: string[] = [];
      for (const e of entries.filter((x) => x.isFile()).sort((a, b) => join(a.parentPath, a.name).localeCompare(join(b.parentPath, b.name)))) {
        const p = join(e.parentPath, e.name);
        const s = await stat(p);
        const name = relative(full, p).split(sep).join('/');
        parts.push(`${name}:${s.size}:${s.mtimeMs}`);
        files.set(name, await readFile(p));
      }
      const version = parts.join('|');
      return version === known ? null : { files, version };
    },
    watch(changed) {
      let watcher: FSWatcher | null = null;
      let timer: NodeJS.Timeout | null = null;
      const fire = () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(changed, 100); // a build writes and renames: settle first
        timer.unref();
      };
      try {
        // Watch the parent for a file (rename-replace keeps no inode to watch), the tree for a directory.
        watcher = watch(dirname(full), { persistent: false }, (_e, name) => {
          if (!name || join(dirname(full), name.toString()) === full || full.startsWith(join(dirname(full), name.toString()) + sep)) fire();
        });
        watcher.on('error', () => undefined);
      } catch {
        // no watch support here: polling still runs
      }
      return () => {
        watcher?.close();
        if (timer) clearTimeout(timer);
      };
    },
  };
}

const isLoopback = (u: URL) => u.hostname === '127.0.0.1' || u.hostname === '[::1]' || u.hostname === 'localhost';

/**
 * A bundle served over HTTP(S), polled with If-None-Match (a 304 means nothing new), like OPA's bundle
 * service API. Credentials go only over https (plain http only to loopback).
 *
 * @example
 * const src = httpSource({ url: 'https://bundles.example.com/verdict/bundle.tar.gz', pollMs: 30_000, token });
 */
export function httpSource(options: { url: string; pollMs: number; token?: string; timeoutMs?: number }): BundleSource {
  const url = new URL(options.url);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url))) {
    throw new BundleSourceError(BundleSourceErrorCode.InsecureUrl, `policy.source.url must use https (http only on loopback), got ${url.protocol}//${url.host}`);
  }
  let etag: string | null = null;
  return {
    description: `${url.origin}${url.pathname}`,
    pollMs: options.pollMs,
    async fetch(known) {
      const headers: Record<string, string> = { accept: 'application/gzip, application/octet-stream' };
      if (known !== null && etag !== null && known === etag) headers['if-none-match'] = etag;
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      let res: Response;
      try {
        res = await fetch(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) });
      } catch (err) {
        throw new BundleSourceError(BundleSourceErrorCode.FetchFailed, `policy bundle fetch from ${url.origin}${url.pathname} failed: ${messageOf(err)}`);
      }
      if (res.status === 304) return null;
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new BundleSourceError(BundleSourceErrorCode.FetchFailed, `policy bundle fetch from ${url.origin}${url.pathname} answered HTTP ${res.status}`);
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      etag = res.headers.get('etag');
      return { files: archiveFiles(bytes, `${url.origin}${url.pathname}`), version: etag ?? `sha:${bytes.byteLength}:${Date.now()}` };
    },
  };
}

/**
 * A GitHub release asset (the policy workflow attaches the signed bundle to a release on every merge):
 * the latest release, or the one with `tag`. Polled with ETags, which GitHub does not count against the
 * rate limit when they match.
 *
 * @example
 * const src = githubReleaseSource({ client, owner: 'acme', repo: 'policies', asset: 'bundle.tar.gz', pollMs: 60_000 });
 */
export function githubReleaseSource(options: { client: GitHubClient; owner: string; repo: string; asset: string; tag?: string; pollMs: number }): BundleSource {
  const { client, owner, repo, asset } = options;
  let releaseEtag: string | undefined;
  let lastRelease: { assets: { id: number; name: string; updated_at: string }[] } | null = null;
  return {
    description: `github:${owner}/${repo}@${options.tag ?? 'latest'}#${asset}`,
    pollMs: options.pollMs,
    async fetch(known) {
      let release = lastRelease;
      try {
        const r = options.tag
          ? await client.request('GET /repos/{owner}/{repo}/releases/tags/{tag}', { owner, repo, tag: options.tag, headers: releaseEtag ? { 'if-none-match': releaseEtag } : {} })
          : await client.request('GET /repos/{owner}/{repo}/releases/latest', { owner, repo, headers: releaseEtag ? { 'if-none-match': releaseEtag } : {} });
        release = r.data as typeof lastRelease;
        releaseEtag = r.headers.etag;
        lastRelease = release;
      } catch (err) {
        if (statusOf(err) !== 304) throw new BundleSourceError(BundleSourceErrorCode.ReleaseUnavailable, `GitHub release of ${owner}/${repo} could not be read: ${messageOf(err)}`);
      }
      const a = release?.assets.find((x) => x.name === asset);
      if (!a) throw new BundleSourceError(BundleSourceErrorCode.ReleaseUnavailable, `the ${options.tag ? `release ${options.tag}` : 'latest release'} of ${owner}/${repo} has no asset named ${asset}`);
      const version = `${a.id}:${a.updated_at}`;
      if (version === known) return null;
      let bytes: Uint8Array;
      try {
        const r = await client.request('GET /repos/{owner}/{repo}/releases/assets/{asset_id}', { owner, repo, asset_id: a.id, headers: { accept: 'application/octet-stream' } });
        bytes = new Uint8Array(r.data as unknown as ArrayBuffer);
      } catch (err) {
        throw new BundleSourceError(BundleSourceErrorCode.ReleaseUnavailable, `GitHub release asset ${asset} of ${owner}/${repo} could not be downloaded: ${messageOf(err)}`);
      }
      return { files: archiveFiles(bytes, `${owner}/${repo} release asset ${asset}`), version };
    },
  };
}
