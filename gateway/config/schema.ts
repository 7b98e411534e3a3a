// The gateway's one YAML configuration file (verdict.yaml): its schema, defaults and validation.
// An invalid file is reported by path and problem, and the gateway refuses to start.
import { z } from 'zod';
import { evidenceConfigSchema } from '../evidence/writer.ts';

const secretRef = z.union([
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
  z.strictObject({ value: z.string() }),
]);

const hostPort = (port: number) =>
  z.strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(port),
  });

const upstream = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(5432),
  database: z.string().min(1),
  user: z.string().min(1),
  password: secretRef.optional(),
  tls: z
    .strictObject({
      mode: z.enum(['disable', 'prefer', 'require', 'verify-full']).default('prefer'),
      ca: z.string().optional(),
      servername: z.string().optional(),
    })
    .default({ mode: 'prefer' }),
  connect_timeout_ms: z.number().int().positive().default(10_000),
  /**
   * Check, before a statement that reads relations runs, that they are still the ones the catalog classified
   * (one metadata query on a gateway connection). Turn off only for a database whose schema nobody but this
   * gateway can change (the demo's embedded PGlite, which serves one transaction at a time): changes made
   * elsewhere would then go unseen until the next catalog reload.
   */
  catalog_check: z.boolean().default(true),
});

/** The MCP front door (Streamable HTTP, OAuth bearer tokens): docs in README "The MCP door". */
const mcpSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(6433),
  /** The MCP endpoint's path. */
  path: z.string().regex(/^\/[A-Za-z0-9._~\/-]*$/, 'a URL path such as /mcp').default('/mcp'),
  /**
   * This server's public URL, its RFC 8707 resource identifier: tokens must name it in `aud`, and the RFC 9728
   * metadata advertises it. Default: http://host:port/path (https with tls.cert).
   */
  resource: z.string().url().optional(),
  /** Which upstream the tools query; default: the only one configured. */
  upstream: z.string().min(1).optional(),
  /**
   * Origins (hostnames, as browsers send them in Origin) allowed to call the endpoint; requests without Origin
   * (agents, not browsers) pass. Default: loopback names only.
   */
  allowed_origins: z.array(z.string().min(1)).optional(),
  /** Host header names accepted (DNS-rebinding protection). Default: loopback names, plus the resource URL's host. */
  allowed_hosts: z.array(z.string().min(1)).optional(),
  /** Most rows a tool call returns (per statement); more are cut with a note. */
  max_rows: z.number().int().min(1).max(1_000_000).default(1000),
  /** Most bytes of values a tool call returns (per statement); more are cut with a note. */
  max_result_bytes: z.number().int().min(1024).default(1024 * 1024),
  /** Largest request body accepted (413 above it). */
  max_request_bytes: z.number().int().min(1024).default(1024 * 1024),
  /** Tool calls running at once (each holds an upstream connection); more are refused with a tool error. */
  max_concurrent_calls: z.number().int().min(1).default(64),
  /** Tool calls one identity (token subject) runs at once: one agent cannot take every slot. */
  max_calls_per_identity: z.number().int().min(1).default(8),
  /** A tool call's statements end after this long (PostgreSQL statement_timeout; lock waits: lock_timeout = a quarter of it). */
  statement_timeout_ms: z.number().int().min(100).default(60_000),
  /** 2025-era sessions one identity keeps at once; its least recently used one closes for a new one. */
  max_sessions_per_identity: z.number().int().min(1).default(16),
  /** 2025-era (sessionful) MCP sessions at once, and how long an idle one lives. */
  max_sessions: z.number().int().min(1).default(1000),
  session_idle_seconds: z.number().int().min(10).default(900),
});

export type McpConfig = z.infer<typeof mcpSchema>;

/** A Snowflake account reached with snowflake-sdk under a key pair Verdict holds (gateway/upstream/snowflake/). */
const snowflakeUpstream = z.strictObject({
  /** Account identifier (`myorg-myaccount`). */
  account: z.string().min(1),
  user: z.string().min(1),
  /** PEM (PKCS#8) of the user's private key. */
  private_key: secretRef,
  /** Base URL when it is not https://<account>.snowflakecomputing.com (private link, a local emulator). */
  access_url: z.string().url().optional(),
  warehouse: z.string().min(1).optional(),
  database: z.string().min(1),
  schema: z.string().min(1).default('PUBLIC'),
  /** The role sessions use when no group maps to one. */
  role: z.string().min(1).optional(),
  /** OIDC group → Snowflake role; default: identity.role_by_group. */
  role_by_group: z.record(z.string(), z.string()).optional(),
  login_timeout_seconds: z.number().int().positive().default(60),
});

