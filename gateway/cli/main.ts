// The `verdict` command line: decide statements, check and build policies, run the embedded demo.
// Exit codes: 0 ok, 1 the command failed, 2 bad usage.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { createEngine, type Engine, type Verdict } from '../../engine/engine.ts';
import { EngineError, messageOf } from '../../engine/errors.ts';
import { loadBundle, type PolicyBundle } from '../../engine/policy/bundle.ts';
import { normalizeConnection, normalizeIdentity } from '../../engine/policy/input.ts';
import type { Catalog } from '../../engine/sql/types.ts';
import { defaultBundlePath } from '../policy/paths.ts';
import { ToolchainError } from '../policy/errors.ts';
import { policyBuild, policyCheck } from '../policy/toolchain.ts';
import { EvidenceError } from '../../engine/evidence/errors.ts';
import { ApprovalError } from '../approvals/errors.ts';
import { decideLocally, listLocalRequests, localApprovals, readLocalRequest } from '../approvals/local.ts';
import { ConfigError } from '../config/errors.ts';
import { loadConfig } from '../config/load.ts';
import { checkReferences } from '../config/references.ts';
import { DEMO_APPROVALS_DIR, DEMO_DIR, DEMO_ISSUER_DIR, DEMO_PORTS, demoUsers, startDemo, walkthrough } from '../demo/demo.ts';
import { DEV_METADATA_FILE, DevIssuerError, mintWithStoredKey, startDevIssuer } from '../identity/dev-issuer.ts';
import { EVIDENCE_USAGE, runEvidenceCli } from '../evidence/cli.ts';
import { UpstreamError } from '../upstream/postgres/upstream.ts';
import { IMPACT_USAGE, PolicyCliUsage, REPLAY_USAGE, runPolicyImpact, runReplay } from '../policy/cli.ts';
import { createIdentityValidator, IdentityError } from '../identity/validator.ts';
import { surviveBrokenOutput } from '../ops/output.ts';
import { startGateway, type Gateway } from '../server.ts';
import { renderRollout, rolloutStatus } from '../ops/status.ts';

const USAGE = `usage: verdict <command> [options]      (verdict <command> --help for one command's usage)

commands:
  decide [options] <sql>     decide a SQL string and print the decision(s) as JSON
  decide --replay <id|all>   re-evaluate recorded decisions from the evidence (verdict decide --help)
  policy check               opa fmt + opa check --strict + opa test with coverage ≥ 90 %
  policy build [options]     compile policies/ into a WASM bundle (signed: revision and sequence in the claims)
  policy impact [options]    what a policy change would do to the recorded decisions
  start                      run Verdict on its embedded default (PGlite clinic, dev issuer, gateway on :6432)
  gateway --config <file>    run the gateway against your own database (see README: configuration)
  token <user> [options]     mint a development token (the demo's issuer, or the dev issuer of a config)
  approve <request-id> ...   approve an approval request of the local provider
  reject <request-id> ...    reject one
  approvals list|show        what waits for approval (local provider)
  status --replicas <urls>   each replica's policy revision; exit 0 when a rollout is complete
  evidence verify|replay|report   the auditor's commands (verdict evidence --help)
  --version                  print the version
`;

/**
 * Each command's usage, printed by `verdict <command> --help` (exit 0, nothing else runs). A two-word key
 * (`policy build`) is a subcommand; a command without an entry shows the overview.
 */
