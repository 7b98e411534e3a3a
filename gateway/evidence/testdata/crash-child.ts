// Test child for crash-test.test.ts: appends statement events as fast as it can with many concurrent
// callers and prints the index of each one once append() resolved (durable). The parent kill -9s it.
import { createEvidenceWriter } from '../writer.ts';

const [dir] = process.argv.slice(2);
if (!dir) throw new Error('usage: crash-child.ts <spool-dir>');
const writer = await createEvidenceWriter({ stream: 'crash-1', spoolDir: dir, batchMaxLines: 300, batchMaxAgeMs: 50, publisher: null });
let next = 0;
await Promise.all(
  Array.from({ length: 64 }, async () => {
    for (;;) {
      const i = next++;
      await writer.append({
        type: 'statement_result',
        data: { session_id: 'crash', decision_id: `c-${i}`, outcome: 'ok', rows: i, duration_ms: 1, sqlstate: null },
      });
      process.stdout.write(`${i}\n`);
    }
  }),
);
