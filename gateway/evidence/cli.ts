// `verdict evidence verify|replay|report`: the auditor's commands over a clone of the evidence repository.
// Exit codes: 0 clean, 1 findings (or the command failed), 2 bad usage or unreadable repository, 3 warnings only.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import { messageOf } from '../../engine/errors.ts';
import { EvidenceError } from '../../engine/evidence/errors.ts';
import type { RecordedHeads } from '../../engine/evidence/verify.ts';
import { collectAccess, filterAccess, renderAccess, renderSessions } from './access.ts';
import { renderTimeline, sessionTimeline } from './replay.ts';
import { collectReport, renderReportHtml } from './report.ts';
import { directoryFiles, exitCodeOf, formatReport, verifyRepository, VERIFY_EXIT } from './verify.ts';

export const EVIDENCE_USAGE = `usage: verdict evidence <command>

  verify <clone> [--json] [--head <commit>] [--heads <file>] [--pin <thumbprint>]... [--quiet]
        check signatures, chains, sequence numbers, checkpoint coverage, key validity and rotations,
        approval references and git history offline (verify --help for the options)
  replay <session-id> [--repo <clone>] [--key <auditor private JWK file>]
        a session's timeline as text (default repo: .); with --key, the rows kept encrypted for the
        auditors are decrypted, shown, and checked against the result digests
  report --out <file.html> [--repo <clone>]   a static HTML report (sessions, decisions, approvals, status)
  access [--repo <clone>] [--identity <sub|email>] [--column <[schema.]table.column|column>] [--table <[schema.]table>]
         [--purpose <p>] [--since <time>] [--until <time>] [--unmasked] [--json]
        the accounting of disclosures: who received which PHI columns unmasked (and which masked), when,
        for what purpose, under which approval; one row per statement
  sessions [--repo <clone>] [--identity <sub|email>] [--json]   every session: who, door, purpose, statements, end
`;

export const VERIFY_USAGE = `usage: verdict evidence verify <clone> [options]

  Checks an evidence repository offline: every line's hash chain, every checkpoint's signature,
  sequence numbers and checkpoint coverage, key sets and their validity, key rotations (each signed
  by the key it replaces), approval references, and the git history of the clone.

  --json               print the full report as JSON (findings, streams, heads, commit)
  --head <commit>      a commit recorded at an earlier audit: it must still be an ancestor of HEAD,
                       with no evidence file changed or removed since
  --heads <file>       the "heads" of an earlier --json report: each stream must still contain them
  --pin <thumbprint>   an RFC 7638 key thumbprint you trust (repeatable): each stream's checkpoints must
                       be signed by a pinned key or by a key it endorsed through signed rotations. The
                       report prints each stream's first key ("pin: --pin ...") to record.
  --quiet              no progress bar
  -h, --help           this help

  The auditor's recipe: verify once and record the printed --pin values and the commit; later,
  git pull and run: verdict evidence verify <clone> --pin <T> --head <recorded commit>

  exit 0 clean, 1 findings, 2 usage or unreadable repository, 3 intact but with warnings
  (disclosed gaps, rotations from before signed rotations)
`;

class Usage extends Error {}

