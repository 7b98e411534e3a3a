// Starts a Verdict gateway from a validated config: policy engines (one per upstream, with its catalog),
// identity, approvals, the PostgreSQL listener and the admin HTTP listener; stops it gracefully.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { createEngine, type Engine } from '../engine/engine.ts';
import { EngineError } from '../engine/errors.ts';
import { loadBundle, type PolicyBundle } from '../engine/policy/bundle.ts';
import type { Catalog } from '../engine/sql/types.ts';
import { localApprovals } from './approvals/local.ts';
import { githubApprovals } from './approvals/github.ts';
import { createWebhookHandler, type WebhookHandler } from './approvals/webhook.ts';
import { createEvidenceWriterFromConfig, type EvidenceWriter } from './evidence/writer.ts';
import { githubPublisher } from './evidence/github-publisher.ts';
import type { EvidencePublisher } from './evidence/publisher.ts';
import type { ApprovalProvider } from './approvals/provider.ts';
import type { VerdictConfig } from './config/schema.ts';
import { createIdentityValidator } from './identity/validator.ts';
import { createLogger, type Logger } from './ops/log.ts';
import { createMetrics } from './ops/metrics.ts';
import type { SessionHandle } from './context.ts';
import type { PostgresDoorContext, PostgresSessionHandle } from './postgres/context.ts';
import { BackendWriter, tooManyConnections } from './postgres/protocol/index.ts';
import { startMcpDoor } from './mcp/door.ts';
import { startSnowflakeDoor } from './snowflake/door.ts';
import { createSnowflakeEngine, loadSnowflakeCatalog, snowflakeTarget } from './snowflake/engine.ts';
import { SnowflakeSession, type SnowflakeTarget } from './upstream/snowflake/connection.ts';
import { handleClient } from './postgres/session.ts';
import { loadUpstreamCatalog } from './upstream/postgres/catalog.ts';
import { cancelUpstream, connectUpstream, resolveSecret, type UpstreamTarget } from './upstream/postgres/upstream.ts';

export interface Gateway {
  /** Where the PostgreSQL front door listens. */
  address: { host: string; port: number };
  adminAddress: { host: string; port: number } | null;
  /** The MCP front door's endpoint (and its RFC 9728 metadata), when `mcp` is configured. */
  mcp: { url: string; metadataUrl: string; address: { host: string; port: number } } | null;
  /** The Snowflake front door's base URL (drivers' accessUrl), when `snowflake` is configured. */
  snowflake: { url: string; address: { host: string; port: number } } | null;
  revision: string | null;
  /** Stops accepting, lets in-flight statements finish (bounded), then closes every session. */
  close(): Promise<void>;
}

