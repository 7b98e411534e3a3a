// `verdict policy impact`: every decision recorded in a period, re-evaluated under the base and the head
// bundle of a policy change, and the flips reported by kind — deterministic, so the same evidence and the
// same two bundles always give the same report, byte for byte.
import type { Action } from '../../engine/decision/decision.ts';
import type { PolicyBundle } from '../../engine/policy/bundle.ts';
import { describeDifference, outcomeOf, sameOutcome, type BundleLibrary, type KeptDecision, type Outcome } from './replay.ts';

/** Flip kinds, in report order: "allow→mask", …, and "mask→mask" for a changed set of masked columns. */
export type FlipKind = `${Action}→${Action}`;

export interface FlipGroup {
  kind: FlipKind;
  /** Loosening (less protection: toward allow, fewer masks) or tightening. */
  direction: 'loosens' | 'tightens' | 'changes';
  count: number;
  /** Statement fingerprints with their counts, most frequent first. */
  fingerprints: { fingerprint: string; count: number; example: string; difference: string; samples: string[] }[];
}

export interface ImpactReport {
  base: { revision: string; digest: string };
  head: { revision: string; digest: string };
  /** RFC 3339 start of the period (inclusive), or null for everything. */
  since: string | null;
  /** Decisions with a kept input in the period (those re-evaluated). */
  evaluated: number;
  /** Decisions in the period without a kept input (not re-evaluated), with why. */
  skipped: { count: number; reasons: { reason: string; count: number }[] };
  unchanged: number;
  changed: number;
  flips: FlipGroup[];
}

const RANK: Record<Action, number> = { allow: 0, mask: 1, approve: 2, deny: 3 };
const SAMPLES = 3;

/**
 * Re-evaluates `decisions` under `base` and `head` and groups what changes.
 *
 * @example
 * const report = await policyImpact(decisions, baseBundle, headBundle, library, { since });
 */
export async function policyImpact(decisions: KeptDecision[], base: PolicyBundle, head: PolicyBundle, library: BundleLibrary, options: { since?: Date } = {}): Promise<ImpactReport> {
  const [baseEngine, headEngine] = [await library.engine(base), await library.engine(head)];
  const skipped = new Map<string, number>();
  const groups = new Map<FlipKind, Map<string, { count: number; example: string; difference: string; samples: string[] }>>();
  let evaluated = 0;
  let unchanged = 0;
  for (const d of decisions) {
    if (!d.input) {
      skipped.set(d.problem ?? 'no input', (skipped.get(d.problem ?? 'no input') ?? 0) + 1);
      continue;
    }
    evaluated++;
    const a = outcomeOf(baseEngine.evaluate(d.input));
    const b = outcomeOf(headEngine.evaluate(d.input));
    if (sameFlipSignificant(a, b)) {
      unchanged++;
      continue;
    }
    const kind = `${a.action}→${b.action}` as FlipKind;
    let byFp = groups.get(kind);
    if (!byFp) groups.set(kind, (byFp = new Map()));
    const fp = d.fingerprint ?? `(text) ${d.text}`;
    const g = byFp.get(fp) ?? { count: 0, example: d.text, difference: describeDifference(a, b), samples: [] };
    g.count++;
    if (g.samples.length < SAMPLES) g.samples.push(d.decision_id);
    byFp.set(fp, g);
  }
  const flips: FlipGroup[] = [...groups]
    .map(([kind, byFp]) => {
      const [from, to] = kind.split('→') as [Action, Action];
      const fingerprints = [...byFp]
        .map(([fingerprint, g]) => ({ fingerprint, ...g }))
        .sort((x, y) => y.count - x.count || (x.fingerprint < y.fingerprint ? -1 : x.fingerprint > y.fingerprint ? 1 : 0));
      const direction: FlipGroup['direction'] = RANK[to] < RANK[from] ? 'loosens' : RANK[to] > RANK[from] ? 'tightens' : 'changes';
      return { kind, direction, count: fingerprints.reduce((n, f) => n + f.count, 0), fingerprints };
    })
    .sort((x, y) => RANK[x.kind.split('→')[0] as Action] - RANK[y.kind.split('→')[0] as Action] || RANK[x.kind.split('→')[1] as Action] - RANK[y.kind.split('→')[1] as Action]);
  return {
    base: { revision: base.revision, digest: base.digest },
    head: { revision: head.revision, digest: head.digest },
    since: options.since?.toISOString() ?? null,
    evaluated,
    skipped: { count: [...skipped.values()].reduce((n, c) => n + c, 0), reasons: [...skipped].map(([reason, count]) => ({ reason, count })).sort((x, y) => y.count - x.count || (x.reason < y.reason ? -1 : 1)) },
    unchanged,
    changed: evaluated - unchanged,
    flips,
  };
}

