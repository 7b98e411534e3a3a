// `verdict evidence report --out report.html`: a static, self-contained HTML report of an evidence
// repository (verification status, sessions, decisions by action, approvals) that opens without a server.
import type { EvidenceRecord } from '../../engine/evidence/events.ts';
import { verifyEvidence, type FileSource, type VerifyReport } from '../../engine/evidence/verify.ts';

export interface ReportData {
  generatedAt: string;
  repository: string;
  commit: string | null;
  verification: VerifyReport;
  sessions: { id: string; stream: string; sub: string; application: string | null; client: string | null; target: string; start: string; end: string | null; statements: number; actions: Record<string, number> }[];
  actions: Record<string, number>;
  approvals: { id: string; requested: string | null; approvers: string[]; status: string; by: string[]; statement: string | null; requester: string | null; rows: number | null; reason: string | null }[];
  /** Denied statements, newest last. */
  denied: { ts: string; sub: string; text: string; rule: string; message: string; decision_id: string }[];
  /** Statements that showed PHI unmasked, counted per identity and column. */
  unmasked: { sub: string; column: string; statements: number; last: string }[];
  /** Decisions per declared purpose of use ('(none)' when none was declared). */
  purposes: Record<string, number>;
  /** The configuration hash each stream's gateway ran with (gateway_start), latest first seen per stream. */
  configs: { stream: string; since: string; config_hash: string | null; version: string }[];
}

/** Most rows a table of the report shows (the newest); the CLI commands list them all. */
export const REPORT_TABLE_LIMIT = 1000;

/**
 * Verifies the repository and gathers what the report shows, in one pass over the lines.
 *
 * @example
 * const data = await collectReport(directoryFiles(dir), { repository: dir, commit })
 */
export async function collectReport(files: FileSource, meta: { repository: string; commit: string | null; now?: Date }): Promise<ReportData> {
  const sessions = new Map<string, ReportData['sessions'][number]>();
  const actions: Record<string, number> = { allow: 0, mask: 0, approve: 0, deny: 0 };
  const approvals = new Map<string, ReportData['approvals'][number]>();
  const approval = (id: string) => {
    let a = approvals.get(id);
    if (!a) approvals.set(id, (a = { id, requested: null, approvers: [], status: 'requested', by: [], statement: null, requester: null, rows: null, reason: null }));
    return a;
  };
  const denied: ReportData['denied'] = [];
  const unmasked = new Map<string, ReportData['unmasked'][number]>();
  const purposes: Record<string, number> = {};
  const configs: ReportData['configs'] = [];
  // decision id → its statement's text and the approval it ran under (to attach results to approvals)
  const decisions = new Map<string, { text: string; request: string | null }>();
  const onRecord = (r: EvidenceRecord) => {
    switch (r.type) {
      case 'session_start':
        sessions.set(r.data.session_id, {
          id: r.data.session_id,
          stream: r.stream,
          sub: r.data.identity.sub,
          application: r.data.application_name,
          client: r.data.client_addr,
          target: `${r.data.target.upstream}/${r.data.target.database}`,
          start: r.ts,
          end: null,
          statements: 0,
          actions: {},
        });
        break;
      case 'session_end': {
        const s = sessions.get(r.data.session_id);
        if (s) s.end = r.ts;
        break;
      }
      case 'statement': {
        actions[r.data.action] = (actions[r.data.action] ?? 0) + 1;
        const who = sessions.get(r.data.session_id)?.sub ?? '?';
        decisions.set(r.data.decision_id, { text: r.data.text, request: r.data.approval?.request_id ?? null });
        const p = r.data.purpose ?? '(none)';
        purposes[p] = (purposes[p] ?? 0) + 1;
        if (r.data.action === 'deny') denied.push({ ts: r.ts, sub: who, text: r.data.text, rule: r.data.reasons[0]?.rule ?? '', message: r.data.reasons[0]?.message ?? '', decision_id: r.data.decision_id });
        for (const c of r.data.unmasked_phi ?? []) {
          const column = `${c.schema}.${c.table}.${c.column}`;
          const k = `${who}\u0000${column}`;
          const u = unmasked.get(k) ?? { sub: who, column, statements: 0, last: r.ts };
          u.statements++;
          u.last = r.ts;
          unmasked.set(k, u);
        }
        const s = sessions.get(r.data.session_id);
        if (s) {
          s.statements++;
          s.actions[r.data.action] = (s.actions[r.data.action] ?? 0) + 1;
        }
        if (r.data.approval) approval(r.data.approval.request_id).statement = r.data.text;
        break;
      }
      case 'approval_requested': {
        const a = approval(r.data.request_id);
        a.requested = r.ts;
        a.approvers = r.data.approvers;
        if (r.data.session_id) a.requester = sessions.get(r.data.session_id)?.sub ?? null;
        if (r.data.decision_id) a.statement ??= decisions.get(r.data.decision_id)?.text ?? null;
        break;
      }
      case 'statement_result': {
        const request = decisions.get(r.data.decision_id)?.request;
        if (request && r.data.outcome === 'ok') approval(request).rows = r.data.rows;
        break;
      }
      case 'gateway_start':
        configs.push({ stream: r.stream, since: r.ts, config_hash: r.data.config_hash ?? null, version: r.data.version });
        break;
      case 'approval_granted':
        Object.assign(approval(r.data.request_id), { status: 'granted', by: r.data.approved_by });
        break;
      case 'approval_rejected':
        Object.assign(approval(r.data.request_id), { status: 'rejected', by: [r.data.by], reason: r.data.reason });
        break;
      case 'approval_expired':
        approval(r.data.request_id).status = 'expired';
        break;
      case 'approval_withdrawn':
        Object.assign(approval(r.data.request_id), { status: 'withdrawn', by: r.data.by ? [r.data.by] : [], reason: r.data.reason });
        break;
    }
  };
  const verification = await verifyEvidence(files, { onRecord });
  return {
    generatedAt: (meta.now ?? new Date()).toISOString(),
    repository: meta.repository,
    commit: meta.commit,
    verification,
    sessions: [...sessions.values()].sort((a, b) => (a.start < b.start ? -1 : 1)),
    actions,
    approvals: [...approvals.values()].sort((a, b) => ((a.requested ?? '') < (b.requested ?? '') ? -1 : 1)),
    denied,
    unmasked: [...unmasked.values()].sort((a, b) => (a.sub < b.sub ? -1 : a.sub > b.sub ? 1 : a.column < b.column ? -1 : 1)),
    purposes,
    configs,
  };
}