function progressBar(stream: NodeJS.WriteStream) {
  let last = 0;
  return (done: number, total: number) => {
    // Only worth drawing for large repositories; throttled so drawing never costs verify time.
    if (total < 200) return;
    const now = Date.now();
    if (done < total && now - last < 100) return;
    last = now;
    const width = 30;
    const filled = Math.round((done / total) * width);
    if (stream.isTTY) stream.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.floor((done / total) * 100)}% ${done}/${total} files${done === total ? '\n' : ''}`);
    else if (done === total || Math.floor((done / total) * 10) !== Math.floor(((done - 1) / total) * 10)) stream.write(`verify: ${done}/${total} files\n`);
  };
}

function gitHead(dir: string): string | null {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--verify', '--quiet', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

async function verify(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      head: { type: 'string' },
      heads: { type: 'string' },
      pin: { type: 'string', multiple: true },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(VERIFY_USAGE);
    return VERIFY_EXIT.clean;
  }
  if (positionals.length !== 1) throw new Usage('verify takes exactly one repository directory');
  let recordedHeads: RecordedHeads | undefined;
  if (values.heads) {
    const doc = JSON.parse(readFileSync(values.heads, 'utf8')) as { heads?: RecordedHeads } & RecordedHeads;
    recordedHeads = doc.heads ?? doc;
  }
  const report = await verifyRepository(positionals[0]!, {
    ...(values.head ? { head: values.head } : {}),
    ...(recordedHeads ? { recordedHeads } : {}),
    ...(values.pin ? { pinnedThumbprints: values.pin } : {}),
    ...(values.quiet ? {} : { onProgress: progressBar(process.stderr) }),
  });
  process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return exitCodeOf(report);
}

async function replay(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { repo: { type: 'string', default: '.' }, key: { type: 'string' } } });
  if (positionals.length !== 1) throw new Usage('replay takes exactly one session id');
  const key = values.key ? (JSON.parse(readFileSync(values.key, 'utf8')) as JWK) : undefined;
  const t = await sessionTimeline(directoryFiles(values.repo), positionals[0]!, key ? { key } : {});
  process.stdout.write(renderTimeline(t));
  return t.records.length === 0 ? 1 : 0;
}

async function report(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { repo: { type: 'string', default: '.' }, out: { type: 'string' } } });
  if (!values.out || positionals.length > 0) throw new Usage('report needs --out <file.html>');
  const data = await collectReport(directoryFiles(values.repo), { repository: values.repo, commit: gitHead(values.repo) });
  writeFileSync(values.out, renderReportHtml(data));
  process.stderr.write(`wrote ${values.out}: ${data.sessions.length} session(s), ${data.verification.lines} line(s), verification ${data.verification.ok ? 'ok' : 'FAILED'}\n`);
  return 0;
}

async function access(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      repo: { type: 'string', default: '.' },
      identity: { type: 'string' },
      column: { type: 'string' },
      table: { type: 'string' },
      purpose: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      unmasked: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 0) throw new Usage('access takes no positional arguments (filters are options)');
  const { disclosures, verified } = await collectAccess(directoryFiles(values.repo));
  const rows = filterAccess(disclosures, {
    ...(values.identity ? { identity: values.identity } : {}),
    ...(values.column ? { column: values.column } : {}),
    ...(values.table ? { table: values.table } : {}),
    ...(values.purpose ? { purpose: values.purpose } : {}),
    ...(values.since ? { since: values.since } : {}),
    ...(values.until ? { until: values.until } : {}),
    unmaskedOnly: values.unmasked,
  });
  process.stdout.write(values.json ? JSON.stringify({ verified, disclosures: rows }, null, 2) + '\n' : renderAccess(rows));
  if (!verified.ok) process.stderr.write('verdict evidence: the repository FAILED verification; run verdict evidence verify\n');
  return verified.ok ? 0 : 1;
}

async function sessions(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { repo: { type: 'string', default: '.' }, identity: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (positionals.length > 0) throw new Usage('sessions takes no positional arguments');
  const { sessions: all, verified } = await collectAccess(directoryFiles(values.repo));
  const rows = values.identity ? all.filter((s) => s.sub === values.identity || s.email === values.identity) : all;
  process.stdout.write(values.json ? JSON.stringify({ verified, sessions: rows }, null, 2) + '\n' : renderSessions(rows));
  if (!verified.ok) process.stderr.write('verdict evidence: the repository FAILED verification; run verdict evidence verify\n');
  return verified.ok ? 0 : 1;
}

/**
 * Runs `verdict evidence <argv...>` and returns the exit code (never calls process.exit).
 *
 * @example
 * // in gateway/cli/main.ts: case 'evidence': return runEvidenceCli(argv.slice(1))
 * process.exitCode = await runEvidenceCli(['verify', '/tmp/evidence-clone', '--json'])
 */
export async function runEvidenceCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'verify':
        return await verify(rest);
      case 'replay':
        return await replay(rest);
      case 'report':
        return await report(rest);
      case 'access':
        return await access(rest);
      case 'sessions':
        return await sessions(rest);
      case undefined:
      case 'help':
      case '--help':
        process.stdout.write(EVIDENCE_USAGE);
        return command ? 0 : VERIFY_EXIT.usage;
      default:
        throw new Usage(`unknown evidence command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof Usage || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      process.stderr.write(`verdict evidence: ${messageOf(err)}\n\n${EVIDENCE_USAGE}`);
      return VERIFY_EXIT.usage;
    }
    if (err instanceof EvidenceError && err.code === 'REPOSITORY_UNREADABLE') {
      process.stderr.write(`verdict evidence: ${err.message}\n`);
      return VERIFY_EXIT.usage;
    }
    process.stderr.write(`verdict evidence: ${messageOf(err)}\n`);
    return 1;
  }
}
