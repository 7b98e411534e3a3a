// Starts a Verdict gateway from a validated config: policy engines (one per upstream, with its catalog),
// identity, approvals, the PostgreSQL listener and the admin HTTP listener; stops it gracefully. The providers
// the config names are built in server/providers.ts, the admin listener in server/admin.ts.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { createEngine, type Engine } from '../engine/engine.ts';
import type { PolicyBundle } from '../engine/policy/bundle.ts';
import type { EvidenceEvent } from '../engine/evidence/events.ts';
import { createBundleFollower, type BundleFollower } from './bundles/follower.ts';
import type { Catalog } from '../engine/sql/types.ts';
import type { EvidenceWriter } from './evidence/writer.ts';
import type { ApprovalProvider, ApprovalRequest } from './approvals/provider.ts';
import type { VerdictConfig } from './config/schema.ts';
import { createIdentityValidator } from './identity/validator.ts';
import { createLogger, type Logger } from './ops/log.ts';
import { createMetrics } from './ops/metrics.ts';
import type { SessionHandle } from './context.ts';
import type { PostgresDoorContext, PostgresSessionHandle } from './postgres/context.ts';
import { BackendWriter, tooManyConnections } from './postgres/protocol/index.ts';
import { startMcpDoor } from './mcp/door.ts';
import { startSnowflakeDoor } from './snowflake/door.ts';
import { coalescedRefresh, loadSnowflakeCatalog, type SnowflakeCatalog } from './snowflake/catalog.ts';
import { createSnowflakeEngine, snowflakeTarget } from './snowflake/engine.ts';
import { SnowflakeSession, type SnowflakeTarget } from './upstream/snowflake/connection.ts';
import { handleClient } from './postgres/session.ts';
import { loadUpstreamCatalog } from './upstream/postgres/catalog.ts';
import { loadRelationCatalog, versionChecker, type RelationCatalog, type RelationCatalogAccess, type VersionChecker } from './postgres/catalog-freshness.ts';
import { cancelUpstream, connectUpstream, resolveSecret, type UpstreamError, type UpstreamTarget } from './upstream/postgres/upstream.ts';
import { ConfigError } from './config/errors.ts';
import { checkReferences } from './config/references.ts';
import { startAdminListener } from './server/admin.ts';
import { approvalProvider, bundleSource, evidenceWriter } from './server/providers.ts';

export interface Gateway {
  /** Where the PostgreSQL front door listens. */
  address: { host: string; port: number };
  adminAddress: { host: string; port: number } | null;
  /** The MCP front door's endpoint (and its RFC 9728 metadata), when `mcp` is configured. */
  mcp: { url: string; metadataUrl: string; address: { host: string; port: number } } | null;
  /** The Snowflake front door's base URL (drivers' accessUrl), when `snowflake` is configured. */
  snowflake: { url: string; address: { host: string; port: number } } | null;
  /** The active policy bundle's revision (null while none is loaded). */
  readonly revision: string | null;
  /** The policy follower: `check()` looks for a new bundle now; `status()` is what /status reports. */
  policy: BundleFollower;
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
  /** The configuration file the gateway runs from: the local approval HINT names it (`--config <file>`). */
  configPath?: string;
  /** The command the local approval HINT shows (the demo names a demo approver); default from `configPath`. */
  approveCommand?: (request: ApprovalRequest) => string;
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
  // Secrets and files first, all of them: nothing (the evidence spool above all) opens for a config that cannot run.
  checkReferences(config, options.baseDir ? { baseDir: options.baseDir } : {});
  const metrics = createMetrics();

  // The policy: a follower fetches, verifies and compiles bundles; `bundle` is the one serving (null: none
  // could be loaded, and every statement is denied with `bundleError`). Events wait for the evidence writer.
  let bundle: PolicyBundle | null = null;
  let bundleError: string | undefined = 'no policy bundle has been loaded yet';
  const policyEvents: EvidenceEvent[] = [];
  let recordPolicy = (e: EvidenceEvent) => void policyEvents.push(e);
  const verificationKeys = Object.fromEntries(Object.entries(config.policy.verification_keys).map(([kid, path]) => [kid, readFileSync(path, 'utf8')]));
  if (Object.keys(verificationKeys).length === 0) log.warn('policy bundles are not signature-checked (policy.verification_keys is empty): no anti-rollback either');
  const follower = createBundleFollower({
    source: await bundleSource(config.policy),
    verification: { keys: verificationKeys },
    statePath: config.policy.state_file,
    activate: (b) => activateBundle(b),
    onActivated(b, previous, source) {
      metrics.policyRevision.reset();
      metrics.policyRevision.set({ revision: b.revision, sequence: String(b.signed?.sequence ?? '') }, 1);
      metrics.policyReloads.inc({ outcome: 'activated' });
      log.info(previous ? 'policy bundle activated' : 'policy bundle loaded', { revision: b.revision, previous_revision: previous?.revision ?? null, signed_by: b.signedBy, sequence: b.signed?.sequence ?? null, source });
      recordPolicy({
        type: 'policy_bundle_loaded',
        data: { revision: b.revision, previous_revision: previous?.revision ?? null, digest: b.digest, signed_by: b.signedBy, sequence: b.signed?.sequence ?? null, rollback: b.signed?.rollback ?? false, source },
      });
    },
    onRejected(reason, revision, active, source, code) {
      metrics.policyReloads.inc({ outcome: 'rejected' });
      if (!active) bundleError = reason;
      log.error(active ? 'policy bundle refused; the last good one keeps serving' : 'policy bundle not loaded: every statement will be denied', { error: reason, code, revision, active_revision: active?.revision ?? null, source });
      recordPolicy({ type: 'policy_bundle_rejected', data: { reason, source, revision, active_revision: active?.revision ?? null } });
    },
    onWarning: (message, fields) => log.warn(message, fields),
  });

