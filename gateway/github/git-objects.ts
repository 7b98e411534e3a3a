// Git objects (blob, tree, commit) encoded and hashed byte-for-byte as git does, so SHAs from the
// GitHub simulator and from the publisher match `git hash-object` and a real clone of the repository.
import { createHash } from 'node:crypto';

export type ObjectType = 'blob' | 'tree' | 'commit';

/** Tree entry modes as git writes them into tree objects (the REST API shows trees as "040000"). */
export const MODE = {
  file: '100644',
  executable: '100755',
  symlink: '120000',
  tree: '40000',
  submodule: '160000',
} as const;

export interface TreeEntry {
  name: string;
  /** Mode as stored in the tree object, e.g. "100644" or "40000". */
  mode: string;
  type: ObjectType;
  sha: string;
}

export interface Signature {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  seconds: number;
  /** Offset from UTC as git writes it, e.g. "+0000", "-0530". */
  tz: string;
}

export interface CommitData {
  tree: string;
  parents: string[];
  author: Signature;
  committer: Signature;
  message: string;
}

export type GitObject =
  | { type: 'blob'; sha: string; data: Buffer }
  | { type: 'tree'; sha: string; entries: TreeEntry[] }
  | ({ type: 'commit'; sha: string } & CommitData);

/**
 * The object id git computes: sha1 over "<type> <size>\0" followed by the body.
 *
 * @example
 * hashObject('blob', Buffer.from('hello\n')) // 'ce013625030ba8dba906f756967f9e9ca394464a'
 */
export function hashObject(type: ObjectType, body: Buffer): string {
  return createHash('sha1').update(`${type} ${body.length}\0`).update(body).digest('hex');
}

/**
 * The blob SHA of some bytes, as `git hash-object` prints it.
 *
 * @example
 * blobSha(Buffer.from('')) // 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391'
 */
export function blobSha(data: Buffer): string {
  return hashObject('blob', data);
}

/**
 * Git's tree order: bytewise by name, where a subtree sorts as if its name ended in "/" — so the file
 * "a.b" sorts before the directory "a" ('.' < '/'). Any other order yields SHAs git would not produce.
 *
 * @example
 * entries.sort(compareTreeEntries)
 */
export function compareTreeEntries(a: TreeEntry, b: TreeEntry): number {
  const ka = Buffer.from(a.mode === MODE.tree ? `${a.name}/` : a.name);
  const kb = Buffer.from(b.mode === MODE.tree ? `${b.name}/` : b.name);
  return Buffer.compare(ka, kb);
}

/**
 * Encodes a tree body: for each entry (in git order) "<mode> <name>\0" + the 20 raw bytes of its SHA.
 *
 * @example
 * hashObject('tree', encodeTree([{ name: 'a.txt', mode: MODE.file, type: 'blob', sha }]))
 */
export function encodeTree(entries: readonly TreeEntry[]): Buffer {
  const sorted = [...entries].sort(compareTreeEntries);
  const parts: Buffer[] = [];
  for (const e of sorted) {
    parts.push(Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.sha, 'hex'));
  }
  return Buffer.concat(parts);
}

function formatSignature(s: Signature): string {
  return `${s.name} <${s.email}> ${s.seconds} ${s.tz}`;
}

/**
 * Encodes a commit body exactly as `git commit-tree` does (headers, blank line, message as given).
 *
 * @example
 * hashObject('commit', encodeCommit({ tree, parents: [], author: sig, committer: sig, message: 'first\n' }))
 */
export function encodeCommit(c: CommitData): Buffer {
  let head = `tree ${c.tree}\n`;
  for (const p of c.parents) head += `parent ${p}\n`;
  head += `author ${formatSignature(c.author)}\n`;
  head += `committer ${formatSignature(c.committer)}\n`;
  return Buffer.from(`${head}\n${c.message}`);
}

/**
 * Parses an ISO 8601 date (as the REST API accepts it) into git's seconds + timezone form.
 * Returns null for an unparseable date.
 *
 * @example
 * toGitTime('2026-11-21T10:00:00+02:00') // { seconds: 1795248000, tz: '+0200' }
 */
export function toGitTime(iso: string): { seconds: number; tz: string } | null {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return null;
  const m = /([+-])(\d{2}):?(\d{2})$/.exec(iso);
  const tz = m && !/Z$/i.test(iso) ? `${m[1]}${m[2]}${m[3]}` : '+0000';
  return { seconds: Math.floor(ms / 1000), tz };
}

/**
 * Formats git seconds + timezone back as ISO 8601 with that offset (what GitHub returns for commits).
 *
 * @example
 * fromGitTime(1795248000, '+0200') // '2026-11-21T10:00:00+02:00'
 */
export function fromGitTime(seconds: number, tz: string): string {
  const sign = tz.startsWith('-') ? -1 : 1;
  const offsetMin = sign * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(3, 5)));
  if (offsetMin === 0) return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const local = new Date(seconds * 1000 + offsetMin * 60_000).toISOString().slice(0, 19);
  return `${local}${tz.slice(0, 3)}:${tz.slice(3)}`;
}

/**
 * An in-memory object database keyed by SHA. Objects are immutable, so storing one twice is a no-op.
 *
 * @example
 * const db = new ObjectStore();
 * const sha = db.putBlob(Buffer.from('hi'));
 */
export class ObjectStore {
  readonly #objects = new Map<string, GitObject>();

  get size(): number {
    return this.#objects.size;
  }

  get(sha: string): GitObject | undefined {
    return this.#objects.get(sha);
  }

  putBlob(data: Buffer): string {
    const sha = blobSha(data);
    if (!this.#objects.has(sha)) this.#objects.set(sha, { type: 'blob', sha, data: Buffer.from(data) });
    return sha;
  }

  putTree(entries: readonly TreeEntry[]): string {
    const sorted = [...entries].sort(compareTreeEntries);
    const sha = hashObject('tree', encodeTree(sorted));
    if (!this.#objects.has(sha)) this.#objects.set(sha, { type: 'tree', sha, entries: sorted });
    return sha;
  }

  putCommit(c: CommitData): string {
    const sha = hashObject('commit', encodeCommit(c));
    if (!this.#objects.has(sha)) this.#objects.set(sha, { type: 'commit', sha, ...c, parents: [...c.parents] });
    return sha;
  }

  /** True when `ancestor` is `descendant` or reachable from it through parents (the fast-forward test). */
  isAncestor(ancestor: string, descendant: string): boolean {
    const seen = new Set<string>();
    const stack = [descendant];
    while (stack.length > 0) {
      const sha = stack.pop()!;
      if (sha === ancestor) return true;
      if (seen.has(sha)) continue;
      seen.add(sha);
      const o = this.#objects.get(sha);
      if (o?.type === 'commit') stack.push(...o.parents);
    }
    return false;
  }
}