/** The Snowflake front door (Snowflake's REST API for unmodified drivers): docs in README "The Snowflake door". */
const snowflakeDoorSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(6434),
  /** Which snowflake_upstreams entry clients reach; default: the only one configured. */
  upstream: z.string().min(1).optional(),
  /** The account name drivers send (ACCOUNT_NAME); default: any. */
  account: z.string().min(1).optional(),
  /** The audience tokens for this door must carry; default identity.audience. */
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** Base URL drivers reach the door at (chunk URLs are built on it); default http(s)://host:port. */
  public_url: z.string().url().optional(),
  /** Rows inline in a result; more are served as chunks of this many rows from this listener. */
  chunk_rows: z.number().int().min(1).default(1000),
  /** Most rows a statement returns; more are cut (the result says how many it returned). */
  max_rows: z.number().int().min(1).default(1_000_000),
  /** How long a request waits for its statement before answering "in progress" (Snowflake: 45 s). */
  result_wait_ms: z.number().int().min(10).default(45_000),
  /** Lifetime of Verdict's session token (renewed with the master token) and of the master token. */
  session_token_ttl_seconds: z.number().int().min(1).default(3600),
  master_token_ttl_seconds: z.number().int().min(1).default(14_400),
  /** How long a result's chunks stay downloadable. */
  chunk_ttl_seconds: z.number().int().min(1).default(600),
  max_sessions: z.number().int().min(1).default(1000),
});

export type SnowflakeUpstreamConfig = z.infer<typeof snowflakeUpstream>;
export type SnowflakeDoorConfig = z.infer<typeof snowflakeDoorSchema>;