const HELP: Record<string, string> = {
  decide: `usage: verdict decide [options] <sql>

decide a SQL string and print the decision(s) as JSON
  --user <sub>             identity subject (default: $USER)
  --groups <g1,g2>         identity groups
  --email <email>          identity e-mail
  --database <name>        target database name
  --purpose <purpose>      declared purpose of use (treatment, payment, operations, ...)
  --bundle <path>          policy bundle (.tar.gz or directory; default .build/bundle.tar.gz, else the demo's)
  --catalog <file>         YAML/JSON {tables: {"schema.table": [columns]}} for * expansion

${REPLAY_USAGE}`,
  policy: `usage: verdict policy check|build|impact

  check                    opa fmt + opa check --strict + opa test with coverage ≥ 90 %
  build [options]          compile policies/ into a WASM bundle (verdict policy build --help)
  impact [options]         what a policy change would do to the recorded decisions (verdict policy impact --help)
`,
  'policy impact': IMPACT_USAGE,
  status: `usage: verdict status --replicas <admin URL,admin URL,…> [--json]

asks each replica's admin listener for /status: its instance, readiness and active policy revision;
exit 0 when every replica answers, is ready and serves the same revision (the rollout is complete), else 1
`,
  'policy check': `usage: verdict policy check

opa fmt (check only), opa check --strict, opa test with coverage; fails below the coverage threshold
`,
  'policy build': `usage: verdict policy build [--out <path>] [--revision <rev>] [--signing-key <pem>] [--signing-alg <alg>] [--key-id <kid>]
                           [--sequence <n>] [--rollback] [--quiet]

compile policies/ into a WASM bundle (default .build/bundle.tar.gz). With --signing-key its OPA signature
(.signatures.json) carries the revision and its sequence (default: the commit time; --sequence to set it):
gateways refuse a bundle whose signed sequence is lower than the one they run. --rollback signs an earlier
revision as an explicit rollback (give a --sequence above the running one, e.g. the current time).
`,
  start: `usage: verdict start

run Verdict on its embedded default: PGlite with a synthetic clinic, a local Snowflake, the dev issuer
(alice, bob, carol) and the gateway (PostgreSQL :6432, MCP :6433, Snowflake :6434, admin :9187)
`,
  gateway: `usage: verdict gateway [--config <file>]

run the gateway from a configuration file (default verdict.yaml); every secret and file it refers to is
checked first. With identity.dev_issuer the local dev issuer runs too (development only).
`,
  token: `usage: verdict token <user> [--ttl <seconds>] [--mcp] [--audience <aud>] [--config <file>]

mint a development token for <user>: the psql password, or with --mcp the bearer token of the MCP
endpoint (its audience). Without --config: the embedded demo's issuer (alice, bob, carol); with --config:
the dev issuer the file names (identity.dev_issuer) and its users.
`,
  approve: `usage: verdict approve <request-id> (--as <demo user> | --config <file> [--token <jwt>]) [--reason <text>]

approve a request of the local approval provider as an approver. --as: a demo user (verdict start).
--config: your gateway's configuration; the token (--token, or $VERDICT_TOKEN) is verified against its
identity provider.
`,
  reject: `usage: verdict reject <request-id> (--as <demo user> | --config <file> [--token <jwt>]) [--reason <text>]

reject a request of the local approval provider (see verdict approve --help)
`,
  approvals: `usage: verdict approvals list [--all] [--config <file>]
       verdict approvals show <request-id> [--config <file>]

what waits for approval in the local provider's folder (the demo's, or approvals.state_dir of --config):
  list                     pending requests (--all: every request, with its state)
  show <request-id>        statement, parameters, requester, reasons, measured blast radius, expiry, state
`,
};

/** The version of this Verdict (package.json). */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

class UsageError extends Error {}

async function openEngine(bundlePath: string, catalog?: Catalog): Promise<Engine> {
  let bundle: PolicyBundle | null = null;
  let bundleError: string | undefined;
  try {
    bundle = await loadBundle(bundlePath);
  } catch (err) {
    if (!(err instanceof EngineError)) throw err;
    bundleError = err.message;
  }
  return createEngine({ bundle, ...(bundleError ? { bundleError } : {}), ...(catalog ? { catalog } : {}) });
}

function verdictJson(v: Verdict): unknown {
  return {
    action: v.action,
    statements: v.decisions.map((d, i) => ({
      text: v.statements[i]?.text,
      kind: v.statements[i]?.kind,
      command: v.statements[i]?.command,
      decision: d,
    })),
  };
}