  const targets = new Map(Object.entries(config.upstreams).map(([name, u]) => [name, upstreamTarget(name, u)]));
  /** Whether each PostgreSQL upstream answered its last connection (catalog load, a session, a readiness probe). */
  const reachable = new Map<string, boolean>();
  const upstreamUp = (name: string, up: boolean) => {
    reachable.set(name, up);
    metrics.upstreamUp.set({ upstream: name }, up ? 1 : 0);
  };

  const engines = new Map<string, Engine>();
  const catalogs = new Map<string, Catalog | undefined>();
  const origins = new Map<string, Map<string, string>>();
  const sfTargets = new Map<string, SnowflakeTarget>();
  for (const [name, u] of Object.entries(config.snowflake_upstreams)) {
    try {
      sfTargets.set(name, snowflakeTarget(name, u, resolveSecret(u.private_key)));
    } catch (err) {
      throw new ConfigError(`snowflake_upstreams.${name}.private_key: ${(err as Error).message}`);
    }
  }
  const engineOptions = (b: PolicyBundle | null) => ({
    bundle: b,
    ...(b === null && bundleError ? { bundleError } : {}),
    maxStatementBytes: config.policy.max_statement_bytes,
    maxStatements: config.policy.max_statements,
    cache: { maxEntries: config.policy.decision_cache_entries },
  });
  /** An upstream's engine for a bundle, with the catalog last loaded for it (each engine has its own decision cache). */
  function buildEngine(name: string, b: PolicyBundle | null): Promise<Engine> {
    const catalog = catalogs.get(name);
    const sf = config.snowflake_upstreams[name];
    if (sf) return createSnowflakeEngine(engineOptions(b), sf, catalog);
    return createEngine({ ...engineOptions(b), ...(catalog ? { catalog } : {}) });
  }
  /**
   * Compiles a verified bundle for every upstream and swaps all engines at once; throws (swapping nothing)
   * when the bundle cannot be instantiated. Sessions keep running: each statement asks for its upstream's
   * engine when it is decided, so the next statement gets the new revision and a decided one keeps its own.
   */
  async function activateBundle(b: PolicyBundle): Promise<void> {
    const next = new Map<string, Engine>();
    for (const name of [...targets.keys(), ...sfTargets.keys()]) {
      const e = await buildEngine(name, b);
      if (e.error) throw new Error(e.error);
      next.set(name, e);
    }
    bundle = b;
    bundleError = undefined;
    for (const [name, e] of next) engines.set(name, e);
  }
  /** Swaps in an engine for the bundle serving now, unless the bundle changed while it was built. */
  async function refreshEngine(name: string): Promise<void> {
    for (;;) {
      const b = bundle;
      const e = await buildEngine(name, b);
      if (b === bundle) return void engines.set(name, e);
    }
  }
  const relationCatalogs = new Map<string, RelationCatalog>();
  /** When the relation catalog in force began loading: a slower, older load never replaces a newer one. */
  const relationsLoadedFrom = new Map<string, number>();
  /**
   * (Re)loads an upstream's catalog and swaps in an engine that knows it; the old engine keeps serving until then.
   * Resolves false when the catalog could not be read (the last good catalog and engine stay).
   */
  async function loadEngine(name: string, target: UpstreamTarget): Promise<boolean> {
    const began = Date.now();
    try {
      const conn = await connectUpstream(target);
      let loaded: Awaited<ReturnType<typeof loadUpstreamCatalog>>;
      let relations: RelationCatalog;
      try {
        // Versions first: a relation changed between the two reads shows a newer version than the engine's
        // catalog knows, so the next statement that reads it has it re-read.
        relations = await loadRelationCatalog(conn);
        loaded = await loadUpstreamCatalog(conn);
      } finally {
        conn.close();
      }
      if (began < (relationsLoadedFrom.get(name) ?? -Infinity)) return true;
      relationsLoadedFrom.set(name, began);
      relationCatalogs.set(name, relations);
      catalogs.set(name, loaded.catalog);
      const reverse = new Map<string, string>();
      for (const [key, o] of loaded.origins) reverse.set(`${o.schema}.${o.table}.${o.column}`, key);
      origins.set(name, reverse);
      log.info('upstream catalog loaded', {
        upstream: name,
        tables: Object.keys(loaded.catalog.tables).length,
        views: Object.keys(loaded.catalog.views ?? {}).length,
        functions: Object.keys(loaded.catalog.functions ?? {}).length,
      });
      upstreamUp(name, true);
    } catch (err) {
      const code = (err as UpstreamError).code;
      if (!engines.has(name) && (code === 'AUTH_FAILED' || code === 'AUTH_UNSUPPORTED' || code === 'SECRET_MISSING')) {
        // The server is there and says no to the gateway's own credentials: no session could ever open.
        throw new ConfigError(`upstreams.${name}: the upstream refused the gateway's credentials: ${(err as Error).message}`);
      }
      if (code === 'CONNECT_FAILED' || code === 'TIMEOUT' || code === 'TLS_FAILED') upstreamUp(name, false);
      log.warn('upstream catalog not loaded; statements reading relations it does not know are refused', { upstream: name, error: (err as Error).message });
      if (engines.has(name)) return false; // keep the engine with the last known catalog
      await refreshEngine(name);
      return false;
    }
    await refreshEngine(name);
    return true;
  }
  /** Per PostgreSQL upstream: its relation catalog, a coalesced refresh, and the per-statement version check. */
  const relationAccess = new Map<string, RelationCatalogAccess>();
  const checkers: VersionChecker[] = [];
  for (const [name, target] of targets) {
    const checker = versionChecker(() => connectUpstream(target), () => relationCatalogs.get(name) ?? null);
    checkers.push(checker);
    relationAccess.set(name, {
      current: () => relationCatalogs.get(name) ?? null,
      refresh: coalescedRefresh(() => loadEngine(name, target), 1000),
      changed: config.upstreams[name]!.catalog_check ? (relations, functions) => checker.changed(relations, functions) : async () => false,
    });
  }
  const sfCatalogs = new Map<string, SnowflakeCatalog>();
  /** When the catalog in force began loading: a slower, older load never replaces a newer one. */
  const sfLoadedFrom = new Map<string, number>();
  /**
   * (Re)loads a Snowflake upstream's catalog (INFORMATION_SCHEMA: columns, tables, view definitions) and swaps in an
   * engine with the Snowflake dialect that follows its views. Resolves false when the catalog could not be read
   * (the last good catalog and engine stay).
   */
  async function loadSnowflakeEngine(name: string): Promise<boolean> {
    const u = config.snowflake_upstreams[name]!;
    const began = Date.now();
    let loaded: SnowflakeCatalog | undefined;
    try {
      const s = await SnowflakeSession.open(sfTargets.get(name)!, u.role ? { role: u.role } : {});
      try {
        loaded = await loadSnowflakeCatalog(s, u.database);
      } finally {
        await s.close();
      }
      log.info('upstream catalog loaded', { upstream: name, tables: Object.keys(loaded.catalog.tables).length, views: Object.keys(loaded.catalog.views ?? {}).length, hidden_views: loaded.hiddenViews.size });
    } catch (err) {
      log.warn('upstream catalog not loaded; statements naming objects it does not know are refused', { upstream: name, error: (err as Error).message });
      if (engines.has(name)) return false;
    }
    if (loaded && began < (sfLoadedFrom.get(name) ?? -Infinity)) return true;
    if (loaded) {
      catalogs.set(name, loaded.catalog);
      sfCatalogs.set(name, loaded);
      sfLoadedFrom.set(name, began);
    }
    await refreshEngine(name);
    return loaded !== undefined;
  }
  for (const [name, target] of targets) await loadEngine(name, target);
  for (const name of sfTargets.keys()) await loadSnowflakeEngine(name);
  // The first bundle: engines deny everything until one is active.
  await follower.check();
  if (!bundle) for (const name of engines.keys()) await refreshEngine(name); // deny with the reason it failed
  follower.start();
  const onHangup = () => void follower.check();
  process.on('SIGHUP', onHangup);

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

