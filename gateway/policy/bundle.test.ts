// Bundle loading against bundles the real `opa build` produces: directory and .tar.gz, broken
// manifests, and OPA bundle signatures (valid, wrong key, tampered file, unsigned, uncovered file).
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { policyBuild } from './toolchain.ts';
import { capabilitiesPath, policiesDir } from './paths.ts';
import { opaPath } from './tools.ts';
import { EngineError } from '../../engine/errors.ts';
import { archiveFiles, bundleFromFiles, loadBundle } from '../../engine/policy/bundle.ts';

let dir: string;
let plainPath: string;
let signedPath: string;
let publicPem: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-bundle-'));
  plainPath = policyBuild({ out: join(dir, 'plain.tar.gz'), revision: 'rev-plain' }).path;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'signing.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  signedPath = policyBuild({ out: join(dir, 'signed.tar.gz'), revision: 'rev-signed', signingKey: join(dir, 'signing.pem') }).path;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function expectCode(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EngineError);
  expect((err as EngineError).code).toBe(code);
  expect((err as EngineError).message).toMatch(message);
}

describe('loadBundle', () => {
  it('loads a .tar.gz built by opa build, with revision, wasm and data', async () => {
    const b = await loadBundle(plainPath);
    expect(b.revision).toBe('rev-plain');
    expect(b.manifest.wasm[0]!.entrypoint).toBe('verdict/decision');
    expect(Buffer.from(b.wasm.subarray(0, 4)).toString('binary')).toBe('\0asm');
    expect((b.data as { classification: { phi: Record<string, unknown> } }).classification.phi['public.patients']).toBeDefined();
    expect(b.signedBy).toBeNull();
  });

  it('loads the same bundle from a directory', async () => {
    const out = join(dir, 'unpacked');
    for (const [name, bytes] of archiveFiles(readFileSync(plainPath))) {
      mkdirSync(dirname(join(out, name)), { recursive: true });
      writeFileSync(join(out, name), bytes);
    }
    const b = await loadBundle(out);
    expect(b.revision).toBe('rev-plain');
    expect(b.wasm.byteLength).toBeGreaterThan(1000);
  });

  it('refuses a missing path, a non-archive, and broken manifests with clear messages', async () => {
    await expectCode(loadBundle(join(dir, 'nope.tar.gz')), 'BUNDLE_MISSING', /npm run policy:build/);
    writeFileSync(join(dir, 'junk.tar.gz'), 'not a bundle');
    await expectCode(loadBundle(join(dir, 'junk.tar.gz')), 'BUNDLE_ARCHIVE', /not a gzipped tar/);

    const files = archiveFiles(readFileSync(plainPath));
    const withManifest = (m: unknown) => new Map([...files, ['.manifest', Buffer.from(typeof m === 'string' ? m : JSON.stringify(m))]]);
    await expectCode(bundleFromFiles(withManifest('{oops')), 'BUNDLE_MANIFEST', /not valid JSON/);
    await expectCode(bundleFromFiles(withManifest({ roots: [''], wasm: [] })), 'BUNDLE_MANIFEST', /no revision/);
    await expectCode(bundleFromFiles(withManifest({ revision: 'r', wasm: [] })), 'BUNDLE_MANIFEST', /no WASM module/);
    await expectCode(
      bundleFromFiles(withManifest({ revision: 'r', wasm: [{ entrypoint: 'verdict/decision', module: '/other.wasm' }] })),
      'BUNDLE_WASM',
      /other\.wasm/,
    );
    const noManifest = new Map(files);
    noManifest.delete('.manifest');
    await expectCode(bundleFromFiles(noManifest), 'BUNDLE_MANIFEST', /no \.manifest/);
  });
});

