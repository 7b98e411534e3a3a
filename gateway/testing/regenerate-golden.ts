// Regenerates engine/evidence/testdata/golden/ (the committed example repository) from engine/fixtures/evidence-golden.ts.
// Run: npx tsx gateway/testing/regenerate-golden.ts — then review the diff: any change is a format change.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { goldenRepository } from '../../engine/fixtures/evidence-golden.ts';
import { verifyEvidence } from '../../engine/evidence/verify.ts';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'engine', 'evidence', 'testdata', 'golden');
const files = await goldenRepository();
const report = await verifyEvidence(files);
if (!report.ok) throw new Error(`golden repository does not verify: ${JSON.stringify(report.findings)}`);
rmSync(out, { recursive: true, force: true });
for (const [path, bytes] of files) {
  mkdirSync(dirname(join(out, path)), { recursive: true });
  writeFileSync(join(out, path), bytes);
}
writeFileSync(join(out, 'expected-report.json'), JSON.stringify({ ok: report.ok, clean: report.clean, findings: report.findings, heads: report.heads, lines: report.lines }, null, 2) + '\n');
process.stderr.write(`wrote ${files.size} files to ${out} (${report.lines} lines, ${report.findings.length} finding(s))\n`);
