// The HTML report in a real browser (headless Chromium over the DevTools protocol): it renders, the auditor's
// tables are there with what the evidence says (a withdrawal is not a rejection), and a repository of 100,000
// events still opens quickly, each table bounded to its newest rows.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { EvidenceEvent } from '../../engine/evidence/events.ts';
import { buildRepository, sessionEvents, testKey } from '../../engine/fixtures/evidence.ts';
import { collectReport, renderReportHtml, REPORT_TABLE_LIMIT } from './report.ts';
import { directoryFiles } from './verify.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
});
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A session's events as the gateway writes them now: purposes, unmasked PHI for the clinician, a withdrawn request. */
function session(n: number): EvidenceEvent[] {
  return sessionEvents(n).map((e) => {
    if (e.type !== 'statement') return e;
    const alice = n % 2 === 1;
    return {
      ...e,
      data: {
        ...e.data,
        purpose: alice ? 'treatment' : null,
        ...(alice && e.data.action === 'allow' ? { unmasked_phi: [{ schema: 'public', table: 'patients', column: 'name' }] } : {}),
      },
    };
  });
}

async function reportOf(events: EvidenceEvent[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-report-'));
  dirs.push(dir);
  const files = await buildRepository(events, { key: await testKey('a'), batchLines: 1000 });
  for (const [p, b] of files) {
    mkdirSync(dirname(join(dir, 'repo', p)), { recursive: true });
    writeFileSync(join(dir, 'repo', p), b);
  }
  const data = await collectReport(directoryFiles(join(dir, 'repo')), { repository: 'test', commit: null });
  const html = join(dir, 'report.html');
  writeFileSync(html, renderReportHtml(data));
  return html;
}

function inBrowser<T>(html: string, expression: string): { loadMs: number; value: T } {
  const r0 = spawnSync(process.execPath, ['--experimental-websocket', '--no-warnings', '--import', 'tsx', join(root, 'gateway', 'testing', 'chromium-page.ts'), chromium!, pathToFileURL(html).href, expression], {
    cwd: root,
    encoding: 'utf8',
    timeout: 150_000,
  });
  const out = r0.stdout || `{"error": ${JSON.stringify(`no answer (exit ${r0.status}): ${r0.stderr.slice(-1000)}`)}}`;
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { loadMs: number; value: T; error?: string };
  if (r.error) throw new Error(`headless Chromium: ${r.error}`);
  return r;
}

const TABLES = `JSON.stringify({
  status: document.querySelector('.status')?.textContent,
  tables: Object.fromEntries(['configs','purposes','unmasked','denied','approvals','sessions'].map((id) => {
    const t = document.getElementById(id);
    return [id, t ? { rows: t.rows.length, first: [...(t.rows[1]?.cells ?? [])].map((c) => c.textContent.trim()), header: [...t.rows[0].cells].map((c) => c.textContent) } : null];
  })),
})`;

// The bootstrap installs Debian's chromium; in CI its absence is a failure, not a skip.
it.runIf(process.env.CI)('Chromium is installed for the report tests (npm run bootstrap installs it)', () => {
  expect(chromium, 'no /usr/bin/chromium: run `npm run bootstrap`').toBeDefined();
});

describe.skipIf(!chromium)('the evidence report in headless Chromium', () => {
  it('renders the auditor’s tables with what the evidence says', { timeout: 180_000 }, async () => {
    const withdrawn: EvidenceEvent = { type: 'approval_withdrawn', data: { request_id: 'req-9', by: 'bob', reason: 'withdrawn by the requester (the client cancelled)' } };
    const requested: EvidenceEvent = {
      type: 'approval_requested',
      data: { request_id: 'req-9', session_id: 's-0002', decision_id: 's-0002-d3', subject_hash: 'ab'.repeat(32), approvers: ['team:phi-approvers'], min_approvals: 1, expires_at: '2026-01-05T11:00:00.000Z', mode: 'hold' },
    };
    const html = await reportOf([...session(1), ...session(2), requested, withdrawn]);
    const { value } = inBrowser<string>(html, TABLES);
    const page = JSON.parse(value) as { status: string; tables: Record<string, { rows: number; first: string[]; header: string[] } | null> };
    expect(page.status).toContain('VERIFIED');
    const streams = JSON.parse(inBrowser<string>(html, `JSON.stringify([...document.getElementById('streams').rows[1].cells].map((c) => c.textContent))`).value) as string[];
    expect(streams[7]).toBe((await testKey('a')).thumbprint);
    for (const id of ['configs', 'purposes', 'unmasked', 'denied', 'approvals', 'sessions']) expect(page.tables[id], id).not.toBeNull();
    expect(page.tables.unmasked!.first.slice(0, 3)).toEqual(['alice', 'public.patients.name', '1']);
    expect(page.tables.denied!.rows).toBe(3); // header + DROP TABLE of each session
    expect(page.tables.denied!.first[2]).toBe('DROP TABLE patients');
    const approvals = page.tables.approvals!;
    expect(approvals.header).toEqual(['request', 'requested', 'requester', 'approvers', 'outcome', 'by', 'rows affected', 'statement']);
    expect(approvals.rows).toBe(4);
    expect(page.tables.purposes!.rows).toBe(3); // treatment, (none)
    // the withdrawn request reads as withdrawn, with its reason, and rows affected are shown for granted ones
    const all = JSON.parse(inBrowser<string>(html, `JSON.stringify([...document.getElementById('approvals').rows].map((r) => [...r.cells].map((c) => c.textContent.trim())))`).value) as string[][];
    expect(all.find((r) => r[0] === 'req-9')![4]).toBe('withdrawn: withdrawn by the requester (the client cancelled)');
    expect(all.find((r) => r[0] === 'req-1')!.slice(4, 7)).toEqual(['granted', 'carol', '1']);
  });

  it('opens a repository of 100,000 events quickly, each table bounded', { timeout: 300_000 }, async () => {
    const events = Array.from({ length: 8400 }, (_, i) => session(i + 1)).flat();
    expect(events.length).toBeGreaterThanOrEqual(100_000);
    const html = await reportOf(events);
    expect(statSync(html).size).toBeLessThan(5 * 1024 * 1024);
    const { loadMs, value } = inBrowser<string>(html, TABLES);
    const page = JSON.parse(value) as { tables: Record<string, { rows: number } | null> };
    expect(page.tables.sessions!.rows).toBe(REPORT_TABLE_LIMIT + 1);
    expect(page.tables.denied!.rows).toBe(REPORT_TABLE_LIMIT + 1);
    expect(loadMs).toBeLessThan(15_000);
  });
});
