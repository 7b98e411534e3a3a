// Posts the impact report on the policy pull request: one comment, found again by its hidden marker and
// updated on each push rather than repeated (GitHub REST: issue comments; a pull request is an issue).
import type { GitHubClient } from '../github/client.ts';
import { IMPACT_MARKER } from './impact.ts';

/**
 * Creates or updates the impact comment on pull request `pull` of owner/repo; returns its URL.
 *
 * @example
 * await postImpactComment(client, { owner: 'acme', repo: 'policies', pull: 42, body: impactMarkdown(report) });
 */
export async function postImpactComment(client: GitHubClient, target: { owner: string; repo: string; pull: number; body: string }): Promise<{ url: string; updated: boolean }> {
  const { owner, repo, pull, body } = target;
  if (!body.includes(IMPACT_MARKER)) throw new Error('the impact comment must carry its marker');
  const me = await client.request('GET /user').then((r) => r.data.login as string).catch(() => null);
  const comments = await client.paginate('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: pull, per_page: 100 });
  const mine = comments.find((c) => (c.body ?? '').includes(IMPACT_MARKER) && (me === null || c.user?.login === me));
  if (mine) {
    const r = await client.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', { owner, repo, comment_id: mine.id, body });
    return { url: r.data.html_url, updated: true };
  }
  const r = await client.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner, repo, issue_number: pull, body });
  return { url: r.data.html_url, updated: false };
}