export const configSchema = z.strictObject({
  listen: z
    .strictObject({
      postgres: hostPort(6432).default({ host: '127.0.0.1', port: 6432 }),
      admin: hostPort(9187).nullable().default({ host: '127.0.0.1', port: 9187 }),
    })
    .default({ postgres: { host: '127.0.0.1', port: 6432 }, admin: { host: '127.0.0.1', port: 9187 } }),
  tls: z
    .strictObject({
      cert: z.string().optional(),
      key: z.string().optional(),
      /** Tokens travel only over TLS, except from loopback clients. */
      require_for_tokens: z.boolean().default(true),
    })
    .refine((t) => !!t.cert === !!t.key, { message: 'tls.cert and tls.key go together' })
    .default({ require_for_tokens: true }),
  identity: z.strictObject({
    issuer: z.string().min(1),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    jwks_url: z.string().url(),
    algorithms: z.array(z.string()).optional(),
    clock_tolerance_seconds: z.number().min(0).max(300).default(30),
    claims: z
      .strictObject({
        subject: z.string().optional(),
        email: z.string().optional(),
        groups: z.string().optional(),
        username: z.string().optional(),
      })
      .default({}),
    /** OIDC group → upstream role to SET ROLE to, so the database's own privileges narrow too. */
    role_by_group: z.record(z.string(), z.string()).default({}),
    /**
     * Development only: `verdict gateway` runs the local dev issuer at `issuer` (http://127.0.0.1:<port>),
     * keeping its key ring in key_dir, and `verdict token <user> --config <file>` mints tokens for `users`.
     */
    dev_issuer: z
      .strictObject({
        key_dir: z.string().min(1),
        users: z
          .array(z.strictObject({ username: z.string().min(1), email: z.string().min(1), groups: z.array(z.string().min(1)), purpose: z.string().min(1).optional() }))
          .min(1)
          .optional(),
      })
      .optional(),
  }).superRefine((id, issue) => {
    if (!id.dev_issuer) return;
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(id.issuer)) {
      issue.addIssue({ code: 'custom', path: ['issuer'], message: 'with dev_issuer, the issuer is the local dev issuer: http://127.0.0.1:<port>' });
    } else if (id.jwks_url !== `${id.issuer}/jwks`) {
      issue.addIssue({ code: 'custom', path: ['jwks_url'], message: `with dev_issuer, jwks_url is ${id.issuer}/jwks` });
    }
  }),
  /** Upstream targets by the database name clients ask for. */
  upstreams: z.record(z.string().min(1), upstream).default({}),
  /** Snowflake upstream targets by name (names distinct from `upstreams`). */
  snowflake_upstreams: z.record(z.string().min(1), snowflakeUpstream).default({}),
  policy: z
    .strictObject({
      /** The bundle file or directory; shorthand for `source: {file: …}` (used when `source` is absent). */
      bundle: z.string().default('.build/bundle.tar.gz'),
      /**
       * Where the gateway follows its policy bundle from (one of file, url, github): checked at start, then
       * watched/polled and on SIGHUP; a new bundle is verified, compiled and swapped in without dropping sessions.
       */
      source: z
        .union([
          z.strictObject({ file: z.string().min(1), poll_seconds: z.number().int().min(1).default(5) }),
          z.strictObject({ url: z.string().url(), poll_seconds: z.number().int().min(1).default(30), token: secretRef.optional() }),
          z.strictObject({
            github: z.strictObject({
              owner: z.string().min(1),
              repo: z.string().min(1),
              /** The release asset the policy workflow uploads. */
              asset: z.string().min(1).default('bundle.tar.gz'),
              /** A release tag; default: the latest release. */
              tag: z.string().min(1).optional(),
              base_url: z.string().url().optional(),
              token: secretRef.optional(),
              app: z.strictObject({ app_id: z.number().int().positive(), installation_id: z.number().int().positive(), private_key: secretRef }).optional(),
            }).refine((g) => !g.token !== !g.app, { message: 'give exactly one of token or app' }),
            poll_seconds: z.number().int().min(5).default(60),
          }),
        ])
        .optional(),
      /** Keeps the highest signed revision sequence run, so an older signed bundle is refused after a restart too. */
      state_file: z.string().default('.verdict/policy-state.json'),
      /** key id → PEM public key file; when set, the bundle must be signed by one of them. */
      verification_keys: z.record(z.string(), z.string()).default({}),
      max_statement_bytes: z.number().int().positive().default(1024 * 1024),
      /** Most statements one SQL string may hold; more are denied before any is analyzed. */
      max_statements: z.number().int().positive().default(1000),
      decision_cache_entries: z.number().int().min(0).default(10_000),
      /** How often the upstream catalog (columns, views, functions) is re-read; DDL through Verdict reloads at once. */
      catalog_refresh_seconds: z.number().int().min(5).default(300),
    })
    .default({ bundle: '.build/bundle.tar.gz', state_file: '.verdict/policy-state.json', verification_keys: {}, max_statement_bytes: 1024 * 1024, max_statements: 1000, decision_cache_entries: 10_000, catalog_refresh_seconds: 300 }),
  limits: z
    .strictObject({
      max_message_bytes: z.number().int().min(1024).default(16 * 1024 * 1024),
      auth_timeout_ms: z.number().int().positive().default(10_000),
      max_connections: z.number().int().positive().default(1000),
      shutdown_grace_ms: z.number().int().min(0).default(10_000),
    })
    .default({ max_message_bytes: 16 * 1024 * 1024, auth_timeout_ms: 10_000, max_connections: 1000, shutdown_grace_ms: 10_000 }),
  approvals: z
    .strictObject({
      /** local: requests decided with `verdict approve`; github: pull requests reviewed by a team. */
      provider: z.enum(['local', 'github']).default('local'),
      state_dir: z.string().default('.verdict/approvals'),
      hold_timeout_seconds: z.number().int().positive().default(600),
      github: z
        .strictObject({
          owner: z.string().min(1),
          repo: z.string().min(1),
          base_branch: z.string().default('main'),
          /** The team whose active members may approve: {org, slug}. */
          team: z.strictObject({ org: z.string().min(1), slug: z.string().min(1) }),
          /** Policy approver names (e.g. team:phi-approvers) → team slugs in the same org. */
          teams: z.record(z.string(), z.string()).default({}),
          /** GitHub login → OIDC subject, so a requester can never approve their own request. */
          logins: z.record(z.string(), z.string()).default({}),
          base_url: z.string().url().optional(),
          token: secretRef.optional(),
          app: z.strictObject({ app_id: z.number().int().positive(), installation_id: z.number().int().positive(), private_key: secretRef }).optional(),
          /** The login of the gateway's commits and PRs (required with App auth, e.g. verdict-gateway[bot]). */
          gateway_login: z.string().optional(),
          /** Secret of the webhook (X-Hub-Signature-256); the endpoint is POST /github/webhook on the admin listener. */
          webhook_secret: secretRef.optional(),
          /** How often a waiting request re-reads its pull request (conditional requests: a 304 costs no rate limit). With several replicas this bounds how soon a review delivered to another replica releases the client: ≤ poll_seconds. */
          poll_seconds: z.number().int().min(1).default(1),
          /** Pace of API writes; approvals are few, and the once-only tag write sits between review and execution. */
          writes_per_minute: z.number().int().min(1).default(600),
          /** Pace of writes that notify people (PRs, comments); default octokit's, one per 3 s for the whole process. */
          notifications_per_minute: z.number().int().min(1).optional(),
        })
        .refine((g) => !g.token !== !g.app, { message: 'give exactly one of token or app' })
        .optional(),
    })
    .refine((a) => a.provider !== 'github' || a.github !== undefined, { message: 'provider github needs the github section' })
    .default({ provider: 'local', state_dir: '.verdict/approvals', hold_timeout_seconds: 600 }),
  masking: z
    .strictObject({
      /** HMAC key for the `hash` method (deterministic per key). */
      hash_key: secretRef.optional(),
    })
    .default({}),
  log: z
    .strictObject({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info') })
    .default({ level: 'info' }),
  /** Signed evidence: spool, sealing, publishing (docs/evidence-format.md). */
  evidence: evidenceConfigSchema.default(evidenceConfigSchema.parse({})),
  /** The MCP front door; off unless configured (`mcp: {}` serves it with the defaults). */
  mcp: mcpSchema.nullable().default(null),
  /** The Snowflake front door; off unless configured. */
  snowflake: snowflakeDoorSchema.nullable().default(null),
}).superRefine((cfg, issue) => {
  const sfNames = Object.keys(cfg.snowflake_upstreams ?? {});
  if (Object.keys(cfg.upstreams ?? {}).length === 0 && sfNames.length === 0) {
    issue.addIssue({ code: 'custom', path: ['upstreams'], message: 'name at least one upstream database' });
  }
  for (const n of sfNames) {
    if (Object.hasOwn(cfg.upstreams ?? {}, n)) issue.addIssue({ code: 'custom', path: ['snowflake_upstreams', n], message: `${n} is also a PostgreSQL upstream; give it another name` });
  }
  if (cfg.snowflake) {
    const u = cfg.snowflake.upstream;
    if (u !== undefined && !sfNames.includes(u)) {
      issue.addIssue({ code: 'custom', path: ['snowflake', 'upstream'], message: `no snowflake_upstreams entry named ${u}; configured: ${sfNames.join(', ') || 'none'}` });
    } else if (u === undefined && sfNames.length !== 1) {
      issue.addIssue({ code: 'custom', path: ['snowflake', 'upstream'], message: sfNames.length ? `say which Snowflake upstream the door serves (one of ${sfNames.join(', ')})` : 'configure snowflake_upstreams for the Snowflake door' });
    }
  }
  if (!cfg.mcp) return;
  const names = Object.keys(cfg.upstreams ?? {});
  if (cfg.mcp.upstream !== undefined && !names.includes(cfg.mcp.upstream)) {
    issue.addIssue({ code: 'custom', path: ['mcp', 'upstream'], message: `no upstream named ${cfg.mcp.upstream}; configured: ${names.join(', ')}` });
  } else if (names.length === 0) {
    issue.addIssue({ code: 'custom', path: ['mcp'], message: 'the MCP door serves a PostgreSQL upstream; configure one under upstreams' });
  } else if (cfg.mcp.upstream === undefined && names.length > 1) {
    issue.addIssue({ code: 'custom', path: ['mcp', 'upstream'], message: `say which upstream the MCP tools query (one of ${names.join(', ')})` });
  }
});

export type VerdictConfig = z.infer<typeof configSchema>;
export type SecretRef = z.infer<typeof secretRef>;
