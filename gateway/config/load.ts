// Reads and validates verdict.yaml; relative paths in it are resolved against the file's folder.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { ConfigError } from './errors.ts';
import { configSchema, type VerdictConfig } from './schema.ts';

/**
 * Validates a parsed configuration object; throws ConfigError listing every problem by path.
 *
 * @example
 * const cfg = validateConfig(parse(text), 'verdict.yaml');
 */
export function validateConfig(raw: unknown, source = 'configuration'): VerdictConfig {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
    throw new ConfigError(`${source} is invalid:\n${problems.join('\n')}`);
  }
  return result.data;
}

/** Loads a YAML config file; paths inside it (bundle, keys, certificates) are relative to the file. */
export function loadConfig(path: string): VerdictConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the configuration file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(`${path} is not valid YAML: ${(err as Error).message}`);
  }
  const cfg = validateConfig(raw, path);
  const base = dirname(resolve(path));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  cfg.policy.bundle = abs(cfg.policy.bundle);
  cfg.policy.state_file = abs(cfg.policy.state_file);
  if (cfg.policy.source && 'file' in cfg.policy.source) cfg.policy.source.file = abs(cfg.policy.source.file);
  cfg.policy.verification_keys = Object.fromEntries(Object.entries(cfg.policy.verification_keys).map(([k, v]) => [k, abs(v)]));
  if (cfg.tls.cert) cfg.tls.cert = abs(cfg.tls.cert);
  if (cfg.identity.dev_issuer) cfg.identity.dev_issuer.key_dir = abs(cfg.identity.dev_issuer.key_dir);
  if (cfg.tls.key) cfg.tls.key = abs(cfg.tls.key);
  cfg.approvals.state_dir = abs(cfg.approvals.state_dir);
  for (const u of Object.values(cfg.upstreams)) if (u.tls.ca) u.tls.ca = abs(u.tls.ca);
  cfg.evidence.spool_dir = abs(cfg.evidence.spool_dir);
  if (cfg.evidence.signing_key_file) cfg.evidence.signing_key_file = abs(cfg.evidence.signing_key_file);
  cfg.evidence.auditor_keys = cfg.evidence.auditor_keys.map(abs);
  if (cfg.evidence.previous_signing_key_file) cfg.evidence.previous_signing_key_file = abs(cfg.evidence.previous_signing_key_file);
  if (cfg.evidence.publisher.kind === 'local-git') cfg.evidence.publisher.repo = abs(cfg.evidence.publisher.repo);
  return cfg;
}