const esc = (v: unknown) =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * Renders the report as one HTML document (inline CSS, no scripts, no external resources).
 *
 * @example
 * writeFileSync('report.html', renderReportHtml(data))
 */
export function renderReportHtml(d: ReportData): string {
  const v = d.verification;
  const status = v.clean ? 'VERIFIED — nothing altered, removed or forged' : v.ok ? `VERIFIED with ${v.findings.length} disclosed warning(s)` : `FAILED — ${v.findings.filter((f) => f.severity === 'error').length} error(s)`;
  const cls = v.clean ? 'ok' : v.ok ? 'warn' : 'bad';
  const rows = (items: string[][]) => items.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  // Large repositories stay usable: each table shows its newest REPORT_TABLE_LIMIT rows and says what it left out.
  const newest = <T,>(list: readonly T[]): { shown: readonly T[]; note: string } =>
    list.length <= REPORT_TABLE_LIMIT
      ? { shown: list, note: '' }
      : { shown: list.slice(-REPORT_TABLE_LIMIT), note: `<p class="muted">The newest ${REPORT_TABLE_LIMIT} of ${list.length}; <code>verdict evidence access</code> and <code>verdict evidence sessions</code> list them all.</p>` };
  const deniedRows = newest(d.denied);
  const sessionRows = newest(d.sessions);
  const approvalRows = newest(d.approvals);
  const total = Object.values(d.actions).reduce((a, b) => a + b, 0) || 1;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Verdict evidence report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1b1f24}h1{margin:0 0 .3rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}
