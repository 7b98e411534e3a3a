// A gateway whose approvals go through GitHub pull requests — against the local GitHub simulator with
// pulls, team membership and signed webhooks — for the end-to-end tests and bench:approvals.
import { simulatorPulls, type PullsSimulator } from './github-sim/pulls.ts';
import { simulatorTeams } from './github-sim/teams.ts';
import { webhookSender, type WebhookSender } from './github-sim/webhooks.ts';
import { startGitHubSimulator, type GitHubSimulator } from './github-sim/simulator.ts';
import { startStack, type TestStack } from './stack.ts';

export const APPROVALS_REPO = 'acme/approvals';
const TOKEN = 'ghp_verdict_approvals_e2e';
const SECRET = 'whsec_verdict_e2e';

export interface GitHubStack {
  stack: TestStack;
  sim: GitHubSimulator;
  pulls: PullsSimulator;
  webhooks: WebhookSender;
  stop(): Promise<void>;
}

/**
 * Starts the simulator (carol and dave active members of acme/phi-approvers), then a stack whose
 * approval provider is GitHub with the webhook pointed at the gateway's admin listener.
 *
 * @example
 * const gh = await startGitHubStack(); // bob's DELETE opens a PR; gh.pulls.review(...) approves it
 */
export async function startGitHubStack(options: { pollSeconds?: number } = {}): Promise<GitHubStack> {
  const webhooks = webhookSender();
  const pulls = simulatorPulls({ webhooks });
  const teams = simulatorTeams();
  const sim = await startGitHubSimulator({ tokens: [{ token: TOKEN, login: 'verdict-gateway' }], plugins: [pulls.plugin, teams.plugin] });
  sim.createRepo('acme', 'approvals').commitFiles('main', { 'README.md': '# approvals\n' }, 'init');
  for (const m of ['carol', 'dave']) teams.addMember('acme', 'phi-approvers', m);
  process.env.VERDICT_E2E_GH_TOKEN = TOKEN;
  const stack = await startStack({
    approvals: {
      provider: 'github',
      hold_timeout_seconds: 30,
      github: {
        owner: 'acme',
        repo: 'approvals',
        team: { org: 'acme', slug: 'phi-approvers' },
        logins: { carol: 'user:carol', dave: 'user:dave', 'bob-gh': 'user:bob' },
        base_url: sim.baseUrl,
        token: { env: 'VERDICT_E2E_GH_TOKEN' },
        webhook_secret: { value: SECRET },
        poll_seconds: options.pollSeconds ?? 60, // long: the webhook has to be what wakes the gateway
      },
    },
  });
  webhooks.addHook({ url: `http://127.0.0.1:${stack.gateway.adminAddress!.port}/github/webhook`, secret: SECRET });
  return {
    stack,
    sim,
    pulls,
    webhooks,
    async stop() {
      await stack.stop();
      await webhooks.settled();
      await sim.close();
    },
  };
}