  const { approvals, webhook } = await approvalProvider(config, options, log);
  const evidence = await evidenceWriter(config, options, { log, metrics, version: VERSION });
  if (evidence) {
    metrics.evidenceGauges = () => {
      const st = evidence.status();
      return { pending: st.pending ?? 0, lostEvents: st.lostEvents, publish: st.publish };
    };
    log.info('evidence writer open', { stream: evidence.stream, require_durable: evidence.requireDurable, recovery: evidence.recovery });
    // Requests held for clients an unclean stop disconnected were closed in the evidence: close them at the provider too.
    for (const id of evidence.recovery.uncleanStop?.withdrawnApprovals ?? [])
      await approvals.withdraw(id).catch((err: Error) => log.warn('approval left open by an unclean stop could not be withdrawn', { request: id, error: err.message }));
    // Policy events from before the writer opened (the first bundle), then each as it happens.
    recordPolicy = (e) => void evidence.append(e).catch((err: Error) => log.error('evidence cannot be written: statements will be refused until it can', { error: err.message }));
    for (const e of policyEvents.splice(0)) recordPolicy(e);
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
    relationCatalog: (name) => relationAccess.get(name)!,
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
    connect: async (name, startup, role) => {
      try {
        const conn = await connectUpstream(targets.get(name)!, { extraStartup: startup, ...(role ? { role } : {}) });
        upstreamUp(name, true);
        return conn;
      } catch (err) {
        const code = (err as UpstreamError).code;
        if (code === 'CONNECT_FAILED' || code === 'TIMEOUT' || code === 'TLS_FAILED') upstreamUp(name, false);
        throw err;
      }
    },
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
        catalog: { current: () => sfCatalogs.get(sfName) ?? null, refresh: coalescedRefresh(() => loadSnowflakeEngine(sfName), 1000) },
        tls: config.tls.cert && config.tls.key ? { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } : null,
        version: VERSION,
      })
    : null;

  let probing = false;
  /** Tries every upstream once (at most one probe at a time); each answer updates `reachable`. */
  function probeUpstreams(): void {
    if (probing) return;
    probing = true;
    void Promise.all(
      [...targets].map(([name, t]) =>
        connectUpstream(t).then(
          (c) => {
            c.close();
            upstreamUp(name, true);
          },
          () => upstreamUp(name, false),
        ),
      ),
    ).finally(() => (probing = false));
  }

  let admin: http.Server | null = null;
  let adminAddress: Gateway['adminAddress'] = null;
  let accepting = true;
  let closing: Promise<void> | null = null;
  if (config.listen.admin) {
    ({ server: admin, address: adminAddress } = await startAdminListener(config.listen.admin, {
      webhook,
      readiness() {
        const evidenceOk = !evidence || !evidence.requireDurable || evidence.status().writable;
        const upstreamOk = targets.size === 0 || [...reachable.values()].some(Boolean);
        if (!upstreamOk) probeUpstreams(); // so readiness comes back once one answers again
        const ready = accepting && bundle !== null && evidenceOk && upstreamOk;
        const why = bundleError ?? (!evidenceOk ? 'the evidence spool cannot be written' : !upstreamOk ? `no upstream is reachable (${[...targets.keys()].join(', ')})` : 'shutting down');
        return { ready, why };
      },
      status: () => ({ instance: evidence?.stream ?? null, version: VERSION, policy: follower.status(), ready: accepting && bundle !== null }),
      metrics,
    }));
  }

  return {
    address: { host: addr.address, port: addr.port },
    adminAddress,
    mcp: mcp && { url: mcp.url, metadataUrl: mcp.metadataUrl, address: mcp.address },
    snowflake: snowflakeDoor && { url: snowflakeDoor.url, address: snowflakeDoor.address },
    get revision() {
      return bundle?.revision ?? null;
    },
    policy: follower,
    close() {
      closing ??= shutdown();
      return closing;
    },
  };

  /** Stops accepting, lets in-flight statements finish (bounded), ends sessions, seals and publishes evidence. */
  async function shutdown(): Promise<void> {
    accepting = false;
    clearInterval(refresh);
    follower.close();
    process.off('SIGHUP', onHangup);
    for (const t of reloadTimers.values()) clearTimeout(t);
    server.close();
    const mcpClosed = mcp?.close();
    const snowflakeClosed = snowflakeDoor?.close();
    const deadline = Date.now() + config.limits.shutdown_grace_ms;
    while ([...sessions].some((s) => s.busy) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const s of [...sessions]) s.shutdown('terminating connection: the gateway is shutting down');
    await mcpClosed;
    await snowflakeClosed;
    for (const c of checkers) c.close();
    await evidence?.close({ reason: 'shutdown' }).catch((err: Error) => log.error('evidence close failed', { error: err.message }));
    await new Promise<void>((resolve) => (admin ? admin.close(() => resolve()) : resolve()));
    admin?.closeAllConnections?.();
    log.info('gateway stopped');
  }
}
