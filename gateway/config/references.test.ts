// A config's secrets and files are all checked before anything opens, reported together by config path;
// a dev issuer in a config is checked to be the local one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from './errors.ts';
import { validateConfig } from './load.ts';
import { checkReferences } from './references.ts';

const dir = mkdtempSync(join(tmpdir(), 'verdict-refs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const minimal = {
  identity: { issuer: 'https://idp.example.com', audience: 'verdict', jwks_url: 'https://idp.example.com/jwks' },
  upstreams: { clinic: { host: 'db.internal', database: 'clinic', user: 'verdict_gw', password: { value: 'pw' } } },
};

function problems(raw: Record<string, unknown>): string {
  try {
    checkReferences(validateConfig(raw), { source: 'verdict.yaml' });
    return '';
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
}

describe('checkReferences', () => {
  it('passes when every secret and file is there', () => {
    const key = join(dir, 'hash-key');
    writeFileSync(key, 'k\n');
    expect(problems({ ...minimal, masking: { hash_key: { file: key } } })).toBe('');
  });

  it('reports every missing one together, by path, never a value', () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    const text = problems({
      ...minimal,
      upstreams: { clinic: { ...minimal.upstreams.clinic, password: { env: 'VERDICT_TEST_UNSET_PW' }, tls: { mode: 'verify-full', ca: join(dir, 'no-ca.pem') } } },
      masking: { hash_key: { file: empty } },
      policy: { verification_keys: { ci: join(dir, 'no-key.pub') } },
      approvals: { provider: 'github', github: { owner: 'o', repo: 'r', team: { org: 'o', slug: 's' }, token: { env: 'VERDICT_TEST_UNSET_GH' } } },
      evidence: { signing_key_file: 'no-signing.jwk' },
    });
    expect(text.split('\n')[0]).toBe('verdict.yaml: 6 secrets or files it refers to are missing:');
    expect(text).toContain('upstreams.clinic.password: environment variable VERDICT_TEST_UNSET_PW is not set');
    expect(text).toContain(`upstreams.clinic.tls.ca: cannot read ${join(dir, 'no-ca.pem')} (ENOENT)`);
    expect(text).toContain(`masking.hash_key: secret file ${empty} is empty`);
    expect(text).toContain('policy.verification_keys.ci: cannot read');
    expect(text).toContain('approvals.github.token: environment variable VERDICT_TEST_UNSET_GH is not set');
    expect(text).toContain('evidence.signing_key_file: cannot read');
  });

  it('a dev issuer must be the local one, with its JWKS', () => {
    const dev = { dev_issuer: { key_dir: '.verdict/dev' } };
    expect(() => validateConfig({ ...minimal, identity: { ...minimal.identity, ...dev } })).toThrow(/identity\.issuer: with dev_issuer, the issuer is the local dev issuer/);
    const local = { issuer: 'http://127.0.0.1:6480', audience: 'verdict', jwks_url: 'http://127.0.0.1:6480/keys', ...dev };
    expect(() => validateConfig({ ...minimal, identity: local })).toThrow(/identity\.jwks_url: with dev_issuer, jwks_url is http:\/\/127\.0\.0\.1:6480\/jwks/);
    expect(validateConfig({ ...minimal, identity: { ...local, jwks_url: 'http://127.0.0.1:6480/jwks' } }).identity.dev_issuer?.key_dir).toBe('.verdict/dev');
  });
});
