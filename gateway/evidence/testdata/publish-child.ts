// Test child for local-git.test.ts: one gateway instance writing `count` events into its own stream and
// publishing small batches into a shared local git repository, concurrently with its siblings.
import { join } from 'node:path';
import { createLocalGitPublisher } from '../local-git.ts';
import { createEvidenceWriter } from '../writer.ts';

const [repo, spoolRoot, stream, count] = process.argv.slice(2);
if (!repo || !spoolRoot || !stream || !count) throw new Error('usage: publish-child.ts <repo> <spool-root> <stream> <count>');
const writer = await createEvidenceWriter({
  stream,
  spoolDir: join(spoolRoot, stream),
  batchMaxLines: 10,
  maxBatchesPerCommit: 2,
  publisher: createLocalGitPublisher({ repo }),
  start: { instance: stream, version: 'test' },
});
for (let i = 0; i < Number(count); i++)
  await writer.append({ type: 'statement_result', data: { session_id: stream, decision_id: `${stream}-${i}`, outcome: 'ok', rows: i, duration_ms: 1, sqlstate: null } });
const drained = await writer.flush(60_000);
await writer.close({ publishTimeoutMs: 60_000 });
process.stdout.write(JSON.stringify({ stream, drained, status: writer.status() }) + '\n');
