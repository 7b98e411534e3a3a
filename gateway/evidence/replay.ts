// `verdict evidence replay <session-id>`: one session's timeline as text, read from an evidence repository
// (with the approvals its statements relied on), headed by whether the evidence verified.
import type { GeneralJWE, JWK } from 'jose';
import type { EvidenceRecord } from '../../engine/evidence/events.ts';
import { decryptRows, rowsDigest, type CapturedRows } from '../../engine/evidence/response.ts';
import { verifyEvidence, type FileSource } from '../../engine/evidence/verify.ts';

export interface SessionTimeline {
  sessionId: string;
  records: EvidenceRecord[];
  /** Verification of the whole repository the timeline was read from. */
  verified: { ok: boolean; clean: boolean; findings: number };
  /** With an auditor key: the rows of each statement_response it can decrypt (or why not), and whether they match the digest. */
  revealed: Map<EvidenceRecord, { rows: CapturedRows; digest: 'match' | 'mismatch' | 'truncated' } | { error: string }>;
}

/**
 * Collects a session's records (and approval events for requests it made) in time order.
 *
 * @example
 * const t = await sessionTimeline(directoryFiles('/tmp/evidence'), 's-0001'); console.log(renderTimeline(t))
 */
export async function sessionTimeline(files: FileSource, sessionId: string, options: { key?: JWK } = {}): Promise<SessionTimeline> {
  const mine: EvidenceRecord[] = [];
  const approvals: EvidenceRecord[] = [];
  const requests = new Set<string>();
  const report = await verifyEvidence(files, {
    onRecord: (r) => {
      const d = r.data as { session_id?: unknown; request_id?: unknown };
      if (d.session_id === sessionId) {
        mine.push(r);
        if (r.type === 'approval_requested') requests.add(r.data.request_id);
        if (r.type === 'statement' && r.data.approval) requests.add(r.data.approval.request_id);
      } else if (r.type.startsWith('approval_')) approvals.push(r);
    },
  });
  const related = approvals.filter((r) => requests.has((r.data as { request_id: string }).request_id));
  const records = [...mine, ...related].sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : a.seq - b.seq));
  const revealed: SessionTimeline['revealed'] = new Map();
  if (options.key)
    for (const r of records) {
      if (r.type !== 'statement_response' || !r.data.encrypted) continue;
      try {
        const rows = await decryptRows(r.data.encrypted.jwe as unknown as GeneralJWE, options.key);
        // The digest covers every delivered row: the captured ones prove it only when none was cut.
        const digest = rows.truncated ? 'truncated' : rowsDigest(rows.rows).sha256 === r.data.sha256 ? 'match' : 'mismatch';
        revealed.set(r, { rows, digest });
      } catch (err) {
        revealed.set(r, { error: (err as Error).message });
      }
    }
  return { sessionId, records, verified: { ok: report.ok, clean: report.clean, findings: report.findings.length }, revealed };
}

const oneLine = (s: string, max = 100) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? t.slice(0, max - 1) + '…' : t;
};

