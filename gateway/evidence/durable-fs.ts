// Small durable file-system steps the spool is built from: fsync'd atomic writes, directory fsyncs,
// and a pid lock file. A file's data and its directory entry are both made durable before we rely on them.
import { constants, readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EvidenceError } from '../../engine/evidence/errors.ts';

/** fsyncs a directory so renames and creations inside it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Creates `dir` (and parents) and makes the new directory entries durable.
 *
 * @example
 * await ensureDir('/var/lib/verdict/spool/gw-1/outbox/streams/gw-1/2026/01/05')
 */
export async function ensureDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  // fsync every directory from the parent of the first created one down to `dir`'s parent.
  let d = dir;
  const chain: string[] = [];
  while (d.length >= first.length) {
    chain.push(dirname(d));
    d = dirname(d);
  }
  for (const p of chain.reverse()) await fsyncDir(p);
}

/**
 * Writes a file atomically and durably: temp file, fsync, rename, fsync the directory.
 *
 * @example
 * await writeFileDurable(join(dir, 'head.json'), JSON.stringify(state))
 */
export async function writeFileDurable(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await ensureDir(dirname(path));
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

/** Every file under `dir`, as paths relative to it with '/' separators (empty when `dir` does not exist). */
export async function listFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1).split('\\').join('/'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process whose parent died too stays a zombie until someone reaps it (containers often
  // have no init that does): it answers kill(pid, 0) but holds nothing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Takes `<dir>/LOCK` for this process: two writers on one spool would interleave lines and fork the chain.
 * A lock left by a dead process (kill -9) is taken over.
 *
 * @example
 * const release = await lockDir(spoolDir); ...; await release()
 */
export async function lockDir(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (pid && pid !== process.pid && alive(pid))
      throw new EvidenceError('SPOOL_LOCKED', `the evidence spool ${dir} is in use by process ${pid}; each gateway instance needs its own spool directory and instance id`);
    await rm(path, { force: true });
  }
  throw new EvidenceError('SPOOL_LOCKED', `could not take the lock ${path}`);
}
