// The writer as the gateway builds it from verdict.yaml's `evidence:` section: defaults, local git by
// default, gateway_start/stop around the events, everything published and verifiable on close.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { EvidenceRecord } from '../../engine/evidence/events.ts';
import { sessionEvents, TEST_KEYS, testKey } from '../../engine/fixtures/evidence.ts';
import { verifyEvidence } from '../../engine/evidence/verify.ts';
import { directoryFiles } from './verify.ts';
import { createEvidenceWriterFromConfig, defaultInstanceId, evidenceConfigSchema } from './writer.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('evidence writer from config', () => {
  it('has production defaults: on, fail closed, local git repository', () => {
    expect(evidenceConfigSchema.parse({})).toEqual({
      enabled: true,
      spool_dir: '.verdict/evidence/spool',
      require_durable: true,
      batch: { max_lines: 1000, max_age_ms: 5000 },
      publisher: { kind: 'local-git', repo: '.verdict/evidence/repo', branch: 'main' },
      max_batches_per_commit: 20,
      auditor_keys: [],
    });
    expect(() => evidenceConfigSchema.parse({ instance: 'GW 1' })).toThrow(/lower case/);
    expect(defaultInstanceId('Web-01.Example.COM')).toBe('web-01.example.com');
    expect(defaultInstanceId('!!!')).toBe('gateway');
  });

  it('writes, publishes on close, and the clone verifies clean with start and stop around the events', async () => {
    const base = mkdtempSync(join(tmpdir(), 'verdict-writer-'));
    dirs.push(base);
    writeFileSync(join(base, 'key.jwk.json'), JSON.stringify(TEST_KEYS.b));
    const config = evidenceConfigSchema.parse({ instance: 'gw-7', signing_key_file: 'key.jwk.json', batch: { max_lines: 5 } });
    const w = (await createEvidenceWriterFromConfig(config, { baseDir: base, version: '9.9.9' }))!;
    for (const e of sessionEvents(1)) await w.append(e);
    expect(w.status()).toMatchObject({ stream: 'gw-7', kid: (await testKey('b')).kid, writable: true });
    await w.close({ reason: 'test' });

    const clone = join(base, 'clone');
    execFileSync('git', ['clone', '-q', join(base, '.verdict/evidence/repo'), clone]);
    const types: string[] = [];
    const r = await verifyEvidence(directoryFiles(clone), { onRecord: (x: EvidenceRecord) => types.push(x.type) });
    expect(r.findings).toEqual([]);
    expect(types[0]).toBe('key_rotation');
    expect(types[1]).toBe('gateway_start');
    expect(types.at(-1)).toBe('gateway_stop');
    expect(types).toHaveLength(3 + sessionEvents(1).length);
  });

  it('returns null when evidence is disabled', async () => {
    expect(await createEvidenceWriterFromConfig(evidenceConfigSchema.parse({ enabled: false }), { version: 'x' })).toBeNull();
  });
});