.status{padding:.6rem 1rem;border-radius:6px;font-weight:600}.ok{background:#dafbe1}.warn{background:#fff8c5}.bad{background:#ffebe9}
.bar{display:inline-block;height:.8rem;background:#57606a}code{font-size:12px}.muted{color:#57606a}
</style></head><body>
<h1>Verdict evidence report</h1>
<p class="muted">Repository ${esc(d.repository)}${d.commit ? ` at commit <code>${esc(d.commit)}</code>` : ''} · generated ${esc(d.generatedAt)}</p>
<p class="status ${cls}">${esc(status)}: ${v.lines} lines in ${v.files} files</p>
<h2>Streams</h2>
<table id="streams"><tr><th>stream</th><th>lines</th><th>batches</th><th>head</th><th>from</th><th>to</th><th>signing keys</th><th>first key (pin it)</th><th>gaps</th></tr>
${rows(v.streams.map((s) => [esc(s.stream), String(s.lines), String(s.batches), `${s.head.seq} <code>${esc(s.head.hash?.slice(0, 16))}</code>`, esc(s.first_ts), esc(s.last_ts), esc(s.kids.join(', ')), `<code>${esc(s.anchor?.thumbprint ?? '-')}</code>`, String(s.gaps)]))}
</table>
<h2>Findings</h2>
${
  v.findings.length === 0
    ? '<p>None.</p>'
    : `<table><tr><th>severity</th><th>code</th><th>where</th><th>what</th><th>expected</th><th>computed</th></tr>
${rows(v.findings.map((f) => [esc(f.severity), `<code>${esc(f.code)}</code>`, esc(`${f.file}${f.line ? `:${f.line}` : ''}`), esc(f.message), `<code>${esc(f.expected)}</code>`, `<code>${esc(f.computed)}</code>`]))}
</table>`
}
<h2>Decisions by action</h2>
<table><tr><th>action</th><th>statements</th><th></th></tr>
${rows(Object.entries(d.actions).map(([a, n]) => [esc(a), String(n), `<span class="bar" style="width:${Math.round((n / total) * 300)}px"></span>`]))}
</table>
<h2>Configuration in force</h2>
${
  d.configs.length === 0
    ? '<p>No gateway start recorded.</p>'
    : `<table id="configs"><tr><th>stream</th><th>since</th><th>version</th><th>configuration hash</th></tr>
${rows(d.configs.map((c) => [esc(c.stream), esc(c.since), esc(c.version), `<code>${esc(c.config_hash ?? 'not recorded')}</code>`]))}
</table>`
}
<h2>Purposes of use</h2>
<table id="purposes"><tr><th>purpose</th><th>decisions</th></tr>
${rows(Object.entries(d.purposes).sort((a, b) => b[1] - a[1]).map(([p, n]) => [esc(p), String(n)]))}
</table>
<h2>Unmasked PHI by identity and column</h2>
${
  d.unmasked.length === 0
    ? '<p>None.</p>'
    : `<table id="unmasked"><tr><th>identity</th><th>column</th><th>statements</th><th>last</th></tr>
${rows(d.unmasked.map((u) => [esc(u.sub), `<code>${esc(u.column)}</code>`, String(u.statements), esc(u.last)]))}
</table>`
}
<h2>Denied statements (${d.denied.length})</h2>
${
  d.denied.length === 0
    ? '<p>None.</p>'
    : `${deniedRows.note}<table id="denied"><tr><th>time</th><th>user</th><th>statement</th><th>rule</th><th>why</th><th>decision</th></tr>
${rows(deniedRows.shown.map((x) => [esc(x.ts), esc(x.sub), `<code>${esc(x.text.length > 300 ? x.text.slice(0, 299) + '…' : x.text)}</code>`, `<code>${esc(x.rule)}</code>`, esc(x.message), `<code>${esc(x.decision_id)}</code>`]))}
</table>`
}
<h2>Approvals</h2>
${
  d.approvals.length === 0
    ? '<p>None.</p>'
    : `${approvalRows.note}<table id="approvals"><tr><th>request</th><th>requested</th><th>requester</th><th>approvers</th><th>outcome</th><th>by</th><th>rows affected</th><th>statement</th></tr>
${rows(approvalRows.shown.map((a) => [esc(a.id), esc(a.requested), esc(a.requester), esc(a.approvers.join(', ')), esc(a.reason && a.status !== 'granted' ? `${a.status}: ${a.reason}` : a.status), esc(a.by.join(', ')), esc(a.rows ?? ''), `<code>${esc(a.statement)}</code>`]))}
</table>`
}
<h2>Sessions (${d.sessions.length})</h2>
${sessionRows.note}<table id="sessions"><tr><th>session</th><th>user</th><th>application</th><th>client</th><th>target</th><th>start</th><th>end</th><th>statements</th><th>actions</th></tr>
${rows(sessionRows.shown.map((s) => [`<code>${esc(s.id)}</code>`, esc(s.sub), esc(s.application), esc(s.client), esc(s.target), esc(s.start), esc(s.end ?? 'open'), String(s.statements), esc(Object.entries(s.actions).map(([a, n]) => `${a} ${n}`).join(', '))]))}
</table>
<p class="muted">Replay a session: <code>verdict evidence replay &lt;session-id&gt; --repo &lt;clone&gt;</code>. Verify independently: <code>verdict evidence verify &lt;clone&gt;</code>.</p>
</body></html>
`;
}
