// `npm run bench:session-model`: the session-model property of gateway/postgres/session-model.test.ts with many
// more runs and a random seed. A first pass counts every failing sequence (grouped by what went wrong); a second
// pass replays the same seed up to the first failure per identity and shrinks it to a minimal sequence.
// BENCH_RUNS (per identity, default 500), BENCH_SEED and BENCH_SHRINK_MS tune it. The last line is one JSON object.
import fc from 'fast-check';
import { IDENTITIES, checkSequence, describeRun, sessionCommands, sessionModelProperty, startModelStack } from '../testing/session-model.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 500);
const SEED = process.env.BENCH_SEED ? Number(process.env.BENCH_SEED) : Math.floor(Math.random() * 2 ** 31);
const SHRINK_MS = Number(process.env.BENCH_SHRINK_MS ?? 120_000);

const started = performance.now();
const ms = await startModelStack();
let runs = 0;
let failures = 0;
try {
  for (const { user, identity } of IDENTITIES) {
    const kinds = new Map<string, number>();
    // Counting pass: every sequence runs; a failure is tallied instead of stopping the check.
    await fc.check(
      fc.asyncProperty(sessionCommands(), async (commands) => {
        runs++;
        const failure = await checkSequence(ms, user, identity, commands);
        if (!failure) return;
        failures++;
        // The first line names what went wrong; quoted values and numbers vary between sequences of one kind.
        const kind = failure.split('\n')[0]!.replace(/"[^"]*"/g, '"…"').replace(/\[[^\]]*\]/g, '[…]').replace(/#\d+/g, '#n');
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    const failed = [...kinds.values()].reduce((a, b) => a + b, 0);
    console.log(`\n${user} (${identity}): ${failed} of ${RUNS} sequences failed`);
    for (const [kind, n] of [...kinds].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(5)}  ${kind}`);
    if (failed === 0) continue;
    // Shrinking pass: the same seed reaches the same first failure, which fast-check then minimizes.
    const details = await fc.check(sessionModelProperty(ms, user, identity), { seed: SEED, numRuns: RUNS, plugins: [fc.interruptAfterTimeLimit(SHRINK_MS)] });
    if (details.failed) console.log(`\nshrunk:\n${describeRun(details, 'VERDICT_SESSION_MODEL')}`);
  }
} finally {
  await ms.stop();
}
const seconds = Math.round((performance.now() - started) / 100) / 10;
console.log(JSON.stringify({ runs, seed: SEED, failures, seconds }));
process.exit(failures > 0 ? 1 : 0);
