// How a GitHub approval request reads: its pull request body (statement, parameters, reasons, tables,
// estimate, the hidden marker that ties the PR to the request) and its risk label. Pure functions.
import type { ApprovalRequest, ApprovalSubject } from './provider.ts';

/** Labels the provider sets and reads. */
export const LABELS = {
  approval: 'verdict:approval',
  used: 'verdict:used',
  withdrawn: 'verdict:withdrawn',
  rejected: 'verdict:rejected',
  expired: 'verdict:expired',
  breakGlass: 'break-glass',
} as const;


const MARKER = /<!-- verdict-request ([A-Za-z0-9_-]+) -->/;
// ---------------------------------------------------------------------------------------------
// Rendering


/**
 * Labels for a request: always `verdict:approval`; then its risk, from the gateway's analysis of the statement
 * and of the statements it runs within it (a DO block's, a CTE's): `risk:low` when every one only reads or
 * controls the transaction, `risk:medium` when the others are writes (INSERT, UPDATE, DELETE, MERGE, COPY),
 * `risk:high` otherwise — DDL (TRUNCATE included), DCL, an unfiltered UPDATE/DELETE, utilities (CALL, VACUUM…),
 * statements the analysis could not classify, and a request whose analysis is not known. Rule names play no
 * part: the analysis says what the statement does.
 *
 * @example
 * defaultRiskLabels({ analysis: { kind: 'delete', tables: ['public.visits'], unfiltered_write: true } }) // ['verdict:approval', 'risk:high']
 */
export function defaultRiskLabels(subject: Pick<ApprovalSubject, 'analysis'>): string[] {
  const a = subject.analysis;
  // A block (DO) is what it runs; a utility that runs nothing the analysis can see (CALL, VACUUM) is its own kind.
  const nested = a?.nested_kinds ?? [];
  const kinds = a ? (a.kind === 'utility' && nested.length > 0 ? nested : [a.kind, ...nested]) : [];
  const risk = !a || a.unfiltered_write || kinds.some((k) => !READS.has(k) && !WRITES.has(k)) ? 'high' : kinds.some((k) => WRITES.has(k)) ? 'medium' : 'low';
  return [LABELS.approval, `risk:${risk}`];
}

/** Kinds that only read or control the transaction (risk:low), and plain writes (risk:medium); anything else is high. */
const READS: ReadonlySet<string> = new Set(['select', 'tcl']);
const WRITES: ReadonlySet<string> = new Set(['insert', 'update', 'delete', 'merge', 'copy']);

export function md(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/([\\`*_{}[\]<>|#!~])/g, '\\$1');
}

/** Inline code: a backtick would end the span early (it becomes a quote); a pipe would split a table cell. */
export function ic(text: string): string {
  return `\`${text.replace(/`/g, "'").replace(/[\r\n]+/g, ' ').replace(/\|/g, '\\|')}\``;
}

/** A code block whose fence is longer than any backtick run inside, so the statement cannot break out. */
function codeBlock(text: string, lang = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${lang}\n${text}\n${fence}`;
}

export interface Marker {
  id: string;
  commit: string;
  hash: string;
  requester: string;
}

export function encodeMarker(m: Marker): string {
  return `<!-- verdict-request ${Buffer.from(JSON.stringify(m)).toString('base64url')} -->`;
}

export function decodeMarker(body: string | null | undefined): Marker | null {
  const m = MARKER.exec(body ?? '');
  if (!m) return null;
  try {
    const v = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as Partial<Marker>;
    if (typeof v.id !== 'string' || typeof v.commit !== 'string' || typeof v.hash !== 'string' || typeof v.requester !== 'string') return null;
    return v as Marker;
  } catch {
    return null;
  }
}

export function renderBody(request: ApprovalRequest, commit: string, team: string, extra: { tables: string[] | null; estimate?: string }, breakGlass?: { reason: string; executedAt: string; evidence?: string }): string {
  const r = request.requester;
  const lines: string[] = [];
  if (breakGlass) {
    lines.push(
      `## ⚠️ Break-glass: this statement was already executed`,
      '',
      `**${md(r.username)}** ran it without approval at ${breakGlass.executedAt}, stating:`,
      '',
      `> ${md(breakGlass.reason)}`,
      '',
      'Review it after the fact: approve if it was justified, request changes if not. Nothing runs on approval.',
      '',
    );
  } else {
    lines.push(
      `## Verdict approval request \`${request.id}\``,
      '',
      `Approving this pull request lets the statement below run **once**, exactly as shown, for the requester below.`,
      '',
    );
  }
  lines.push(
    '| | |',
    '|---|---|',
    `| Requester | ${md(r.username)} (${ic(r.sub)}${r.email ? `, ${md(r.email)}` : ''}) |`,
    `| Target | upstream ${ic(request.target.upstream)}, database ${ic(request.target.database)} |`,
    `| Policy revision | ${ic(request.policy_revision)} |`,
    ...(breakGlass
      ? [`| Executed | ${breakGlass.executedAt} |`, `| Reviewers | ${request.requirement.min_approvals} from @${md(team)}, after the fact (not the requester) |`]
      : [`| Approvals needed | ${request.requirement.min_approvals} from @${md(team)} (not the requester) |`]),
    breakGlass ? `| Evidence | ${md(breakGlass.evidence ?? '—')} |` : `| Expires | ${request.expires_at} |`,
    `| Request hash | \`sha256:${request.hash}\` |`,
    `| Commit | \`${commit}\` |`,
    '',
    '### Statement',
    '',
    codeBlock(request.statement, 'sql'),
    '',
  );
  if (request.parameters.length > 0) {
    lines.push('### Parameters', '', ...request.parameters.map((p, i) => `${i + 1}. ${p === null ? '`NULL`' : codeBlock(p).replace(/\n/g, '\n   ')}`), '');
  }
  lines.push('### Why a human must decide', '', ...request.reasons.map((x) => `- ${ic(x.rule)}: ${md(x.message)}`), '');
  lines.push('### Affected tables', '');
  if (extra.tables === null) lines.push('_not recorded for this request: read the statement above_');
  else if (extra.tables.length === 0) lines.push('_none_');
  else lines.push(...extra.tables.map((t) => `- ${ic(t)}`));
  lines.push('');
  if (extra.estimate) lines.push('### Estimate', '', md(extra.estimate), '');
  if (!breakGlass) {
    lines.push(
      '### How to decide',
      '',
      '- **Approve** (Review changes → Approve) to let it run once. Only active members of the approvers team count, and only on the commit above.',
      '- **Request changes** to reject it.',
      '- Any push to this branch voids the request. Do not merge this pull request.',
      '',
    );
  }
  return lines.join('\n');
}

