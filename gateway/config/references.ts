// Every secret and file a configuration refers to, resolved and checked before the gateway opens anything
// (the evidence spool above all), so a typo is one error listing every problem by its config path instead
// of a half-started gateway or a failure on the first client.
import { accessSync, constants } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { resolveSecret, type SecretRef } from '../upstream/postgres/secrets.ts';
import { ConfigError } from './errors.ts';
import type { VerdictConfig } from './schema.ts';

/**
 * Checks that each secret reference resolves (environment variable set, file readable and not empty) and
 * each referenced file is readable. Throws one ConfigError naming every problem by config path
 * (`masking.hash_key: environment variable VERDICT_HASH_KEY is not set`); never prints a secret.
 *
 * @example
 * checkReferences(loadConfig('verdict.yaml'), { source: 'verdict.yaml' }); // then startGateway(...)
 */
export function checkReferences(cfg: VerdictConfig, options: { source?: string; baseDir?: string } = {}): void {
  const source = options.source ?? 'configuration';
  const problems: string[] = [];
  const secret = (path: string, ref: SecretRef | undefined) => {
    if (!ref) return;
    try {
      resolveSecret(ref);
    } catch (err) {
      problems.push(`${path}: ${(err as Error).message}`);
    }
  };
  const file = (path: string, name: string | undefined) => {
    if (!name) return;
    try {
      accessSync(name, constants.R_OK);
    } catch (err) {
      problems.push(`${path}: cannot read ${name} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  };
  for (const [name, u] of Object.entries(cfg.upstreams)) {
    secret(`upstreams.${name}.password`, u.password);
    file(`upstreams.${name}.tls.ca`, u.tls.ca);
  }
  for (const [name, u] of Object.entries(cfg.snowflake_upstreams)) secret(`snowflake_upstreams.${name}.private_key`, u.private_key);
  file('tls.cert', cfg.tls.cert);
  file('tls.key', cfg.tls.key);
  for (const [kid, path] of Object.entries(cfg.policy.verification_keys)) file(`policy.verification_keys.${kid}`, path);
  secret('masking.hash_key', cfg.masking.hash_key);
  const gh = cfg.approvals.provider === 'github' ? cfg.approvals.github : undefined;
  if (gh) {
    secret('approvals.github.token', gh.token);
    secret('approvals.github.app.private_key', gh.app?.private_key);
    secret('approvals.github.webhook_secret', gh.webhook_secret);
  }
  const pub = cfg.evidence.publisher;
  if (pub.kind === 'github') {
    secret('evidence.publisher.token', pub.token);
    secret('evidence.publisher.app.private_key', pub.app?.private_key);
  }
  const key = cfg.evidence.signing_key_file;
  // The evidence writer reads its paths relative to the gateway's base folder.
  if (cfg.evidence.enabled && key) file('evidence.signing_key_file', isAbsolute(key) ? key : resolve(options.baseDir ?? process.cwd(), key));
  if (problems.length > 0) throw new ConfigError(`${source}: ${problems.length === 1 ? 'a secret or file it refers to is missing' : `${problems.length} secrets or files it refers to are missing`}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
}