/** Two outcomes count as the same for impact when action and masked columns agree (reason wording may move). */
function sameFlipSignificant(a: Outcome, b: Outcome): boolean {
  return sameOutcome({ ...a, rules: [] }, { ...b, rules: [] });
}

/** The hidden marker that identifies Verdict's impact comment on a pull request (updated, not repeated). */
export const IMPACT_MARKER = '<!-- verdict:policy-impact -->';

/** The report as GitHub-flavoured markdown, for a pull request comment or a terminal. */
export function impactMarkdown(r: ImpactReport, options: { maxFingerprints?: number } = {}): string {
  const max = options.maxFingerprints ?? 10;
  const period = r.since ? `since ${r.since}` : 'in the whole evidence repository';
  const lines = [
    IMPACT_MARKER,
    `### Policy impact: \`${r.base.revision}\` → \`${r.head.revision}\``,
    '',
    `Re-evaluated **${r.evaluated}** recorded decisions ${period} under both bundles: **${r.changed}** would change, ${r.unchanged} would not.` +
      (r.skipped.count ? ` ${r.skipped.count} could not be re-evaluated (${r.skipped.reasons.map((s) => `${s.count}: ${s.reason}`).join('; ')}).` : ''),
  ];
  if (r.flips.length === 0) {
    lines.push('', 'No recorded decision would come out differently.');
    return lines.join('\n') + '\n';
  }
  lines.push('', '| change | decisions | statements | direction |', '|---|---:|---:|---|');
  for (const f of r.flips) lines.push(`| ${f.kind}${f.kind.split('→')[0] === f.kind.split('→')[1] ? ' (masked columns)' : ''} | ${f.count} | ${f.fingerprints.length} | ${f.direction === 'loosens' ? '⚠️ loosens' : f.direction} |`);
  for (const f of r.flips) {
    lines.push('', `#### ${f.kind} — ${f.count} decision${f.count === 1 ? '' : 's'}`, '', '| statement (fingerprint) | decisions | what changes | sample evidence ids |', '|---|---:|---|---|');
    for (const g of f.fingerprints.slice(0, max)) lines.push(`| \`${cell(g.fingerprint, 160)}\` | ${g.count} | ${cell(g.difference, 200)} | ${g.samples.map((s) => `\`${s}\``).join(' ')} |`);
    if (f.fingerprints.length > max) lines.push(`| … ${f.fingerprints.length - max} more statements | ${f.fingerprints.slice(max).reduce((n, g) => n + g.count, 0)} | | |`);
  }
  lines.push('', `<sub>base bundle ${r.base.digest.slice(0, 12)}, head bundle ${r.head.digest.slice(0, 12)}; reproduce with \`verdict policy impact --base ${r.base.revision} --head ${r.head.revision} --evidence <clone>${r.since ? ` --since ${r.since}` : ''}\`; look up a sample with \`verdict decide --replay <id> --repo <clone>\`</sub>`);
  return lines.join('\n') + '\n';
}

function cell(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').replace(/\|/g, '\\|').replace(/`/g, "'");
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
