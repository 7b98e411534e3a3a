// The OpenAPI checker itself: it must reject what GitHub would not send, or passing simulator tests mean nothing.
import { describe, expect, it } from 'vitest';
import { openApiChecker } from './openapi-check.ts';
import type { RequestRecord } from './simulator.ts';

const headers = { 'x-github-request-id': 'A:B:C:D:E', 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '4999', 'x-ratelimit-reset': '1', etag: 'W/"x"' };
const ref = {
  ref: 'refs/heads/main',
  node_id: 'REF_1',
  url: 'http://127.0.0.1:1/repos/o/r/git/refs/heads/main',
  object: { type: 'commit', sha: 'a'.repeat(40), url: 'http://127.0.0.1:1/repos/o/r/git/commits/' + 'a'.repeat(40) },
};

function record(partial: Partial<RequestRecord>): RequestRecord {
  return {
    seq: 1, at: 0, method: 'GET', path: '/repos/o/r/git/ref/heads/main', route: '/repos/{owner}/{repo}/git/ref/{ref}', status: 200,
    requestBody: undefined, responseBody: ref, responseHeaders: headers, fault: false, actor: 'octo', ...partial,
  };
}

describe('openApiChecker', () => {
  const checker = openApiChecker();

  it('accepts a response that matches the operation schema', () => {
    expect(checker.check(record({}))).toEqual([]);
  });

  it('flags missing required fields, wrong types and short SHAs', () => {
    const { node_id: _, ...noNodeId } = ref;
    expect(checker.check(record({ responseBody: noNodeId })).join()).toMatch(/node_id/);
    expect(checker.check(record({ responseBody: { ...ref, object: { ...ref.object, sha: 'abc' } } })).join()).toMatch(/fewer than 40/);
  });

  it('flags undocumented success statuses, unknown operations, bad request bodies and missing headers', () => {
    expect(checker.check(record({ status: 201 })).join()).toMatch(/not documented/);
    expect(checker.check(record({ route: '/repos/{owner}/{repo}/git/nope' })).join()).toMatch(/not an operation/);
    expect(
      checker.check(record({ method: 'PATCH', route: '/repos/{owner}/{repo}/git/refs/{ref}', requestBody: { sha: 1 }, responseHeaders: { ...headers } })).join(),
    ).toMatch(/request body/);
    expect(checker.check(record({ responseHeaders: {} })).join()).toMatch(/x-github-request-id/);
  });

  it('checks undocumented error statuses against basic-error', () => {
    expect(checker.check(record({ status: 401, responseBody: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' } }))).toEqual([]);
    expect(checker.check(record({ status: 401, responseBody: { message: 42 } })).join()).toMatch(/basic-error/);
  });
});
