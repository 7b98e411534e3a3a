// `verdict evidence verify <clone>`: reads an evidence repository's files from disk, runs the pure verifier,
// and adds what only git can tell (published files changed or removed in history, a recorded head rewritten).
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { EvidenceError, finding, type Finding } from '../../engine/evidence/errors.ts';
import { isEvidenceArea } from '../../engine/evidence/layout.ts';
import { verifyEvidence, type FileSource, type RecordedHeads, type VerifyOptions, type VerifyReport } from '../../engine/evidence/verify.ts';

/** Exit codes of `verdict evidence verify`. */
export const VERIFY_EXIT = { clean: 0, findings: 1, usage: 2, warningsOnly: 3 } as const;

/**
 * The evidence files of a directory (streams/ and keys/), read lazily so a large repository is never
 * held in memory at once.
 *
 * @example
 * const report = await verifyEvidence(directoryFiles('/tmp/evidence-clone'))
 */
export function directoryFiles(dir: string): FileSource & { size: number } {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    throw new EvidenceError('REPOSITORY_UNREADABLE', `${dir}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isDirectory()) throw new EvidenceError('REPOSITORY_UNREADABLE', `${dir} is not a directory`);
  const paths: string[] = [];
  for (const top of ['streams', 'keys']) {
    let entries;
    try {
      entries = readdirSync(join(dir, top), { recursive: true, withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) if (e.isFile()) paths.push(relative(dir, join(e.parentPath, e.name)).split(sep).join('/'));
  }
  paths.sort();
  const set = new Set(paths);
  return {
    size: paths.length,
    keys: () => paths,
    get: (p: string) => (set.has(p) ? readFileSync(join(dir, p)) : undefined),
  };
}

function git(dir: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile('git', ['-C', dir, ...args], { maxBuffer: 1 << 30 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: unknown }).code as number) || 1 : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

export interface RepositoryVerifyOptions extends Pick<VerifyOptions, 'onProgress' | 'pinnedThumbprints'> {
  /** A commit recorded earlier (e.g. the last audit's HEAD): it must still be in history with nothing since removed or changed. */
  head?: string;
  /** Stream heads recorded earlier (the `heads` of a previous --json report). */
  recordedHeads?: RecordedHeads;
}

export interface RepositoryReport extends VerifyReport {
  repository: string;
  /** The commit verified (null when the directory is not a git clone). */
  commit: string | null;
}

/**
 * Verifies an evidence repository clone: every file through the pure verifier, plus git history checks
 * (a published file modified or deleted by a later commit, uncommitted changes, a recorded head that is
 * no longer an ancestor of HEAD).
 *
 * @example
 * const report = await verifyRepository('/tmp/evidence', { head: 'a1b2c3...' })
 * process.exitCode = exitCodeOf(report)
 */
export async function verifyRepository(dir: string, options: RepositoryVerifyOptions = {}): Promise<RepositoryReport> {
  const files = directoryFiles(dir);
  const report = await verifyEvidence(files, {
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.pinnedThumbprints ? { pinnedThumbprints: options.pinnedThumbprints } : {}),
    ...(options.recordedHeads ? { recordedHeads: options.recordedHeads } : {}),
  });
  const extra: Finding[] = [];
  let commit: string | null = null;
  const isGit = (await git(dir, ['rev-parse', '--git-dir'])).code === 0;
  if (isGit) {
    const h = await git(dir, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}']);
    commit = h.code === 0 ? h.stdout.trim() : null;
    if (commit) {
      // A published file is only ever added: any commit that modifies, deletes or retypes one is tampering.
      const log = await git(dir, ['log', '--format=commit %H', '--name-status', '--no-renames', '--diff-filter=MDT', 'HEAD', '--', 'streams', 'keys']);
      let at = '';
      for (const line of log.stdout.split('\n')) {
        if (line.startsWith('commit ')) at = line.slice(7);
        else if (/^[MDT]\t/.test(line)) {
          const what = line[0] === 'D' ? 'deleted' : 'modified';
          extra.push(finding('PUBLISHED_FILE_CHANGED', line.slice(2), `commit ${at} ${what} a published evidence file`, { computed: at }));
        }
      }
    }
    const st = await git(dir, ['status', '--porcelain', '--no-renames', '--', 'streams', 'keys']);
    for (const line of st.stdout.split('\n')) {
      if (!line.trim()) continue;
      const path = line.slice(3);
      if (isEvidenceArea(path)) extra.push(finding('PUBLISHED_FILE_CHANGED', path, `the working tree differs from the commit (${line.slice(0, 2).trim()})`));
    }
    if (options.head) {
      const known = await git(dir, ['cat-file', '-e', `${options.head}^{commit}`]);
      if (known.code !== 0) extra.push(finding('HISTORY_REWRITTEN', '', `the recorded head ${options.head} is not in this repository's history`, { expected: options.head, computed: commit }));
      else if (!commit || (await git(dir, ['merge-base', '--is-ancestor', options.head, commit])).code !== 0)
        extra.push(finding('HISTORY_REWRITTEN', '', `the recorded head ${options.head} is not an ancestor of ${commit ?? 'HEAD'}: history was rewritten`, { expected: options.head, computed: commit }));
      else {
        const diff = await git(dir, ['diff', '--name-status', '--no-renames', options.head, commit, '--', 'streams', 'keys']);
        for (const line of diff.stdout.split('\n'))
          if (/^[MDT]\t/.test(line)) extra.push(finding('PUBLISHED_FILE_CHANGED', line.slice(2), `changed or removed since the recorded head ${options.head}`, { expected: options.head, computed: commit }));
      }
    }
  } else if (options.head) {
    throw new EvidenceError('REPOSITORY_UNREADABLE', `--head needs a git clone, and ${dir} is not one`);
  }
  const findings = [...report.findings, ...extra];
  const ok = !findings.some((f) => f.severity === 'error');
  return { ...report, findings, ok, clean: findings.length === 0, repository: dir, commit };
}