async function decide(argv: string[]): Promise<number> {
  if (argv.some((a) => a === '--replay' || a.startsWith('--replay='))) return runReplay(argv);
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      user: { type: 'string' },
      groups: { type: 'string', default: '' },
      email: { type: 'string' },
      database: { type: 'string' },
      purpose: { type: 'string' },
      bundle: { type: 'string' },
      catalog: { type: 'string' },
    },
  });
  const sql = positionals.join(' ');
  if (!sql.trim()) throw new UsageError('decide needs a SQL string');
  const catalog = values.catalog ? (parseYaml(readFileSync(values.catalog, 'utf8')) as Catalog) : undefined;
  // Default: the built bundle, or the demo's (npm start builds and signs that one) when none was built.
  const demoBundle = join(DEMO_DIR, 'policy', 'bundle.tar.gz');
  const bundlePath = values.bundle ?? (!existsSync(defaultBundlePath) && existsSync(demoBundle) ? demoBundle : defaultBundlePath);
  const engine = await openEngine(bundlePath, catalog);
  const identity = normalizeIdentity({
    sub: values.user ?? process.env.USER ?? 'cli',
    email: values.email ?? null,
    groups: values.groups.split(',').map((g) => g.trim()).filter(Boolean),
    issuer: 'verdict-cli',
  });
  const verdict = engine.decide(sql, {
    identity,
    connection: normalizeConnection({ front_door: 'cli', database: values.database ?? null, purpose: values.purpose ?? null }),
  });
  process.stdout.write(JSON.stringify(verdictJson(verdict), null, 2) + '\n');
  return 0;
}

async function policy(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'check') {
    const { coverage } = await policyCheck();
    console.log(`policy check passed (coverage ${coverage.toFixed(1)}%)`);
    return 0;
  }
  if (sub === 'impact') return runPolicyImpact(rest);
  if (sub === 'build') {
    const { values } = parseArgs({
      args: rest,
      options: {
        out: { type: 'string' },
        revision: { type: 'string' },
        'signing-key': { type: 'string' },
        'signing-alg': { type: 'string' },
        'key-id': { type: 'string' },
        sequence: { type: 'string' },
        rollback: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
      },
    });
    if (values.sequence !== undefined && !/^\d+$/.test(values.sequence)) throw new UsageError('--sequence must be a non-negative integer');
    if ((values.sequence !== undefined || values.rollback) && !values['signing-key']) throw new UsageError('--sequence and --rollback are signed claims: give --signing-key');
    const built = policyBuild({
      ...(values.out ? { out: values.out } : {}),
      ...(values.revision ? { revision: values.revision } : {}),
      ...(values['signing-key'] ? { signingKey: values['signing-key'] } : {}),
      ...(values['signing-alg'] ? { signingAlg: values['signing-alg'] } : {}),
      ...(values['key-id'] ? { keyId: values['key-id'] } : {}),
      ...(values.sequence !== undefined ? { sequence: Number(values.sequence) } : {}),
      ...(values.rollback ? { rollback: true } : {}),
    });
    if (!values.quiet) console.log(`built ${built.path} (revision ${built.revision})`);
    return 0;
  }
  throw new UsageError(`unknown policy command ${JSON.stringify(sub ?? '')}`);
}

/**
 * Resolves on SIGINT, SIGTERM or SIGHUP. Call it before announcing that the gateway is up: a stop requested the
 * moment it is announced must find the handlers in place, or the default action kills the process unrecorded.
 */
function untilSignal(): Promise<void> {
  // A broken stdout/stderr or a hang-up (the terminal went away) still ends in an orderly, recorded stop.
  surviveBrokenOutput();
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    process.once('SIGHUP', resolve);
  });
}

async function runUntilSignal(stop: () => Promise<void>, signalled: Promise<void> = untilSignal()): Promise<number> {
  await signalled;
  process.stderr.write('\nverdict: shutting down (in-flight statements may finish)...\n');
  await stop();
  return 0;
}

