// Stateful differential property of the PostgreSQL front door (gateway/testing/session-model.ts): random message
// sequences directly on PostgreSQL and through Verdict; alice must get PostgreSQL's answers, bob no raw value.
// VERDICT_SESSION_MODEL_RUNS / _SEED / _BUDGET_MS tune it; `npm run bench:session-model` runs it much longer.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDENTITIES, describeRun, sessionModelProperty, startModelStack, type ModelStack } from '../testing/session-model.ts';

const RUNS = Number(process.env.VERDICT_SESSION_MODEL_RUNS ?? 40);
const SEED = Number(process.env.VERDICT_SESSION_MODEL_SEED ?? 20260601);
/** Generation plus shrinking per identity; shrinking stops here with the smallest failure found so far. */
const BUDGET_MS = Number(process.env.VERDICT_SESSION_MODEL_BUDGET_MS ?? 20_000);
/** With the seed, replay one reported counterexample (the `path` and commands `replayPath` a failure prints). */
const PATH = process.env.VERDICT_SESSION_MODEL_PATH;
const REPLAY = process.env.VERDICT_SESSION_MODEL_REPLAY;

let ms: ModelStack;
beforeAll(async () => {
  ms = await startModelStack();
}, 180_000);
afterAll(async () => ms?.stop());

describe('session model: the same message sequences directly and through Verdict', () => {
  it.each(IDENTITIES)('$user ($identity)', async ({ user, identity }) => {
    const details = await fc.check(sessionModelProperty(ms, user, identity, REPLAY ? { replayPath: REPLAY } : {}), {
      seed: SEED,
      numRuns: RUNS,
      ...(PATH ? { path: PATH } : {}),
      plugins: [fc.interruptAfterTimeLimit(BUDGET_MS)],
    });
    if (details.failed) {
      const text = describeRun(details, 'VERDICT_SESSION_MODEL');
      console.error(text);
      expect.fail(text);
    }
    // Running out of time before numRuns is no pass: fewer runs than asked for would be a weaker check.
    expect(details.interrupted ? details.numRuns : RUNS, 'runs completed within VERDICT_SESSION_MODEL_BUDGET_MS').toBe(RUNS);
  }, BUDGET_MS + 30_000);
});
