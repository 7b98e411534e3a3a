// `npm run bench:approvals`: from the approving review (its signed webhook) to the held statement having
// executed, through the gateway against the local GitHub simulator and a real PostgreSQL. Last line: JSON.
import pg from 'pg';
import { APPROVALS_REPO, startGitHubStack } from '../testing/github-stack.ts';

const N = Number(process.env.BENCH_APPROVALS ?? 15);
const gh = await startGitHubStack();
const latencies: number[] = [];
try {
  for (let i = 0; i < N; i++) {
    let hint = '';
    const c = new pg.Client(await gh.stack.client('bob'));
    c.on('notice', (n) => (hint ||= n.hint ?? ''));
    await c.connect();
    const running = c.query('TRUNCATE visits');
    for (let w = 0; w < 2000 && !hint; w++) await new Promise((r) => setTimeout(r, 5));
    const pr = Number(/\/pull\/(\d+)/.exec(hint)?.[1]);
    if (!Number.isInteger(pr)) throw new Error(`no approval notice (got ${JSON.stringify(hint)})`);
    const t0 = performance.now();
    gh.pulls.review(APPROVALS_REPO, pr, { login: 'carol', state: 'APPROVED' });
    await running;
    latencies.push(performance.now() - t0);
    await c.end();
  }
} finally {
  await gh.stop();
}
latencies.sort((a, b) => a - b);
const pct = (p: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]! * 10) / 10;
console.log(JSON.stringify({ bench: 'approvals', samples: N, webhook_to_execution_p50_ms: pct(50), webhook_to_execution_p99_ms: pct(99), max_ms: pct(100), target_p99_ms: 1000 }));