async function start(): Promise<number> {
  const demo = await startDemo();
  process.stdout.write(walkthrough(demo.gateway));
  return runUntilSignal(() => demo.stop());
}

async function gateway(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', default: 'verdict.yaml' } } });
  const cfg = loadConfig(values.config);
  checkReferences(cfg, { source: values.config });
  const dev = cfg.identity.dev_issuer;
  const issuer = dev
    ? await startDevIssuer({
        port: Number(new URL(cfg.identity.issuer).port),
        keyDir: dev.key_dir,
        audience: Array.isArray(cfg.identity.audience) ? cfg.identity.audience[0]! : cfg.identity.audience,
        ...(dev.users ? { users: dev.users } : {}),
      })
    : null;
  let gw: Gateway;
  try {
    gw = await startGateway(cfg, { configPath: resolve(values.config) });
  } catch (err) {
    await issuer?.close();
    throw err;
  }
  // Signal handlers before the gateway says it is up: a stop sent right after that line is recorded.
  const signalled = untilSignal();
  if (issuer) process.stdout.write(`verdict: dev issuer on ${issuer.issuer} (development only; tokens: verdict token <user> --config ${values.config})\n`);
  process.stdout.write(`verdict: gateway on ${gw.address.host}:${gw.address.port} (policy ${gw.revision ?? 'NOT LOADED: denying everything'})\n`);
  return runUntilSignal(async () => {
    await gw.close();
    await issuer?.close();
  }, signalled);
}

async function status(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { replicas: { type: 'string' }, json: { type: 'boolean', default: false } } });
  if (!values.replicas) throw new UsageError('status needs --replicas <admin URL,admin URL,…> (e.g. http://10.0.0.5:9187)');
  const s = await rolloutStatus(values.replicas.split(',').map((u) => u.trim()).filter(Boolean));
  process.stdout.write(values.json ? JSON.stringify(s, null, 2) + '\n' : renderRollout(s));
  return s.complete ? 0 : 1;
}

async function token(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ttl: { type: 'string', default: '3600' }, mcp: { type: 'boolean', default: false }, audience: { type: 'string' }, config: { type: 'string' } },
  });
  const user = positionals[0];
  if (!user) throw new UsageError('token needs a user name (alice, bob or carol in the demo)');
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) throw new UsageError(`--ttl takes a whole number of seconds, not ${JSON.stringify(values.ttl)}`);
  let keyDir = DEMO_ISSUER_DIR;
  let mcpAudience = `http://127.0.0.1:${DEMO_PORTS.mcp}/mcp`;
  if (values.config) {
    const cfg = loadConfig(values.config);
    if (!cfg.identity.dev_issuer) throw new UsageError(`${values.config} names no dev issuer (identity.dev_issuer): tokens come from your identity provider`);
    keyDir = cfg.identity.dev_issuer.key_dir;
    if (cfg.mcp) mcpAudience = cfg.mcp.resource ?? `http://${cfg.mcp.host}:${cfg.mcp.port}${cfg.mcp.path}`;
    if (!existsSync(join(keyDir, DEV_METADATA_FILE))) throw new UsageError(`no dev issuer keys in ${keyDir} yet: start the gateway once with verdict gateway --config ${values.config}`);
  } else if (!demoUsers()) throw new UsageError('no demo issuer found: start the embedded default first with `npm start`, or name your config with --config');
  // An MCP token names the MCP endpoint as its audience (RFC 8707); a PostgreSQL token names the gateway.
  const audience = values.audience ?? (values.mcp ? mcpAudience : undefined);
  process.stdout.write(`${await mintWithStoredKey(keyDir, user, { ttlSeconds: ttl, ...(audience ? { audience } : {}) })}\n`);
  return 0;
}