/**
 * The exit code for a report: 0 clean, 1 any error finding, 3 warnings only (e.g. recorded gaps).
 *
 * @example
 * process.exitCode = exitCodeOf(await verifyRepository(dir))
 */
export function exitCodeOf(report: Pick<VerifyReport, 'ok' | 'clean'>): number {
  return report.clean ? VERIFY_EXIT.clean : report.ok ? VERIFY_EXIT.warningsOnly : VERIFY_EXIT.findings;
}

/**
 * The findings as text, one a line: `file:line: CODE message (expected …, computed …)`, then a summary.
 *
 * @example
 * process.stdout.write(formatReport(report))
 */
export function formatReport(report: RepositoryReport): string {
  const out: string[] = [];
  for (const f of report.findings) {
    const where = f.file ? `${f.file}${f.line ? `:${f.line}` : ''}` : report.repository;
    const vs = f.expected !== undefined || f.computed !== undefined ? ` (expected ${String(f.expected ?? '-')}, computed ${String(f.computed ?? '-')})` : '';
    out.push(`${where}: ${f.severity} ${f.code}: ${f.message}${vs}`);
  }
  const errors = report.findings.filter((f) => f.severity === 'error').length;
  const warnings = report.findings.length - errors;
  for (const s of report.streams)
    out.push(
      `stream ${s.stream}: ${s.lines} lines in ${s.batches} batches, head seq ${s.head.seq} ${s.head.hash ?? ''}, ${s.first_ts ?? '-'} .. ${s.last_ts ?? '-'}, keys ${s.kids.join(', ') || '-'}, gaps ${s.gaps}` +
        (s.anchor ? `, first key ${s.anchor.kid} thumbprint ${s.anchor.thumbprint}` : ''),
    );
  // The trust anchors, ready to record: pinned next time, a repository rewritten under other keys fails.
  const anchors = report.streams.flatMap((s) => (s.anchor ? [s.anchor.thumbprint] : []));
  if (anchors.length > 0 && report.ok) out.push(`pin: ${[...new Set(anchors)].map((t) => `--pin ${t}`).join(' ')}`);
  out.push(
    report.clean
      ? `OK: ${report.lines} lines in ${report.files} files verified${report.commit ? ` at ${report.commit}` : ''}; nothing altered, removed or forged`
      : report.ok
        ? `OK with ${warnings} warning(s): ${report.lines} lines in ${report.files} files intact${report.commit ? ` at ${report.commit}` : ''}; see the warnings above`
        : `FAILED: ${errors} error(s), ${warnings} warning(s) in ${report.files} files`,
  );
  return out.join('\n') + '\n';
}