export interface GatewayOptions {
  log?: Logger;
  approvals?: ApprovalProvider;
  /** Base folder for relative evidence paths (default: the working directory). */
  baseDir?: string;
  /** An evidence writer to use instead of the one the config describes (fault injection in tests). */
  evidence?: EvidenceWriter | null;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export function upstreamTarget(name: string, cfg: VerdictConfig['upstreams'][string]): UpstreamTarget {
  return {
    name,
    host: cfg.host,
    port: cfg.port,
    database: cfg.database,
    user: cfg.user,
    ...(cfg.password ? { password: cfg.password } : {}),
    tls: { mode: cfg.tls.mode, ...(cfg.tls.ca ? { ca: cfg.tls.ca } : {}), ...(cfg.tls.servername ? { servername: cfg.tls.servername } : {}) },
    connectTimeoutMs: cfg.connect_timeout_ms,
  };
}

/**
 * Starts the gateway.
 *
 * @example
 * const gw = await startGateway(loadConfig('verdict.yaml')); // then psql -h 127.0.0.1 -p 6432 ...
 */
export async function startGateway(config: VerdictConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger(config.log.level);
  const metrics = createMetrics();

  let bundle: PolicyBundle | null = null;
  let bundleError: string | undefined;
  try {
    const keys = Object.fromEntries(Object.entries(config.policy.verification_keys).map(([kid, path]) => [kid, readFileSync(path, 'utf8')]));
    bundle = await loadBundle(config.policy.bundle, Object.keys(keys).length ? { verification: { keys } } : {});
    log.info('policy bundle loaded', { revision: bundle.revision, signed_by: bundle.signedBy, path: config.policy.bundle });
  } catch (err) {
    if (!(err instanceof EngineError)) throw err;
    bundleError = err.message;
    log.error('policy bundle not loaded: every statement will be denied', { error: err.message });
  }

  const targets = new Map(Object.entries(config.upstreams).map(([name, u]) => [name, upstreamTarget(name, u)]));
  for (const [name, t] of targets) {
    if (t.password) {
      try {
        resolveSecret(t.password); // a missing secret is a startup error, not a per-client surprise
      } catch (err) {
        throw new Error(`upstreams.${name}.password: ${(err as Error).message}`);
      }
    }
  }

  const engines = new Map<string, Engine>();
  const origins = new Map<string, Map<string, string>>();
  /** (Re)loads an upstream's catalog and swaps in an engine that knows it; the old engine keeps serving until then. */
  async function loadEngine(name: string, target: UpstreamTarget): Promise<void> {
    let catalog: Catalog | undefined;
    try {
      const conn = await connectUpstream(target);
      const loaded = await loadUpstreamCatalog(conn);
      conn.close();
      catalog = loaded.catalog;
      const reverse = new Map<string, string>();
      for (const [key, o] of loaded.origins) reverse.set(`${o.schema}.${o.table}.${o.column}`, key);
      origins.set(name, reverse);
      log.info('upstream catalog loaded', {
        upstream: name,
        tables: Object.keys(catalog.tables).length,
        views: Object.keys(catalog.views ?? {}).length,
        functions: Object.keys(catalog.functions ?? {}).length,
      });
    } catch (err) {
      log.warn('upstream catalog not loaded; SELECT * results of masked tables will be NULL', { upstream: name, error: (err as Error).message });
      if (engines.has(name)) return; // keep the engine with the last known catalog
    }
    engines.set(
      name,
      await createEngine({
        bundle,
        ...(bundleError ? { bundleError } : {}),
        ...(catalog ? { catalog } : {}),
        maxStatementBytes: config.policy.max_statement_bytes,
        maxStatements: config.policy.max_statements,
        cache: { maxEntries: config.policy.decision_cache_entries },
      }),
    );
  }
  for (const [name, target] of targets) await loadEngine(name, target);

  const sfTargets = new Map<string, SnowflakeTarget>();
  for (const [name, u] of Object.entries(config.snowflake_upstreams)) {
    try {
      sfTargets.set(name, snowflakeTarget(name, u, resolveSecret(u.private_key)));
    } catch (err) {
      throw new Error(`snowflake_upstreams.${name}.private_key: ${(err as Error).message}`);
    }
  }
  /** (Re)loads a Snowflake upstream's catalog (INFORMATION_SCHEMA) and swaps in an engine with the Snowflake dialect. */
  async function loadSnowflakeEngine(name: string): Promise<void> {
    const u = config.snowflake_upstreams[name]!;
    let catalog: Catalog | undefined;
    try {
      const s = await SnowflakeSession.open(sfTargets.get(name)!, u.role ? { role: u.role } : {});
      try {
        catalog = await loadSnowflakeCatalog(s, u.database);
      } finally {
        await s.close();
      }
      log.info('upstream catalog loaded', { upstream: name, tables: Object.keys(catalog.tables).length });
    } catch (err) {
      log.warn('upstream catalog not loaded; SELECT * results of masked tables will be NULL', { upstream: name, error: (err as Error).message });
      if (engines.has(name)) return;
    }
    engines.set(name, await createSnowflakeEngine({ bundle, ...(bundleError ? { bundleError } : {}), maxStatementBytes: config.policy.max_statement_bytes, maxStatements: config.policy.max_statements, cache: { maxEntries: config.policy.decision_cache_entries } }, u, catalog));
  }
  for (const name of sfTargets.keys()) await loadSnowflakeEngine(name);

  // DDL through the gateway changes what names mean (a new view over PHI, a new column): reload soon after.
  const reloadTimers = new Map<string, NodeJS.Timeout>();
  const catalogChanged = (name: string) => {
    if (reloadTimers.has(name)) return;
    reloadTimers.set(
      name,
      setTimeout(() => {
        reloadTimers.delete(name);
        void (sfTargets.has(name) ? loadSnowflakeEngine(name) : loadEngine(name, targets.get(name)!));
      }, 200).unref(),
    );
  };
  // Changes made outside the gateway are picked up periodically.
  const refresh = setInterval(() => {
    for (const name of [...targets.keys(), ...sfTargets.keys()]) catalogChanged(name);
  }, config.policy.catalog_refresh_seconds * 1000).unref();

  let webhook: WebhookHandler | null = null;
  let approvals: ApprovalProvider;
  if (options.approvals) approvals = options.approvals;
  else if (config.approvals.provider === 'github') {
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
      client: { writesPerMinute: g.writes_per_minute },
      log: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
    });
    approvals = provider;
    if (g.webhook_secret) webhook = createWebhookHandler({ secret: resolveSecret(g.webhook_secret), onEvent: (e) => provider.wake(e) });
    log.info('approvals through GitHub pull requests', { repo: `${g.owner}/${g.repo}`, team: `${g.team.org}/${g.team.slug}`, webhook: webhook !== null });
  } else approvals = await localApprovals({ dir: config.approvals.state_dir });
  const pub = config.evidence.publisher;
  let githubEvidence: EvidencePublisher | undefined;
  if (pub.kind === 'github') {
    if (!pub.token === !pub.app) throw new Error('evidence.publisher (github): give exactly one of token or app');
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
  const evidence = options.evidence !== undefined ? options.evidence : await createEvidenceWriterFromConfig(config.evidence, {
    ...(githubEvidence ? { publisher: githubEvidence } : {}),
    ...(options.baseDir ? { baseDir: options.baseDir } : {}),
    version: VERSION,
    onWarning: (message, fields) => log.warn(`evidence: ${message}`, fields),
  });
  if (evidence) {
    log.info('evidence writer open', { stream: evidence.stream, require_durable: evidence.requireDurable, recovery: evidence.recovery });
    // Requests held for clients an unclean stop disconnected were closed in the evidence: close them at the provider too.
    for (const id of evidence.recovery.uncleanStop?.withdrawnApprovals ?? [])
      await approvals.withdraw(id).catch((err: Error) => log.warn('approval left open by an unclean stop could not be withdrawn', { request: id, error: err.message }));
    if (bundle) {
      await evidence
        .append({ type: 'policy_bundle_loaded', data: { revision: bundle.revision, previous_revision: null, signed_by: bundle.signedBy } })
        .catch((err: Error) => log.error('evidence cannot be written: statements will be refused until it can', { error: err.message }));
    }
  } else {
    log.warn('evidence is disabled (evidence.enabled: false): no audit trail is written');
  }
  const hashKey = config.masking.hash_key ? Buffer.from(resolveSecret(config.masking.hash_key)) : randomBytes(32);
  if (!config.masking.hash_key) log.warn('masking.hash_key is not set: hashed values change on every restart');

  const secureContext =
    config.tls.cert && config.tls.key ? tls.createSecureContext({ cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) }) : null;

  const sessions = new Set<SessionHandle>();
  const postgresSessions = new Set<PostgresSessionHandle>();
  const ctx: PostgresDoorContext = {
    config,
    engine: (name) => engines.get(name)!,
    originsOf: (name) => origins.get(name),
    catalogChanged,
    validator: createIdentityValidator({
      issuer: config.identity.issuer,
      audience: config.identity.audience,
      jwksUrl: config.identity.jwks_url,
      ...(config.identity.algorithms ? { algorithms: config.identity.algorithms } : {}),
      clockToleranceSeconds: config.identity.clock_tolerance_seconds,
      claims: config.identity.claims,
    }),
    approvals,
    evidence,
    log,
    metrics,
    tls: secureContext,
    maskContext: { hashKey },
    sessions,
    postgresSessions,
    connect: (name, startup, role) => connectUpstream(targets.get(name)!, { extraStartup: startup, ...(role ? { role } : {}) }),
    cancel(processId, secretKey) {
      for (const s of postgresSessions) {
        if (s.key.processId !== processId || s.key.secretKey.length !== secretKey.length) continue;
        if (timingSafeEqual(s.key.secretKey, secretKey)) return s.cancel();
      }
    },
    cancelUpstream: async (name, processId, secretKey) => {
      const t = targets.get(name)!;
      await cancelUpstream(t, processId, secretKey).catch((err) => log.warn('cancel failed', { upstream: name, error: (err as Error).message }));
    },
  };

  const writer = new BackendWriter();
  const server = net.createServer({ noDelay: true }, (socket) => {
    if (postgresSessions.size >= config.limits.max_connections) {
      socket.end(writer.errorResponse({ ...tooManyConnections(`the gateway serves at most ${config.limits.max_connections} sessions`), severity: 'FATAL' }).flush());
      return;
    }
    handleClient(socket, ctx);
  });
  server.on('error', (err) => log.error('listener error', { error: err.message }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.postgres.port, config.listen.postgres.host, () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  log.info('gateway listening', { host: addr.address, port: addr.port, tls: !!secureContext, upstreams: [...targets.keys()] });

  const mcp = config.mcp
    ? await startMcpDoor(ctx, { tls: config.tls.cert && config.tls.key ? { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } : null, version: VERSION })
    : null;

  const sfName = config.snowflake ? (config.snowflake.upstream ?? Object.keys(config.snowflake_upstreams)[0]!) : null;
  const snowflakeDoor = sfName
    ? await startSnowflakeDoor(ctx, {
        upstream: sfName,
        upstreamConfig: config.snowflake_upstreams[sfName]!,
        target: sfTargets.get(sfName)!,
        tls: config.tls.cert && config.tls.key ? { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } : null,
        version: VERSION,
      })
    : null;

  let admin: http.Server | null = null;
  let adminAddress: Gateway['adminAddress'] = null;
  let accepting = true;
  let closing: Promise<void> | null = null;
  if (config.listen.admin) {
    admin = http.createServer(async (req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (webhook && url === '/github/webhook') return void webhook(req, res);
      if (url === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      if (url === '/readyz') {
        const evidenceOk = !evidence || !evidence.requireDurable || evidence.status().writable;
        const ready = accepting && bundle !== null && evidenceOk;
        const why = bundleError ?? (!evidenceOk ? 'the evidence spool cannot be written' : 'shutting down');
        return void res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : `not ready: ${why}\n`);
      }
      if (url === '/metrics') {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        return void res.end(await metrics.registry.metrics());
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    });
    await new Promise<void>((resolve, reject) => {
      admin!.once('error', reject);
      admin!.listen(config.listen.admin!.port, config.listen.admin!.host, () => resolve());
    });
    const a = admin.address() as net.AddressInfo;
    adminAddress = { host: a.address, port: a.port };
  }

  return {
    address: { host: addr.address, port: addr.port },
    adminAddress,
    mcp: mcp && { url: mcp.url, metadataUrl: mcp.metadataUrl, address: mcp.address },
    snowflake: snowflakeDoor && { url: snowflakeDoor.url, address: snowflakeDoor.address },
    revision: bundle?.revision ?? null,
    close() {
      closing ??= shutdown();
      return closing;
    },
  };

  /** Stops accepting, lets in-flight statements finish (bounded), ends sessions, seals and publishes evidence. */
  async function shutdown(): Promise<void> {
    accepting = false;
    clearInterval(refresh);
    for (const t of reloadTimers.values()) clearTimeout(t);
    server.close();
    const mcpClosed = mcp?.close();
    const snowflakeClosed = snowflakeDoor?.close();
    const deadline = Date.now() + config.limits.shutdown_grace_ms;
    while ([...sessions].some((s) => s.busy) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of [...sessions]) s.shutdown('terminating connection: the gateway is shutting down');
    await mcpClosed;
    await snowflakeClosed;
    await evidence?.close({ reason: 'shutdown' }).catch((err: Error) => log.error('evidence close failed', { error: err.message }));
    await new Promise<void>((resolve) => (admin ? admin.close(() => resolve()) : resolve()));
    admin?.closeAllConnections?.();
    log.info('gateway stopped');
  }
}