/** The local provider's folder: approvals.state_dir of `--config`, else the demo's. */
function approvalsDir(config: string | undefined): string {
  if (!config) return DEMO_APPROVALS_DIR;
  const cfg = loadConfig(config);
  if (cfg.approvals.provider !== 'local') throw new UsageError(`${config} uses the ${cfg.approvals.provider} approval provider: its requests are pull requests, not local files`);
  return cfg.approvals.state_dir;
}

async function approvalsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { config: { type: 'string' }, all: { type: 'boolean', default: false } } });
  const dir = approvalsDir(values.config);
  if (sub === 'list') {
    const requests = await listLocalRequests(dir);
    const provider = requests.length ? await localApprovals({ dir }) : null;
    const rows: string[] = [];
    for (const r of requests) {
      const state = (await provider!.state(r.id)).status;
      if (!values.all && state !== 'pending') continue;
      rows.push(`${r.id}  ${state.padEnd(9)}  ${r.requester.username.padEnd(12)}  expires ${r.expires_at}  ${oneLine(r.statement, 80)}`);
    }
    process.stdout.write(rows.length ? `${rows.join('\n')}\n` : `no ${values.all ? '' : 'pending '}approval requests in ${dir}\n`);
    return 0;
  }
  if (sub === 'show') {
    const id = positionals[0];
    if (!id) throw new UsageError('approvals show needs a request id (req-...)');
    const r = await readLocalRequest(dir, id);
    const state = await (await localApprovals({ dir })).state(id);
    const br = r.blast_radius;
    process.stdout.write(
      [
        `request     ${r.id}`,
        `state       ${state.status}${state.status === 'approved' ? ` by ${state.approved_by.join(', ')}` : state.status === 'rejected' ? ` by ${state.by}${state.reason ? `: ${state.reason}` : ''}` : ''}`,
        `requester   ${r.requester.username} (${r.requester.sub}${r.requester.email ? `, ${r.requester.email}` : ''}; groups ${r.requester.groups.join(', ') || 'none'})`,
        `target      ${r.target.upstream} (database ${r.target.database})`,
        `statement   ${r.statement}`,
        `parameters  ${r.parameters.length ? r.parameters.map((p, i) => `$${i + 1} = ${p === null ? 'NULL' : JSON.stringify(p)}`).join(', ') : 'none'}`,
        `reasons     ${r.reasons.map((x) => `${x.message} [${x.rule}]`).join('\n            ')}`,
        `blast       ${br ? (br.error ? `not measured: ${br.error}` : `${br.rows ?? '?'} row(s) of ${br.table_rows ?? '?'} (${br.method})`) : 'not measured (not a write the policy measures)'}`,
        `approvers   ${r.requirement.approvers.join(' or ')} (${r.requirement.min_approvals} needed)`,
        `created     ${r.created_at}`,
        `expires     ${r.expires_at}`,
        `policy      ${r.policy_revision}`,
      ].join('\n') + '\n',
    );
    return 0;
  }
  throw new UsageError(`unknown approvals command ${JSON.stringify(sub ?? '')}: list or show`);
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

