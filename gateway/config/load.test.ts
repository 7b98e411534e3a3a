// Config validation: a good file loads with defaults; a bad one names the path and the problem.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { loadConfig, validateConfig } from './load.ts';

const dir = mkdtempSync(join(tmpdir(), 'verdict-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const minimal = {
  identity: { issuer: 'https://idp.example.com', audience: 'verdict', jwks_url: 'https://idp.example.com/jwks' },
  upstreams: { clinic: { host: 'db.internal', database: 'clinic', user: 'verdict_gw', password: { env: 'CLINIC_DB_PASSWORD' } } },
};

describe('config', () => {
  it('fills defaults for a minimal file and resolves paths against the file', () => {
    const path = join(dir, 'verdict.yaml');
    writeFileSync(path, JSON.stringify({ ...minimal, policy: { bundle: 'bundles/b.tar.gz' } }));
    const cfg = loadConfig(path);
    expect(cfg.listen.postgres).toEqual({ host: '127.0.0.1', port: 6432 });
    expect(cfg.tls.require_for_tokens).toBe(true);
    expect(cfg.upstreams.clinic!.port).toBe(5432);
    expect(cfg.upstreams.clinic!.tls.mode).toBe('prefer');
    expect(cfg.policy.bundle).toBe(join(dir, 'bundles/b.tar.gz'));
    expect(cfg.approvals.hold_timeout_seconds).toBe(600);
  });

  it('names every problem by path', () => {
    const bad = {
      ...minimal,
      listen: { postgres: { port: 70000 } },
      upstreams: { clinic: { host: 'db', database: 'clinic' } },
      surprise: true,
    };
    let err: unknown;
    try {
      validateConfig(bad, 'verdict.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^verdict\.yaml is invalid:/);
    expect(msg).toContain('listen.postgres.port');
    expect(msg).toContain('upstreams.clinic.user');
    expect(msg).toContain('surprise');
  });

  it('rejects a cert without a key, an empty upstream list, and non-YAML', () => {
    expect(() => validateConfig({ ...minimal, tls: { cert: 'c.pem' } })).toThrow(/tls.cert and tls.key go together/);
    expect(() => validateConfig({ ...minimal, upstreams: {} })).toThrow(/upstreams: name at least one upstream/);
    const path = join(dir, 'broken.yaml');
    writeFileSync(path, 'identity: [unclosed');
    expect(() => loadConfig(path)).toThrow(/is not valid YAML/);
    expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(/cannot read the configuration file/);
  });
});
