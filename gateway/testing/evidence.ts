// Evidence a test stack has written so far: what is published (a clone of its evidence repository) and what
// is still in its spool (published lines leave the spool).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { runEvidenceCli } from '../evidence/cli.ts';

export interface EvidenceLine {
  type: string;
  data: Record<string, unknown>;
}

/**
 * Every evidence event under `evidenceDir` (`<stack dir>/evidence`: `repo` and `spool`), each once, in chain
 * order (by stream, then seq).
 *
 * @example
 * const starts = evidenceEvents(join(stack.dir, 'evidence')).filter((e) => e.type === 'session_start');
 */
export function evidenceEvents(evidenceDir: string): EvidenceLine[] {
  const lines = new Set<string>();
  const clone = mkdtempSync(join(tmpdir(), 'verdict-evidence-clone-'));
  try {
    const repo = join(evidenceDir, 'repo');
    const dirs = [join(evidenceDir, 'spool')];
    if (existsSync(repo)) {
      execFileSync('git', ['clone', '-q', repo, join(clone, 'c')], { stdio: 'ignore' });
      dirs.unshift(join(clone, 'c'));
    }
    for (const dir of dirs) {
      if (!existsSync(dir)) continue;
      const files = readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name.endsWith('.jsonl') && !e.parentPath.includes('.git'))
        .map((e) => join(e.parentPath, e.name))
        .sort();
      for (const f of files) for (const l of readFileSync(f, 'utf8').split('\n')) if (l.trim()) lines.add(l);
    }
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
  // In chain order: the spool's open batch (newest) would otherwise come before its sealed outbox batches.
  const records = [...lines].map((l) => JSON.parse(l) as EvidenceLine & { stream?: string; seq?: number });
  return records.sort((a, b) => (a.stream ?? '').localeCompare(b.stream ?? '') || (a.seq ?? 0) - (b.seq ?? 0));
}

/**
 * Runs `verdict evidence …` in this process, capturing what it prints to stdout (stderr is silenced).
 *
 * @example
 * const { code, out } = await evidenceCli('access', '--repo', clone, '--json');
 */
export async function evidenceCli(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await runEvidenceCli(argv), out };
  } finally {
    vi.restoreAllMocks();
  }
}
