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

/** The GitHub an approvals test needs: the simulator with pull requests, teams and signed webhooks. */
export interface ApprovalsGitHub {
  sim: GitHubSimulator;
  pulls: PullsSimulator;
  webhooks: WebhookSender;
  /** The `approvals` config section for a gateway using this GitHub (token read from `tokenEnv`, set here). */
  approvalsConfig(options: { tokenEnv: string; pollSeconds: number; holdTimeoutSeconds?: number; logins?: Record<string, string> }): Record<string, unknown>;
}

/**
 * Starts the simulator with repository acme/approvals and team acme/phi-approvers (carol and dave active).
 *
 * @example
 * const gh = await startApprovalsGitHub(); startStack({ approvals: gh.approvalsConfig({ tokenEnv: 'X', pollSeconds: 1 }) })
 */
export async function startApprovalsGitHub(): Promise<ApprovalsGitHub> {
  const webhooks = webhookSender();
  const pulls = simulatorPulls({ webhooks });
  const teams = simulatorTeams();
  const sim = await startGitHubSimulator({ tokens: [{ token: TOKEN, login: 'verdict-gateway' }], plugins: [pulls.plugin, teams.plugin] });
  sim.createRepo('acme', 'approvals').commitFiles('main', { 'README.md': '# approvals\n' }, 'init');
  for (const m of ['carol', 'dave']) teams.addMember('acme', 'phi-approvers', m);
  return {
    sim,
    pulls,
    webhooks,
    approvalsConfig(o) {
      process.env[o.tokenEnv] = TOKEN;
      return {
        provider: 'github',
        hold_timeout_seconds: o.holdTimeoutSeconds ?? 30,
        github: {
          owner: 'acme',
          repo: 'approvals',
          team: { org: 'acme', slug: 'phi-approvers' },
          logins: o.logins ?? { carol: 'user:carol', dave: 'user:dave' },
          base_url: sim.baseUrl,
          token: { env: o.tokenEnv },
          webhook_secret: { value: SECRET },
          poll_seconds: o.pollSeconds,
          // The simulator notifies no one: no need for octokit's 3 s between PRs and comments.
          notifications_per_minute: 6000,
        },
      };
    },
  };
}

/** The secret the simulator signs its webhook deliveries with (approvalsConfig's webhook_secret). */
export const WEBHOOK_SECRET = SECRET;

/**
 * Starts the simulator (carol and dave active members of acme/phi-approvers), then a stack whose
 * approval provider is GitHub with the webhook pointed at the gateway's admin listener.
 *
 * @example
 * const gh = await startGitHubStack(); // bob's DELETE opens a PR; gh.pulls.review(...) approves it
 */
export async function startGitHubStack(options: { pollSeconds?: number } = {}): Promise<GitHubStack> {
  const { sim, pulls, webhooks, approvalsConfig } = await startApprovalsGitHub();
  const stack = await startStack({
    // poll_seconds long by default: the webhook has to be what wakes the gateway
    approvals: approvalsConfig({ tokenEnv: 'VERDICT_E2E_GH_TOKEN', pollSeconds: options.pollSeconds ?? 60, logins: { carol: 'user:carol', dave: 'user:dave', 'bob-gh': 'user:bob' } }),
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
