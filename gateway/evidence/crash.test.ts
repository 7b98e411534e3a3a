// Crash recovery with a real kill -9: a child process appends with 64 concurrent callers; after it was
// killed mid-write, recovery seals what it wrote, publishes it, and nothing it acknowledged is missing.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { EvidenceRecord } from '../../engine/evidence/events.ts';
import { createLocalGitPublisher } from './local-git.ts';
import { directoryFiles, verifyRepository } from './verify.ts';
import { createEvidenceWriter } from './writer.ts';
import { verifyEvidence } from '../../engine/evidence/verify.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the crash child until it acknowledged `acks` events, then kill -9s it. Returns the acknowledged indexes. */
async function runAndKill(spoolDir: string, acks: number): Promise<Set<number>> {
  const child = spawn('npx', ['tsx', join(here, 'testdata', 'crash-child.ts'), spoolDir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const acked = new Set<number>();
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      buf += b.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) acked.add(Number(l));
      if (acked.size >= acks && child.exitCode === null) {
        // npx → tsx → node: kill the whole process group so the writer itself dies without a chance to clean up
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' || acked.size >= acks ? resolve() : reject(new Error(`child exited ${code}: ${stderr}`))));
  });
  return acked;
}

describe('crash recovery (kill -9)', () => {
  it('loses nothing acknowledged; the repository verifies; a gap only if a write was torn', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'verdict-crash-'));
    dirs.push(dir);
    const spoolDir = join(dir, 'spool');
    const acked = await runAndKill(spoolDir, 3000);
    expect(acked.size).toBeGreaterThanOrEqual(3000);

    // SIGKILL delivery is asynchronous: wait until the writer process is really gone (or a zombie).
    const pid = Number(readFileSync(join(spoolDir, 'LOCK'), 'utf8'));
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`) && !/\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 50));

    const repo = join(dir, 'repo.git');
    const writer = await createEvidenceWriter({ stream: 'crash-1', spoolDir, publisher: createLocalGitPublisher({ repo }), batchMaxLines: 300 });
    const rec = writer.recovery;
    // a gap record exactly when recovery had to cut bytes off (a torn write); never otherwise
    expect(rec.gapWritten).toBe(rec.discardedBytes > 0);
    expect(await writer.flush(60_000)).toBe(true);
    await writer.close();

    const clone = join(dir, 'clone');
    execFileSync('git', ['clone', '-q', repo, clone]);
    const report = await verifyRepository(clone);
    expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(report.findings.every((f) => f.code === 'GAP_RECORDED')).toBe(true);

    const present = new Set<number>();
    await verifyEvidence(directoryFiles(clone), {
      onRecord: (r: EvidenceRecord) => {
        if (r.type === 'statement_result') present.add(Number(r.data.decision_id.slice(2)));
      },
    });
    const missing = [...acked].filter((i) => !present.has(i));
    expect(missing).toEqual([]);
  });
});