async function decideRequest(verdict: 'approved' | 'rejected', argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { as: { type: 'string' }, token: { type: 'string' }, config: { type: 'string' }, reason: { type: 'string', default: '' } },
  });
  const id = positionals[0];
  if (!id) throw new UsageError(`${verdict === 'approved' ? 'approve' : 'reject'} needs a request id (req-...)`);
  let approver: { sub: string; username: string; groups: string[] };
  let dir = DEMO_APPROVALS_DIR;
  const token = values.token ?? (values.config && !values.as ? process.env.VERDICT_TOKEN : undefined);
  if (values.config && !values.as && !token) throw new UsageError('say who decides: your OIDC token in --token or $VERDICT_TOKEN');
  if (token) {
    if (!values.config) throw new UsageError('--token needs --config so the token can be verified against your identity provider');
    const cfg = loadConfig(values.config);
    dir = cfg.approvals.state_dir;
    let claims: { preferred_username?: string };
    try {
      claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString() || '{}') as { preferred_username?: string };
    } catch {
      throw new UsageError('the token is not a JWT');
    }
    const v = createIdentityValidator({ issuer: cfg.identity.issuer, audience: cfg.identity.audience, jwksUrl: cfg.identity.jwks_url, claims: cfg.identity.claims });
    const who = await v.verify(token, String(claims.preferred_username ?? ''));
    approver = { sub: who.sub, username: who.username, groups: who.groups };
  } else if (values.as) {
    const users = demoUsers();
    const u = users?.find((x) => x.username === values.as);
    if (!u) throw new UsageError(users ? `unknown demo user ${values.as}; known: ${users.map((x) => x.username).join(', ')}` : 'no demo issuer found: --as works with the embedded default (npm start); use --token with --config otherwise');
    approver = { sub: `user:${u.username}`, username: u.username, groups: u.groups };
  } else {
    throw new UsageError('say who decides: --as <demo user> or --token <jwt> --config <file>');
  }
  const req = await decideLocally(dir, id, verdict, approver, values.reason);
  process.stdout.write(`${id} ${verdict} by ${approver.username}: ${req.statement} (requested by ${req.requester.username})\n`);
  return 0;
}

/** `verdict <command> [<sub>] --help`: that command's usage (or the overview); nothing else runs. */
function help(cmd: string, rest: string[]): number {
  const sub = rest.find((a) => !a.startsWith('-'));
  process.stdout.write((sub !== undefined ? HELP[`${cmd} ${sub}`] : undefined) ?? HELP[cmd] ?? (cmd === 'evidence' ? EVIDENCE_USAGE : USAGE));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    process.stdout.write(`verdict ${VERSION}\n`);
    return 0;
  }
  if (cmd !== undefined && rest.some((a) => a === '--help' || a === '-h')) return help(cmd, rest);
  try {
    switch (cmd) {
      case 'decide':
        return await decide(rest);
      case 'policy':
        return await policy(rest);
      case 'start':
        return await start();
      case 'gateway':
        return await gateway(rest);
      case 'token':
        return await token(rest);
      case 'evidence':
        return await runEvidenceCli(rest);
      case 'status':
        return await status(rest);
      case 'approve':
        return await decideRequest('approved', rest);
      case 'reject':
        return await decideRequest('rejected', rest);
      case 'approvals':
        return await approvalsCommand(rest);
      case 'help':
        if (rest[0] !== undefined) return help(rest[0], rest.slice(1));
        process.stdout.write(USAGE);
        return 0;
      case undefined:
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof PolicyCliUsage || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`verdict: ${messageOf(err)}\n\n${(cmd !== undefined && HELP[cmd]) || USAGE}`);
      return 2;
    }
    if (
      err instanceof ToolchainError ||
      err instanceof EngineError ||
      err instanceof ConfigError ||
      err instanceof ApprovalError ||
      err instanceof DevIssuerError ||
      err instanceof UpstreamError ||
      err instanceof EvidenceError
    ) {
      process.stderr.write(`verdict: ${err.message}\n`);
      return 1;
    }
    if (err instanceof IdentityError) {
      process.stderr.write(`verdict: ${err.clientMessage}\n`);
      return 1;
    }
    if ((err as { code?: string }).code === 'EADDRINUSE') {
      process.stderr.write(`verdict: ${(err as Error).message}: is another Verdict (npm start) already running?\n`);
      return 1;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
      // A file named on the command line (--catalog, --signing-key …) that cannot be read: the user's to fix.
      process.stderr.write(`verdict: ${messageOf(err)}\n`);
      return 1;
    }
    // Not the user's doing: say so, with the stack only on request.
    process.stderr.write(`verdict: internal error: ${messageOf(err)}\n${process.env.VERDICT_DEBUG ? `${(err as Error).stack}\n` : '(set VERDICT_DEBUG=1 for the stack trace)\n'}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
