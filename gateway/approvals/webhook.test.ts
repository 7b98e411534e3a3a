// The webhook endpoint over real HTTP: only correctly signed deliveries act, each delivery acts once,
// bodies are bounded, and events Verdict does not use are acknowledged without acting.
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { signWebhookBody } from '../testing/github-sim/webhooks.ts';
import { createWebhookHandler, verifyWebhookSignature, type WebhookEvent, type WebhookHandlerOptions } from './webhook.ts';

const SECRET = 'whsec_unit';
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function serve(o: Partial<WebhookHandlerOptions> = {}) {
  const events: WebhookEvent[] = [];
  const handler = createWebhookHandler({ secret: SECRET, onEvent: (e) => void events.push(e), log: { warn() {} }, ...o });
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = async (body: string, headers: Record<string, string>, path = '/github/webhook', method = 'POST') => {
    const res = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: method === 'POST' ? body : null });
    return { status: res.status, text: await res.text() };
  };
  return { events, handler, post, base };
}

const payload = JSON.stringify({ action: 'submitted', review: { id: 1, state: 'approved', user: { login: 'carol' } }, pull_request: { number: 7, head: { ref: 'verdict/req-abc' } }, repository: { full_name: 'acme/approvals' } });
const signed = (body: string, event = 'pull_request_review', delivery: string = crypto.randomUUID(), secret = SECRET) => ({
  'x-github-event': event,
  'x-github-delivery': delivery,
  'x-hub-signature-256': signWebhookBody(secret, body),
});

describe('github webhook endpoint', () => {
  it('accepts a signed pull_request_review (202) and passes on what identifies the request', async () => {
    const { events, post } = await serve();
    expect(await post(payload, signed(payload, 'pull_request_review', 'd-1'))).toMatchObject({ status: 202 });
    expect(events).toEqual([
      { name: 'pull_request_review', delivery: 'd-1', action: 'submitted', pullNumber: 7, headRef: 'verdict/req-abc', repository: 'acme/approvals', reviewer: 'carol', payload: JSON.parse(payload) },
    ]);
  });

  it('refuses missing, malformed, wrong-secret and body-altered signatures with 401 and never acts', async () => {
    const { events, post, handler } = await serve();
    const h = signed(payload);
    expect((await post(payload, { ...h, 'x-hub-signature-256': '' })).status).toBe(401);
    expect((await post(payload, { 'x-github-event': 'pull_request', 'x-github-delivery': 'x' })).status).toBe(401);
    expect((await post(payload, { ...h, 'x-hub-signature-256': 'sha1=abc' })).status).toBe(401);
    expect((await post(payload, signed(payload, 'pull_request_review', 'd-2', 'wrong'))).status).toBe(401);
    expect((await post(`${payload} `, h)).status).toBe(401); // the signature covers the raw bytes
    expect(events).toHaveLength(0);
    expect(handler.stats.badSignature).toBe(5);
    // A forged delivery id does not poison deduplication for the real one.
    expect((await post(payload, { ...signed(payload, 'pull_request_review', 'd-3', 'wrong') })).status).toBe(401);
    expect((await post(payload, signed(payload, 'pull_request_review', 'd-3'))).status).toBe(202);
  });

  it('deduplicates X-GitHub-Delivery within a bounded window', async () => {
    const { events, post } = await serve({ dedupeSize: 2 });
    expect((await post(payload, signed(payload, 'pull_request', 'a'))).status).toBe(202);
    expect((await post(payload, signed(payload, 'pull_request', 'a'))).status).toBe(200);
    await post(payload, signed(payload, 'pull_request', 'b'));
    await post(payload, signed(payload, 'pull_request', 'c')); // evicts a
    expect((await post(payload, signed(payload, 'pull_request', 'a'))).status).toBe(202);
    expect(events.map((e) => e.delivery)).toEqual(['a', 'b', 'c', 'a']);
  });

  it('acknowledges ping and unused events without acting; 404/405 elsewhere', async () => {
    const { events, post, handler } = await serve();
    expect((await post('{"zen":"x"}', signed('{"zen":"x"}', 'ping'))).status).toBe(200);
    expect((await post(payload, signed(payload, 'push'))).status).toBe(204);
    expect((await post(payload, signed(payload), '/other')).status).toBe(404);
    expect((await post('', {}, '/github/webhook', 'GET')).status).toBe(405);
    expect((await post('not json', signed('not json'))).status).toBe(400);
    expect(events).toHaveLength(0);
    expect(handler.stats.ignored).toBe(1);
  });

  it('bounds the body, whatever content-length says', async () => {
    const { events, post, base } = await serve({ maxBodyBytes: 1024 });
    const big = JSON.stringify({ pad: 'x'.repeat(4096) });
    expect((await post(big, signed(big))).status).toBe(413);
    // A chunked body (no content-length) is cut off at the limit as well.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${base}/github/webhook`, { method: 'POST', headers: { ...signed(big), 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write('x'.repeat(512));
      req.end();
    });
    expect(status).toBe(413);
    expect(events).toHaveLength(0);
  });

  it('verifies with any of several secrets during a rotation, and requires a secret', () => {
    const body = Buffer.from(payload);
    expect(verifyWebhookSignature(['new', 'old'], body, signWebhookBody('old', body))).toBe(true);
    expect(verifyWebhookSignature(['new', 'old'], body, signWebhookBody('other', body))).toBe(false);
    expect(verifyWebhookSignature('new', body, undefined)).toBe(false);
    expect(() => createWebhookHandler({ secret: '', onEvent() {} })).toThrow(expect.objectContaining({ code: 'NO_SECRET' }));
  });

  it('keeps answering when onEvent throws', async () => {
    const { post } = await serve({ onEvent: () => Promise.reject(new Error('boom')) });
    expect((await post(payload, signed(payload))).status).toBe(202);
  });
});
