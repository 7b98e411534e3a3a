// The unit project's guard (its setup file): a unit test that reaches outside the process fails loudly instead
// of passing or failing by what the machine happens to run. The process module's name is assembled so that this
// file is not itself filed as integration (vitest.config.ts files a test by the markers in its text).
import net from 'node:net';
import { describe, expect, it } from 'vitest';

const processModule = ['node:child', 'process'].join('_');

describe('the unit project reaches nothing outside the process', () => {
  it('refuses a socket connection', () => {
    expect(() => net.connect(5432, '127.0.0.1')).toThrow(/integration project/);
  });

  it('refuses a listening server', () => {
    expect(() => new net.Server().listen(0, '127.0.0.1')).toThrow(/integration project/);
  });

  it('refuses child processes, through the default export and named imports alike', async () => {
    const mod = (await import(processModule)) as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
      expect(() => mod[name]!('true'), name).toThrow(/integration project/);
      expect(() => (mod.default as unknown as Record<string, (...args: unknown[]) => unknown>)[name]!('true'), name).toThrow(/integration project/);
    }
  });
});
