// Evidence a test stack has written so far: what is published (a clone of its evidence repository) and what
// is still in its spool (published lines leave the spool).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EvidenceLine {
  type: string;
  data: Record<string, unknown>;
}

/**
 * Every evidence event under `evidenceDir` (`<stack dir>/evidence`: `repo` and `spool`), each once.
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
  return [...lines].map((l) => JSON.parse(l) as EvidenceLine);
}