describe('bundle signatures (OPA .signatures.json)', () => {
  it('verifies a bundle signed by opa build', async () => {
    const b = await loadBundle(signedPath, { verification: { keys: { default: publicPem } } });
    expect(b.signedBy).toBe('default');
    expect(b.revision).toBe('rev-signed');
  });

  it('refuses a signature by another key', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await expectCode(loadBundle(signedPath, { verification: { keys: { default: other } } }), 'BUNDLE_SIGNATURE', /does not verify/);
    await expectCode(loadBundle(signedPath, { verification: { keys: { ci: publicPem } } }), 'BUNDLE_SIGNATURE', /no configured public key has id "default"/);
  });

  it('refuses a file changed, added or removed after signing', async () => {
    const keys = { verification: { keys: { default: publicPem } } };
    const files = archiveFiles(readFileSync(signedPath));
    const data = JSON.parse(Buffer.from(files.get('data.json')!).toString());
    data.access.roles.analyst.phi_types = ['ssn'];
    const tampered = new Map([...files, ['data.json', Buffer.from(JSON.stringify(data))]]);
    await expectCode(bundleFromFiles(tampered, keys), 'BUNDLE_SIGNATURE', /data\.json was modified after the bundle was signed/);

    const added = new Map([...files, ['extra.rego', Buffer.from('package x')]]);
    await expectCode(bundleFromFiles(added, keys), 'BUNDLE_SIGNATURE', /extra\.rego is in the bundle but not covered/);

    const removed = new Map(files);
    removed.delete('data.json');
    await expectCode(bundleFromFiles(removed, keys), 'BUNDLE_SIGNATURE', /missing from the bundle: data\.json/);
  });

  it('carries the revision and its sequence inside the signed claims', async () => {
    const b = await loadBundle(signedPath, { verification: { keys: { default: publicPem } } });
    expect(b.signed).toEqual({ revision: 'rev-signed', sequence: expect.any(Number), rollback: false });
    const pinned = policyBuild({ out: join(dir, 'seq.tar.gz'), revision: 'rev-seq', signingKey: join(dir, 'signing.pem'), keyId: 'ci', sequence: 42, rollback: true }).path;
    // keyid in the claims selects the configured key (OPA's --claims-file convention)
    const s = await loadBundle(pinned, { verification: { keys: { ci: publicPem } } });
    expect(s.signedBy).toBe('ci');
    expect(s.signed).toEqual({ revision: 'rev-seq', sequence: 42, rollback: true });
    expect(s.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(s.digest).not.toBe(b.digest);
  });

  it('refuses a signature without revision claims, or whose revision is not the manifest\'s', async () => {
    const keys = { verification: { keys: { default: publicPem } } };
    // Signed by opa directly: valid OPA signature, but no Verdict revision claim.
    const bare = join(dir, 'bare.tar.gz');
    execFileSync(opaPath(), ['build', '--bundle', '--target', 'wasm', '--entrypoint', 'verdict/decision', '--capabilities', capabilitiesPath, '--revision', 'rev-bare', '--signing-key', join(dir, 'signing.pem'), '--output', bare, policiesDir], { stdio: 'ignore' });
    await expectCode(loadBundle(bare, keys), 'BUNDLE_REVISION', /carries no revision claim/);
    // Claims naming another revision than the manifest (a signature lifted onto other content is caught by the
    // file hashes; this is a signer's mistake or a replayed claims file).
    writeFileSync(join(dir, 'claims.json'), JSON.stringify({ verdict: { revision: 'rev-other', sequence: 7 } }));
    const lying = join(dir, 'lying.tar.gz');
    execFileSync(opaPath(), ['build', '--bundle', '--target', 'wasm', '--entrypoint', 'verdict/decision', '--capabilities', capabilitiesPath, '--revision', 'rev-mine', '--signing-key', join(dir, 'signing.pem'), '--claims-file', join(dir, 'claims.json'), '--output', lying, policiesDir], { stdio: 'ignore' });
    await expectCode(loadBundle(lying, keys), 'BUNDLE_REVISION', /signed revision "rev-other" is not the manifest's revision "rev-mine"/);
  });

  it('refuses an unsigned bundle when keys are configured', async () => {
    await expectCode(loadBundle(plainPath, { verification: { keys: { default: publicPem } } }), 'BUNDLE_SIGNATURE', /not signed/);
  });

  it('keeps JSON canonicalization byte-exact with OPA for re-serialized data', async () => {
    // Re-serializing with other whitespace and key order must not break the hash (OPA hashes canonical JSON).
    const files = archiveFiles(readFileSync(signedPath));
    const data = JSON.parse(Buffer.from(files.get('data.json')!).toString());
    const reordered = new Map([...files, ['data.json', Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(data).reverse()), null, 2))]]);
    const b = await bundleFromFiles(reordered, { verification: { keys: { default: publicPem } } });
    expect(b.signedBy).toBe('default');
  });
});
