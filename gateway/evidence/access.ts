// `verdict evidence access` and `verdict evidence sessions`: an accounting of disclosures (who received which
// PHI columns unmasked, and which masked, when, for what purpose, under which approval) and the list of
// sessions, read from a verified evidence repository.
import type { EvidenceRecord } from '../../engine/evidence/events.ts';
import { verifyEvidence, type FileSource } from '../../engine/evidence/verify.ts';

/** One statement that ran and touched PHI: what its client received, unmasked and masked. */
export interface Disclosure {
  ts: string;
  stream: string;
  session_id: string;
  decision_id: string;
  sub: string;
  email: string | null;
  groups: string[];
  front_door: string | null;
  purpose: string | null;
  /** PHI columns the client received unmasked (schema.table.column). */
  unmasked: string[];
  /** PHI columns the client received masked, with the method. */
  masked: { column: string; method: string }[];
  approval: { request_id: string; approved_by: string[] } | null;
  text: string;
  /** How the statement ended (ok, error, …), null when no result was recorded. */
  outcome: string | null;
  rows: number | null;
}

export interface AccessFilter {
  /** sub or e-mail. */
  identity?: string;
  /** A column as `column`, `table.column` or `schema.table.column`. */
  column?: string;
  /** A table as `table` or `schema.table`. */
  table?: string;
  purpose?: string;
  /** Inclusive bounds on the statement's ts (ISO 8601 prefixes work: 2026-01-05). */
  since?: string;
  until?: string;
  /** Only unmasked disclosures. */
  unmaskedOnly?: boolean;
}

export interface SessionRow {
  session_id: string;
  stream: string;
  sub: string;
  email: string | null;
  front_door: string;
  application: string | null;
  client_addr: string | null;
  purpose: string | null;
  start: string;
  end: string | null;
  end_reason: string | null;
  statements: number;
  denied: number;
}

const col = (c: { schema: string; table: string; column: string }) => `${c.schema}.${c.table}.${c.column}`;

/** Whether `full` (schema.table.column) is named by `want` (column, table.column or schema.table.column). */
function columnMatches(full: string, want: string): boolean {
  return full === want || full.endsWith(`.${want}`);
}
function tableMatches(full: string, want: string): boolean {
  const table = full.slice(0, full.lastIndexOf('.'));
  return table === want || table.endsWith(`.${want}`);
}

/**
 * Reads the repository once (verifying it) and returns its disclosures and sessions.
 *
 * @example
 * const { disclosures } = await collectAccess(directoryFiles('/tmp/evidence'))
 */
export async function collectAccess(files: FileSource): Promise<{ disclosures: Disclosure[]; sessions: SessionRow[]; verified: { ok: boolean; findings: number } }> {
  const sessions = new Map<string, SessionRow & { groups: string[] }>();
  const disclosures: Disclosure[] = [];
  const byDecision = new Map<string, Disclosure>();
  const onRecord = (r: EvidenceRecord) => {
    switch (r.type) {
      case 'session_start': {
        const d = r.data;
        sessions.set(d.session_id, {
          session_id: d.session_id,
          stream: r.stream,
          sub: d.identity.sub,
          email: d.identity.email,
          groups: d.identity.groups,
          front_door: d.front_door,
          application: d.application_name,
          client_addr: d.client_addr,
          purpose: d.purpose ?? null,
          start: r.ts,
          end: null,
          end_reason: null,
          statements: 0,
          denied: 0,
        });
        break;
      }
      case 'session_end': {
        const s = sessions.get(r.data.session_id);
        if (s) Object.assign(s, { end: r.ts, end_reason: r.data.reason });
        break;
      }
      case 'statement': {
        const d = r.data;
        const s = sessions.get(d.session_id);
        if (s) {
          s.statements++;
          if (d.action === 'deny') s.denied++;
        }
        if (d.action === 'deny' || d.action === 'approve') break; // nothing was delivered under this decision
        const unmasked = (d.unmasked_phi ?? []).map(col);
        const masked = d.masks.map((m) => ({ column: col(m.column), method: m.method }));
        if (unmasked.length === 0 && masked.length === 0) break;
        const x: Disclosure = {
          ts: r.ts,
          stream: r.stream,
          session_id: d.session_id,
          decision_id: d.decision_id,
          sub: s?.sub ?? '?',
          email: s?.email ?? null,
          groups: s?.groups ?? [],
          front_door: s?.front_door ?? null,
          purpose: d.purpose ?? null,
          unmasked,
          masked,
          approval: d.approval,
          text: d.text,
          outcome: null,
          rows: null,
        };
        disclosures.push(x);
        byDecision.set(d.decision_id, x);
        break;
      }
      case 'statement_result': {
        const x = byDecision.get(r.data.decision_id);
        if (x && x.outcome !== 'ok') Object.assign(x, { outcome: r.data.outcome, rows: r.data.outcome === 'ok' ? r.data.rows : x.rows });
        break;
      }
    }
  };
  const report = await verifyEvidence(files, { onRecord });
  return {
    disclosures,
    sessions: [...sessions.values()].map(({ groups: _g, ...s }) => s),
    verified: { ok: report.ok, findings: report.findings.length },
  };
}

/**
 * The disclosures a filter selects; with a column or table filter, only those columns stay in each row.
 *
 * @example
 * filterAccess(disclosures, { identity: 'alice', column: 'patients.ssn', since: '2026-01-05' })
 */
export function filterAccess(all: readonly Disclosure[], f: AccessFilter): Disclosure[] {
  const out: Disclosure[] = [];
  for (const d of all) {
    if (f.identity && d.sub !== f.identity && d.email !== f.identity) continue;
    if (f.purpose && d.purpose !== f.purpose) continue;
    if (f.since && d.ts < f.since) continue;
    if (f.until && d.ts.slice(0, f.until.length) > f.until) continue;
    const keep = (c: string) => (!f.column || columnMatches(c, f.column)) && (!f.table || tableMatches(c, f.table));
    const unmasked = d.unmasked.filter(keep);
    const masked = f.unmaskedOnly ? [] : d.masked.filter((m) => keep(m.column));
    if (unmasked.length === 0 && masked.length === 0) continue;
    out.push({ ...d, unmasked, masked });
  }
  return out;
}

/** A plain text table: a header line, a rule, then one line per row, columns padded to their widest cell. */
export function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') + '\n';
}

/** The disclosures as a text table (one line per statement). */
export function renderAccess(rows: readonly Disclosure[]): string {
  return textTable(
    ['time', 'identity', 'purpose', 'unmasked', 'masked', 'approval', 'outcome', 'decision'],
    rows.map((d) => [
      d.ts,
      d.email ?? d.sub,
      d.purpose ?? '-',
      d.unmasked.join(',') || '-',
      d.masked.map((m) => `${m.column}:${m.method}`).join(',') || '-',
      d.approval ? `${d.approval.request_id} by ${d.approval.approved_by.join('+')}` : '-',
      d.outcome === null ? '-' : `${d.outcome}${d.rows !== null ? ` ${d.rows}` : ''}`,
      d.decision_id,
    ]),
  );
}

/** The sessions as a text table. */
export function renderSessions(rows: readonly SessionRow[]): string {
  return textTable(
    ['start', 'end', 'identity', 'door', 'purpose', 'statements', 'denied', 'end reason', 'session'],
    rows.map((s) => [s.start, s.end ?? '(open)', s.email ?? s.sub, s.front_door, s.purpose ?? '-', String(s.statements), String(s.denied), s.end_reason ?? '-', s.session_id]),
  );
}
