// `npm run bench:approvals`: from the approving review (its signed webhook) to the held statement having
// executed, through the gateway against the local GitHub simulator and a real PostgreSQL. Last line: JSON.
// The review is submitted once the gateway has read the request as pending (a reviewer comes later than
// that), so what is measured is the webhook's path: wake-up, re-reading the review from GitHub, the
// once-only tag, the statement. BENCH_APPROVALS sets the samples (default 50; p99 of 50 is the slowest).
import pg from 'pg';
import { APPROVALS_REPO, startGitHubStack } from '../testing/github-stack.ts';

const N = Number(process.env.BENCH_APPROVALS ?? 50);
const TARGET_P99_MS = 250;
const gh = await startGitHubStack();
const latencies: number[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
try {
  for (let i = 0; i < N; i++) {
    let hint = '';
    const c = new pg.Client(await gh.stack.client('bob'));
    c.on('notice', (n) => (hint ||= n.hint ?? ''));
    await c.connect();
    const running = c.query('TRUNCATE visits');
    for (let w = 0; w < 2000 && !hint; w++) await sleep(5);
    const pr = Number(/\/pull\/(\d+)/.exec(hint)?.[1]);
    if (!Number.isInteger(pr)) throw new Error(`no approval notice (got ${JSON.stringify(hint)})`);
    // The gateway has answered its first read of the PR's reviews: it found no approval and waits.
    const reviews = `/repos/${APPROVALS_REPO}/pulls/${pr}/reviews`;
    for (let w = 0; w < 2000 && !gh.sim.requests.some((r) => r.path === reviews); w++) await sleep(5);
    await sleep(20);
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
console.log(
  JSON.stringify({
    bench: 'approvals',
    samples: N,
    webhook_to_execution_p50_ms: pct(50),
    webhook_to_execution_p99_ms: pct(99),
    webhook_to_execution_max_ms: pct(100),
    target_p99_ms: TARGET_P99_MS,
    target_met: pct(99) <= TARGET_P99_MS,
  }),
);
