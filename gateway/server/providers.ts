// The providers a gateway's config names: where policy bundles come from (a file, a URL, a GitHub release),
// who approves (local files, or GitHub pull requests with their webhook) and where evidence goes (the writer
// and its publisher). gateway/server.ts wires them together.
import { createGitHubClient } from '../github/client.ts';
import { fileSource, githubReleaseSource, httpSource, type BundleSource } from '../bundles/sources.ts';
import { localApprovals } from '../approvals/local.ts';
import { githubApprovals } from '../approvals/github.ts';
import { createWebhookHandler, type WebhookHandler } from '../approvals/webhook.ts';
import type { ApprovalProvider, ApprovalRequest } from '../approvals/provider.ts';
import { createEvidenceWriterFromConfig, type EvidenceWriter } from '../evidence/writer.ts';
import { githubPublisher } from '../evidence/github-publisher.ts';
import type { EvidencePublisher } from '../evidence/publisher.ts';
import type { VerdictConfig } from '../config/schema.ts';
import { ConfigError } from '../config/errors.ts';
import type { Logger } from '../ops/log.ts';
import type { GatewayMetrics } from '../ops/metrics.ts';
import { resolveSecret } from '../upstream/postgres/upstream.ts';

/** The bundle source the config names (`policy.source`, or the `policy.bundle` file). */
export async function bundleSource(policy: VerdictConfig['policy']): Promise<BundleSource> {
  const src = policy.source;
  if (!src) return fileSource(policy.bundle);
  if ('file' in src) return fileSource(src.file, { pollMs: src.poll_seconds * 1000 });
  if ('url' in src) return httpSource({ url: src.url, pollMs: src.poll_seconds * 1000, ...(src.token ? { token: resolveSecret(src.token) } : {}) });
  const g = src.github;
  const client = await createGitHubClient({
    ...(g.base_url ? { baseUrl: g.base_url } : {}),
    auth: g.token ? { token: resolveSecret(g.token) } : { appId: g.app!.app_id, installationId: g.app!.installation_id, privateKey: resolveSecret(g.app!.private_key) },
  });
  return githubReleaseSource({ client, owner: g.owner, repo: g.repo, asset: g.asset, ...(g.tag ? { tag: g.tag } : {}), pollMs: src.poll_seconds * 1000 });
}

/**
 * The approval provider: the one given (`options.approvals`), else the one the config names — GitHub pull
 * requests (with the webhook handler that wakes it, when a webhook secret is set) or local files. `options`
 * are the gateway's (GatewayOptions).
 *
 * @example
 * const { approvals, webhook } = await approvalProvider(config, { configPath: 'verdict.yaml' }, log)
 */
export async function approvalProvider(
  config: VerdictConfig,
  options: { approvals?: ApprovalProvider; configPath?: string; approveCommand?: (request: ApprovalRequest) => string },
  log: Logger,
): Promise<{ approvals: ApprovalProvider; webhook: WebhookHandler | null }> {
  if (options.approvals) return { approvals: options.approvals, webhook: null };
  if (config.approvals.provider === 'github') {
    let webhook: WebhookHandler | null = null;
    const g = config.approvals.github!;
    const provider = githubApprovals({
      owner: g.owner,
      repo: g.repo,
      baseBranch: g.base_branch,
      team: g.team,
      teams: Object.fromEntries(Object.entries(g.teams)),
      identities: { logins: g.logins },
      auth: g.token
        ? { token: resolveSecret(g.token) }
        : { appId: g.app!.app_id, installationId: g.app!.installation_id, privateKey: resolveSecret(g.app!.private_key) },
      ...(g.base_url ? { baseUrl: g.base_url } : {}),
      ...(g.gateway_login ? { gatewayLogin: g.gateway_login } : {}),
      pollMs: g.poll_seconds * 1000,
      client: { writesPerMinute: g.writes_per_minute, ...(g.notifications_per_minute ? { notificationsPerMinute: g.notifications_per_minute } : {}) },
      log: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
    });
    if (g.webhook_secret) webhook = createWebhookHandler({ secret: resolveSecret(g.webhook_secret), onEvent: (e) => provider.wake(e) });
    log.info('approvals through GitHub pull requests', { repo: `${g.owner}/${g.repo}`, team: `${g.team.org}/${g.team.slug}`, webhook: webhook !== null });
    return { approvals: provider, webhook };
  }
  const configPath = options.configPath;
  const command = options.approveCommand ?? (configPath ? (r: ApprovalRequest) => `npx verdict approve ${r.id} --config ${configPath}` : undefined);
  return { approvals: await localApprovals({ dir: config.approvals.state_dir, ...(command ? { command } : {}) }), webhook: null };
}

/**
 * The evidence writer: the one given (`options.evidence`, null: none), else the one the config describes,
 * publishing to GitHub when `evidence.publisher` says so. Throws ConfigError for a GitHub publisher without
 * exactly one of token or app (even when a writer is given).
 */
export async function evidenceWriter(
  config: VerdictConfig,
  options: { evidence?: EvidenceWriter | null; baseDir?: string },
  services: { log: Logger; metrics: GatewayMetrics; version: string },
): Promise<EvidenceWriter | null> {
  const { log, metrics } = services;
  const pub = config.evidence.publisher;
  let githubEvidence: EvidencePublisher | undefined;
  if (pub.kind === 'github') {
    if (!pub.token === !pub.app) throw new ConfigError('evidence.publisher (github): give exactly one of token or app');
    githubEvidence = githubPublisher({
      owner: pub.owner,
      repo: pub.repo,
      branch: pub.branch,
      ...(pub.base_url ? { baseUrl: pub.base_url } : {}),
      auth: pub.token
        ? { token: resolveSecret(pub.token) }
        : { appId: pub.app!.app_id, installationId: pub.app!.installation_id, privateKey: resolveSecret(pub.app!.private_key) },
    });
  }
  return options.evidence !== undefined ? options.evidence : await createEvidenceWriterFromConfig(config.evidence, {
    ...(githubEvidence ? { publisher: githubEvidence } : {}),
    ...(options.baseDir ? { baseDir: options.baseDir } : {}),
    version: services.version,
    onWarning: (message, fields) => log.warn(`evidence: ${message}`, fields),
    onDurable: (seconds) => metrics.evidenceDurableSeconds.observe(seconds),
  });
}
