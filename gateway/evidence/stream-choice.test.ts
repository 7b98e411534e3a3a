// One chain per instance, stable across restarts, and a new one when the spool is lost: a lost spool
// cannot continue its chain (the head is gone) nor restart it under the same id (its files exist).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyRepository } from './verify.ts';
import { createEvidenceWriterFromConfig, evidenceConfigSchema } from './writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'verdict-streams-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = evidenceConfigSchema.parse({
  instance: 'verdict-0',
  spool_dir: join(dir, 'spool'),
  publisher: { kind: 'local-git', repo: join(dir, 'repo'), branch: 'main' },
  batch: { max_lines: 10, max_age_ms: 50 },
});

async function runOnce(): Promise<string> {
  const w = (await createEvidenceWriterFromConfig(config, { version: 'test' }))!;
  await w.append({ type: 'gateway_stop', data: { reason: 'test' } });
  const stream = w.stream;
  await w.close({ reason: 'test' });
  return stream;
}

describe('the stream an instance writes', () => {
  it('is the instance id, continued across restarts while the spool lives', async () => {
    expect(await runOnce()).toBe('verdict-0');
    expect(await runOnce()).toBe('verdict-0');
  });

  it('is a new id when the spool was lost, and that one is kept from then on; every chain verifies', async () => {
    rmSync(join(dir, 'spool'), { recursive: true, force: true });
    expect(await runOnce()).toBe('verdict-0.2');
    expect(await runOnce()).toBe('verdict-0.2');
    rmSync(join(dir, 'spool'), { recursive: true, force: true });
    expect(await runOnce()).toBe('verdict-0.3');
    const clone = join(dir, 'clone');
    execFileSync('git', ['clone', '-q', join(dir, 'repo'), clone]);
    const report = await verifyRepository(clone);
    expect(report.ok, JSON.stringify(report.findings)).toBe(true);
    expect(report.streams.map((s) => [s.stream, s.head.seq > 0])).toEqual([
      ['verdict-0', true],
      ['verdict-0.2', true],
      ['verdict-0.3', true],
    ]);
  });
});
