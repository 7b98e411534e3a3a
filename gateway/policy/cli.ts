// `verdict decide --replay` and `verdict policy impact`: the command-line side of gateway/policy/replay.ts
// and impact.ts. Exit codes: 0 done (replay: every replayable decision came out the same), 1 failure or
// differences, 2 bad usage.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadBundle, type PolicyBundle } from '../../engine/policy/bundle.ts';
import { createGitHubClient } from '../github/client.ts';
import { impactMarkdown, policyImpact } from './impact.ts';
import { projectRoot } from './paths.ts';
import { postImpactComment } from './pr-comment.ts';
import { BundleLibrary, keptDecisions, replayDecisions, type ReplayResult } from './replay.ts';

export class PolicyCliUsage extends Error {}

export const REPLAY_USAGE = `usage: verdict decide --replay <decision-id | all> --repo <evidence clone> [options]

Rebuilds the policy input of a recorded decision from the evidence, checks it against the recorded
input_hash, evaluates it under the bundle of the recorded revision and says whether it comes out the same.
With "all", every decision of the repository, and the share reproduced.

  --bundle <path>        a bundle (.tar.gz or directory) or a directory of bundles; repeatable. A single
                         bundle whose revision differs from the recorded one is used anyway, and said so.
  --policy-repo <dir>    a clone of the policy repository: revisions no --bundle has are built from it
                         (revision = commit SHA). Default: none.
  --json                 one JSON object instead of text
`;

export const IMPACT_USAGE = `usage: verdict policy impact --base <bundle | git rev> --head <bundle | git rev> --evidence <clone> [options]

Re-evaluates every recorded decision of the period under both bundles and reports what would change,
by kind (allow→mask, mask→allow, …→deny, mask→mask for a changed set of masked columns), with counts,
statement fingerprints and sample evidence ids. Deterministic: same inputs, same report.

  --since <30d | 12h | ISO date>   only decisions recorded since then (default: 30d; "all" for everything)
  --policy-repo <dir>    where git revisions are built from (default: this checkout)
  --format <markdown|json>          default markdown
  --out <file>           write the report there instead of stdout
  --comment <owner/repo#number>     post (or update) it on that pull request; token from $GITHUB_TOKEN
  --github-url <url>     GitHub API base URL (default $GITHUB_API_URL or https://api.github.com)
`;

function parseSince(v: string | undefined, now = Date.now()): Date | undefined {
  if (v === undefined) return new Date(now - 30 * 86_400_000);
  if (v === 'all') return undefined;
  const m = /^(\d+)([dh])$/.exec(v);
  if (m) return new Date(now - Number(m[1]) * (m[2] === 'd' ? 86_400_000 : 3_600_000));
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new PolicyCliUsage(`--since must be like 30d, 12h, "all" or a date (got ${v})`);
  return d;
}