/** One line of text per record. */
export function describeRecord(r: EvidenceRecord): string {
  switch (r.type) {
    case 'session_start': {
      const d = r.data;
      return `session start  ${d.identity.sub}${d.identity.email ? ` <${d.identity.email}>` : ''} groups=[${d.identity.groups.join(',')}] app=${d.application_name ?? '-'} client=${d.client_addr ?? '-'} target=${d.target.upstream}/${d.target.database} ${d.tls ? 'tls' : 'no-tls'} via ${d.front_door}`;
    }
    case 'session_end':
      return `session end    ${r.data.reason}, ${r.data.statements} statement(s), ${r.data.duration_ms} ms`;
    case 'statement': {
      const d = r.data;
      const why = d.reasons.map((x) => x.rule).join(', ');
      const masks = d.masks.map((m) => `${m.column.table}.${m.column.column}:${m.method}`).join(', ');
      return [
        `statement      ${d.action.toUpperCase().padEnd(7)} ${oneLine(d.text)}${d.text_redacted ? ' [literals redacted]' : ''}`,
        `               decision ${d.decision_id} policy ${d.policy_revision.slice(0, 12)} input ${d.input_hash.slice(0, 12)}${d.cached ? ' (cached)' : ''}${why ? ` rules: ${why}` : ''}${masks ? ` masks: ${masks}` : ''}${d.approval ? ` approval ${d.approval.request_id} by ${d.approval.approved_by.join(', ')}` : ''}`,
      ].join('\n');
    }
    case 'statement_result': {
      const d = r.data;
      const sent = d.response ? ` — sent ${d.response.rows} row(s), ${d.response.bytes} bytes, sha256 ${d.response.sha256.slice(0, 16)}` : '';
      return `result         ${d.outcome}${d.rows !== null ? ` rows=${d.rows}` : ''} ${d.duration_ms} ms${d.sqlstate ? ` SQLSTATE ${d.sqlstate}` : ''} (decision ${d.decision_id})${sent}`;
    }
    case 'approval_requested':
      return `approval asked ${r.data.request_id} from ${r.data.approvers.join(', ')} (min ${r.data.min_approvals}) until ${r.data.expires_at}`;
    case 'approval_granted':
      return `approval given ${r.data.request_id} by ${r.data.approved_by.join(', ')}`;
    case 'approval_rejected':
      return `approval rejected ${r.data.request_id} by ${r.data.by}: ${oneLine(r.data.reason)}`;
    case 'approval_expired':
      return `approval expired ${r.data.request_id}`;
    case 'statement_execution': {
      const params = r.data.parameters.map((p) => ('hmac_sha256' in p ? `$${p.position}=hmac:${p.hmac_sha256.slice(0, 12)}` : 'binary' in p ? `$${p.position}=binary:${p.binary.length}b64` : `$${p.position}=${p.value === null ? 'NULL' : JSON.stringify(p.value)}`));
      return `execution      ${r.data.execution_id} of ${r.data.decision_id} ${oneLine(params.join(' '), 200)}`;
    }
    case 'statement_response':
      return `response       ${r.data.rows} row(s), ${r.data.bytes} bytes, sha256 ${r.data.sha256.slice(0, 16)}${r.data.encrypted ? ` — ${r.data.encrypted.rows} row(s) kept encrypted${r.data.encrypted.truncated ? ' (cut)' : ''}` : ''}`;
    case 'approval_withdrawn':
      return `approval withdrawn ${r.data.request_id}${r.data.by ? ` by ${r.data.by}` : ''}: ${oneLine(r.data.reason)}`;
    default:
      return `${r.type} ${oneLine(JSON.stringify(r.data))}`;
  }
}

/**
 * The timeline as text: a header, then `time  stream#seq  event` lines.
 *
 * @example
 * renderTimeline(await sessionTimeline(files, 's-0001'))
 */
export function renderTimeline(t: SessionTimeline): string {
  const head = `session ${t.sessionId}: ${t.records.length} event(s); evidence ${t.verified.clean ? 'verified clean' : t.verified.ok ? `verified with ${t.verified.findings} warning(s)` : `FAILED verification (${t.verified.findings} finding(s)) — run verdict evidence verify`}`;
  if (t.records.length === 0) return `${head}\nno events for this session\n`;
  const lines = t.records.map((r) => {
    const text = describeRecord(r).split('\n');
    const shown = t.revealed.get(r);
    if (shown && 'error' in shown) text.push(`cannot decrypt the rows: ${shown.error}`);
    else if (shown) {
      text.push(`rows as delivered (${shown.digest === 'match' ? 'digest matches' : shown.digest === 'truncated' ? 'cut: the digest covers more rows' : 'DIGEST MISMATCH'}): ${shown.rows.columns.join(' | ')}`);
      for (const row of shown.rows.rows) text.push(`  ${row.map((c) => (c === null ? 'NULL' : c)).join(' | ')}`);
    }
    const prefix = `${r.ts}  ${`${r.stream}#${r.seq}`.padEnd(14)}  `;
    return [prefix + text[0], ...text.slice(1).map((x) => ' '.repeat(prefix.length) + x.trimStart())].join('\n');
  });
  return `${head}\n${lines.join('\n')}\n`;
}
