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

const USAGE = `usage: verdict <command> [options]

commands:
  decide [options] <sql>     decide a SQL string and print the decision(s) as JSON
      --user <sub>             identity subject (default: $USER)
      --groups <g1,g2>         identity groups
      --email <email>          identity e-mail
      --database <name>        target database name
      --bundle <path>          policy bundle (.tar.gz or directory; default .build/bundle.tar.gz)
      --catalog <file>         YAML/JSON {tables: {"schema.table": [columns]}} for * expansion
  policy check               opa fmt + opa check --strict + opa test with coverage ≥ 90 %
  policy build [--out <path>] [--revision <rev>] [--signing-key <pem>] [--quiet]
                             compile policies/ into a WASM bundle
  start                      run Verdict on its embedded default (engine demo until the gateway lands)
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
    connection: normalizeConnection({ front_door: 'cli', database: values.database ?? null }),
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

const DEMO: { who: string; groups: string[]; sql: string }[] = [
  { who: 'alice', groups: ['clinicians'], sql: 'SELECT name, ssn, date_of_birth FROM patients WHERE id = 42' },
  { who: 'ann', groups: ['analysts'], sql: 'SELECT upper(p.email) AS e, v.diagnosis FROM patients p JOIN visits v ON v.patient_id = p.id' },
  { who: 'dan', groups: ['dba'], sql: 'DELETE FROM visits WHERE 1=1' },
  { who: 'dan', groups: ['dba'], sql: "SELECT pg_read_file('/etc/passwd')" },
  { who: 'mallory', groups: ['interns'], sql: 'SELECT 1' },
];

async function start(): Promise<number> {
  const engine = await openEngine(defaultBundlePath);
  console.log(`Verdict engine demo — policy bundle revision ${engine.revision ?? '(none)'}`);
  console.log('The PostgreSQL gateway is not built yet; these are the decisions it would enforce:\n');
  for (const d of DEMO) {
    const v = engine.decide(d.sql, {
      identity: normalizeIdentity({ sub: d.who, groups: d.groups }),
      connection: normalizeConnection({ front_door: 'cli' }),
    });
    const dec = v.decisions[0]!;
    console.log(`${d.who} (${d.groups.join(',')}): ${d.sql}`);
    console.log(`  → ${v.action.toUpperCase()}: ${dec.reasons.map((r) => `${r.rule}: ${r.message}`).join('; ')}`);
    for (const m of dec.masks) console.log(`    mask ${m.column.schema}.${m.column.table}.${m.column.column} with ${m.method}`);
  }
  console.log('\nTry your own: npx verdict decide --user alice --groups clinicians "SELECT ssn FROM patients"');
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
    if (err instanceof ToolchainError || err instanceof EngineError) {
      process.stderr.write(`verdict: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