/** A bundle given as a path, or a git revision of the policy repository (built). */
async function bundleOf(spec: string, library: BundleLibrary, gitRepo: string): Promise<PolicyBundle> {
  if (existsSync(spec)) return loadBundle(spec);
  let sha: string;
  try {
    sha = execFileSync('git', ['-C', gitRepo, 'rev-parse', '--verify', `${spec}^{commit}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    throw new PolicyCliUsage(`${spec} is neither a bundle file nor a revision of the git repository ${gitRepo}`);
  }
  const b = await library.bundle(sha);
  if (!b) throw new Error(`the policies of ${spec} (${sha}) do not build`);
  return b;
}

export async function runReplay(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      replay: { type: 'string' },
      repo: { type: 'string' },
      bundle: { type: 'string', multiple: true, default: [] },
      'policy-repo': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(REPLAY_USAGE);
    return 0;
  }
  if (!values.replay || !values.repo) throw new PolicyCliUsage(`decide --replay needs a decision id (or "all") and --repo\n\n${REPLAY_USAGE}`);
  const { decisions, report } = await keptDecisions(values.repo);
  const library = await BundleLibrary.open(values.bundle, values['policy-repo'] ?? null);
  try {
    const chosen = values.replay === 'all' ? decisions : decisions.filter((d) => d.decision_id === values.replay);
    if (chosen.length === 0) {
      process.stderr.write(`verdict: no statement decision ${values.replay} in ${values.repo}\n`);
      return 1;
    }
    const results = await replayDecisions(chosen, library);
    const count = (s: ReplayResult['status']) => results.filter((r) => r.status === s).length;
    const replayable = results.length - count('unreplayable');
    const summary = {
      evidence_ok: report.ok,
      decisions: results.length,
      same: count('same'),
      differs: count('differs'),
      unreplayable: count('unreplayable'),
      reproduced_share: replayable === 0 ? null : count('same') / replayable,
    };
    if (values.json) {
      process.stdout.write(JSON.stringify({ ...summary, results }, null, 2) + '\n');
    } else {
      if (!report.ok) process.stdout.write(`warning: the evidence repository does not verify (${report.findings.filter((f) => f.severity === 'error').length} errors): run \`verdict evidence verify\`\n`);
      for (const r of results) {
        if (values.replay === 'all' && r.status === 'same') continue;
        const what = r.status === 'same' ? 'the same' : r.status === 'differs' ? 'DIFFERENT' : 'not replayable';
        process.stdout.write(`${r.decision_id}: ${what} — recorded ${r.recorded.action}${r.replayed ? `, replayed ${r.replayed.action}` : ''}${r.revision ? ` (revision ${r.revision})` : ''}${r.why ? `: ${r.why}` : ''}\n`);
      }
      if (values.replay === 'all') {
        const pct = summary.reproduced_share === null ? 'n/a' : `${(summary.reproduced_share * 100).toFixed(1)}%`;
        process.stdout.write(`${summary.same} of ${replayable} replayable decisions reproduced (${pct}); ${summary.differs} differ, ${summary.unreplayable} not replayable\n`);
      }
    }
    return report.ok && summary.differs === 0 && (values.replay === 'all' || summary.unreplayable === 0) ? 0 : 1;
  } finally {
    library.close();
  }
}

export async function runPolicyImpact(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      base: { type: 'string' },
      head: { type: 'string' },
      evidence: { type: 'string' },
      since: { type: 'string' },
      'policy-repo': { type: 'string' },
      format: { type: 'string', default: 'markdown' },
      out: { type: 'string' },
      comment: { type: 'string' },
      'github-url': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(IMPACT_USAGE);
    return 0;
  }
  if (!values.base || !values.head || !values.evidence) throw new PolicyCliUsage(`policy impact needs --base, --head and --evidence\n\n${IMPACT_USAGE}`);
  if (values.format !== 'markdown' && values.format !== 'json') throw new PolicyCliUsage('--format is markdown or json');
  const target = values.comment ? /^([\w.-]+)\/([\w.-]+)#(\d+)$/.exec(values.comment) : null;
  if (values.comment && !target) throw new PolicyCliUsage('--comment must be owner/repo#number');
  const since = parseSince(values.since);
  const gitRepo = values['policy-repo'] ?? projectRoot;
  const library = await BundleLibrary.open([], gitRepo);
  try {
    const base = await bundleOf(values.base, library, gitRepo);
    const head = await bundleOf(values.head, library, gitRepo);
    const { decisions, report: verified } = await keptDecisions(values.evidence, since ? { since } : {});
    if (!verified.ok) process.stderr.write(`verdict: warning: the evidence repository does not verify; the impact is computed on what it holds\n`);
    const report = await policyImpact(decisions, base, head, library, since ? { since } : {});
    const text = values.format === 'json' ? JSON.stringify(report, null, 2) + '\n' : impactMarkdown(report);
    if (values.out) writeFileSync(values.out, text);
    else process.stdout.write(text);
    if (target) {
      const token = process.env.GITHUB_TOKEN;
      if (!token) throw new PolicyCliUsage('--comment needs a token in $GITHUB_TOKEN');
      const client = await createGitHubClient({ auth: { token }, baseUrl: values['github-url'] ?? process.env.GITHUB_API_URL ?? 'https://api.github.com' });
      const posted = await postImpactComment(client, { owner: target[1]!, repo: target[2]!, pull: Number(target[3]), body: impactMarkdown(report) });
      process.stderr.write(`verdict: impact ${posted.updated ? 'updated' : 'posted'} on ${values.comment}: ${posted.url}\n`);
    }
    return 0;
  } finally {
    library.close();
  }
}
