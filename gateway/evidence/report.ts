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
  approvals: { id: string; requested: string | null; approvers: string[]; status: string; by: string[]; statement: string | null }[];
}

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
    if (!a) approvals.set(id, (a = { id, requested: null, approvers: [], status: 'requested', by: [], statement: null }));
    return a;
  };
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
        break;
      }
      case 'approval_granted':
        Object.assign(approval(r.data.request_id), { status: 'granted', by: r.data.approved_by });
        break;
      case 'approval_rejected':
        Object.assign(approval(r.data.request_id), { status: 'rejected', by: [r.data.by] });
        break;
      case 'approval_expired':
        approval(r.data.request_id).status = 'expired';
        break;
      case 'approval_withdrawn':
        Object.assign(approval(r.data.request_id), { status: 'withdrawn', by: r.data.by ? [r.data.by] : [] });
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
<table><tr><th>stream</th><th>lines</th><th>batches</th><th>head</th><th>from</th><th>to</th><th>signing keys</th><th>gaps</th></tr>
${rows(v.streams.map((s) => [esc(s.stream), String(s.lines), String(s.batches), `${s.head.seq} <code>${esc(s.head.hash?.slice(0, 16))}</code>`, esc(s.first_ts), esc(s.last_ts), esc(s.kids.join(', ')), String(s.gaps)]))}
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
<h2>Approvals</h2>
${
  d.approvals.length === 0
    ? '<p>None.</p>'
    : `<table><tr><th>request</th><th>requested</th><th>approvers</th><th>status</th><th>by</th><th>statement</th></tr>
${rows(d.approvals.map((a) => [esc(a.id), esc(a.requested), esc(a.approvers.join(', ')), esc(a.status), esc(a.by.join(', ')), `<code>${esc(a.statement)}</code>`]))}
</table>`
}
<h2>Sessions (${d.sessions.length})</h2>
<table><tr><th>session</th><th>user</th><th>application</th><th>client</th><th>target</th><th>start</th><th>end</th><th>statements</th><th>actions</th></tr>
${rows(d.sessions.map((s) => [`<code>${esc(s.id)}</code>`, esc(s.sub), esc(s.application), esc(s.client), esc(s.target), esc(s.start), esc(s.end ?? 'open'), String(s.statements), esc(Object.entries(s.actions).map(([a, n]) => `${a} ${n}`).join(', '))]))}
</table>
<p class="muted">Replay a session: <code>verdict evidence replay &lt;session-id&gt; --repo &lt;clone&gt;</code>. Verify independently: <code>verdict evidence verify &lt;clone&gt;</code>.</p>
</body></html>
`;
}
