// The `verdict` command line: decide statements, check and build policies, run the embedded demo.
// Exit codes: 0 ok, 1 the command failed, 2 bad usage.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { createEngine, type Engine, type Verdict } from '../../engine/engine.ts';
import { EngineError, messageOf } from '../../engine/errors.ts';
import { loadBundle, type PolicyBundle } from '../../engine/policy/bundle.ts';
import { normalizeConnection, normalizeIdentity } from '../../engine/policy/input.ts';
import type { Catalog } from '../../engine/sql/types.ts';
import { defaultBundlePath } from '../policy/paths.ts';
import { policyBuild, policyCheck, ToolchainError } from '../policy/toolchain.ts';
import { ApprovalError, decideLocally } from '../approvals/local.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { DEMO_APPROVALS_DIR, DEMO_ISSUER_DIR, DEMO_PORTS, demoUsers, startDemo, walkthrough } from '../demo/demo.ts';
import { mintWithStoredKey } from '../identity/dev-issuer.ts';
import { runEvidenceCli } from '../evidence/cli.ts';
import { createIdentityValidator, IdentityError } from '../identity/validator.ts';
import { surviveBrokenOutput } from '../ops/output.ts';
import { startGateway, type Gateway } from '../server.ts';

const USAGE = `usage: verdict <command> [options]

commands:
  decide [options] <sql>     decide a SQL string and print the decision(s) as JSON
      --user <sub>             identity subject (default: $USER)
      --groups <g1,g2>         identity groups
      --email <email>          identity e-mail
      --database <name>        target database name
      --purpose <purpose>      declared purpose of use (treatment, payment, operations, ...)
      --bundle <path>          policy bundle (.tar.gz or directory; default .build/bundle.tar.gz)
      --catalog <file>         YAML/JSON {tables: {"schema.table": [columns]}} for * expansion
  policy check               opa fmt + opa check --strict + opa test with coverage ≥ 90 %
  policy build [--out <path>] [--revision <rev>] [--signing-key <pem>] [--quiet]
                             compile policies/ into a WASM bundle
  start                      run Verdict on its embedded default (PGlite clinic, dev issuer, gateway on :6432)
  gateway --config <file>    run the gateway against your own database (see README: configuration)
  token <user> [--ttl <s>] [--mcp]
                             mint a demo token (embedded default only) — the psql password, or with
                             --mcp the bearer token of the MCP endpoint (its audience)
  approve <request-id> (--as <user> | --token <jwt> --config <file>) [--reason <text>]
  reject <request-id> (--as <user> | --token <jwt> --config <file>) [--reason <text>]
                             decide an approval request of the local provider as an approver
  evidence verify <clone> [--json] [--head <sha>]   verify an evidence repository offline
  evidence replay <session-id> [--repo <clone>]     a session's timeline
  evidence report --out report.html [--repo <clone>] a static HTML report for auditors
`;

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
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      user: { type: 'string' },
      groups: { type: 'string', default: '' },
      email: { type: 'string' },
      database: { type: 'string' },
      purpose: { type: 'string' },
      bundle: { type: 'string', default: defaultBundlePath },
      catalog: { type: 'string' },
    },
  });
  const sql = positionals.join(' ');
  if (!sql.trim()) throw new UsageError('decide needs a SQL string');
  const catalog = values.catalog ? (parseYaml(readFileSync(values.catalog, 'utf8')) as Catalog) : undefined;
  const engine = await openEngine(values.bundle, catalog);
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
  if (sub === 'build') {
    const { values } = parseArgs({
      args: rest,
      options: {
        out: { type: 'string' },
        revision: { type: 'string' },
        'signing-key': { type: 'string' },
        'signing-alg': { type: 'string' },
        'key-id': { type: 'string' },
        quiet: { type: 'boolean', default: false },
      },
    });
    const built = policyBuild({
      ...(values.out ? { out: values.out } : {}),
      ...(values.revision ? { revision: values.revision } : {}),
      ...(values['signing-key'] ? { signingKey: values['signing-key'] } : {}),
      ...(values['signing-alg'] ? { signingAlg: values['signing-alg'] } : {}),
      ...(values['key-id'] ? { keyId: values['key-id'] } : {}),
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
  const gw: Gateway = await startGateway(cfg);
  const signalled = untilSignal();
  process.stdout.write(`verdict: gateway on ${gw.address.host}:${gw.address.port} (policy ${gw.revision ?? 'NOT LOADED: denying everything'})\n`);
  return runUntilSignal(() => gw.close(), signalled);
}

async function token(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ttl: { type: 'string', default: '3600' }, mcp: { type: 'boolean', default: false }, audience: { type: 'string' } },
  });
  const user = positionals[0];
  if (!user) throw new UsageError('token needs a user name (alice, bob or carol in the demo)');
  if (!demoUsers()) throw new UsageError('no demo issuer found: start the embedded default first with `npm start`');
  // An MCP token names the MCP endpoint as its audience (RFC 8707); a PostgreSQL token names the gateway.
  const audience = values.audience ?? (values.mcp ? `http://127.0.0.1:${DEMO_PORTS.mcp}/mcp` : undefined);
  process.stdout.write(`${await mintWithStoredKey(DEMO_ISSUER_DIR, user, { ttlSeconds: Number(values.ttl), ...(audience ? { audience } : {}) })}\n`);
  return 0;
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
  if (values.token) {
    if (!values.config) throw new UsageError('--token needs --config so the token can be verified against your identity provider');
    const cfg = loadConfig(values.config);
    dir = cfg.approvals.state_dir;
    const claims = JSON.parse(Buffer.from(values.token.split('.')[1] ?? '', 'base64url').toString() || '{}') as { preferred_username?: string };
    const v = createIdentityValidator({ issuer: cfg.identity.issuer, audience: cfg.identity.audience, jwksUrl: cfg.identity.jwks_url, claims: cfg.identity.claims });
    const who = await v.verify(values.token, String(claims.preferred_username ?? ''));
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

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
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
      case 'approve':
        return await decideRequest('approved', rest);
      case 'reject':
        return await decideRequest('rejected', rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`verdict: ${messageOf(err)}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof ToolchainError || err instanceof EngineError || err instanceof ConfigError || err instanceof ApprovalError) {
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
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
