// The GitHub webhook endpoint (POST /github/webhook): verifies X-Hub-Signature-256 over the raw body in
// constant time, drops replayed deliveries, and turns pull_request(_review) events into wake-up calls.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, readBody } from '../http.ts';
import { WebhookError } from './errors.ts';

/** What the handler passes on: never proof of anything, only a reason to re-read state over the REST API. */
export interface WebhookEvent {
  /** X-GitHub-Event: "pull_request" or "pull_request_review". */
  name: 'pull_request' | 'pull_request_review';
  /** X-GitHub-Delivery (a uuid). */
  delivery: string;
  action: string | null;
  /** pull_request.number, when present. */
  pullNumber: number | null;
  /** pull_request.head.ref (Verdict's request branches are "verdict/<request id>"), when present. */
  headRef: string | null;
  /** repository.full_name, when present. */
  repository: string | null;
  /** review.user.login of a pull_request_review event: whom to ask GitHub about first, never proof of a review. */
  reviewer: string | null;
  payload: unknown;
}

export interface WebhookHandlerOptions {
  /** The webhook secret; several during a rotation (any one may sign). */
  secret: string | string[];
  /** Called once per verified, new delivery of an accepted event; errors are logged, never answered. */
  onEvent(event: WebhookEvent): void | Promise<void>;
  /** URL path served (default "/github/webhook"); other paths answer 404. */
  path?: string;
  /** Largest body accepted (default 1 MiB; GitHub caps payloads at 25 MB but ours are a few KB). */
  maxBodyBytes?: number;
  /** Delivery ids remembered for deduplication (default 10,000, least recently seen forgotten first). */
  dedupeSize?: number;
  log?: { warn(msg: string): void };
}

/** A Node request handler with counters for metrics and tests. */
export interface WebhookHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  readonly stats: { accepted: number; duplicates: number; badSignature: number; ignored: number; rejected: number };
}

const ACCEPTED = new Set(['pull_request', 'pull_request_review']);

/** A bounded set with least-recently-seen eviction (a Map keeps insertion order; re-insert on hit). */
class DeliveryLru {
  readonly #seen = new Map<string, true>();
  constructor(private readonly max: number) {}
  /** True if `id` was already seen; remembers it either way. */
  check(id: string): boolean {
    const hit = this.#seen.delete(id);
    this.#seen.set(id, true);
    if (this.#seen.size > this.max) this.#seen.delete(this.#seen.keys().next().value as string);
    return hit;
  }
}

/**
 * Checks GitHub's `X-Hub-Signature-256` header against the raw body with each secret, in constant time.
 *
 * @example
 * verifyWebhookSignature(['new-secret', 'old-secret'], rawBody, req.headers['x-hub-signature-256']) // true | false
 */
export function verifyWebhookSignature(secrets: string | string[], body: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !/^sha256=[0-9a-f]{64}$/i.test(header)) return false;
  const given = Buffer.from(header.slice(7).toLowerCase(), 'hex');
  let ok = false;
  // Every secret is tried (no early exit), so timing does not tell which one matched.
  for (const s of Array.isArray(secrets) ? secrets : [secrets]) {
    const expected = createHmac('sha256', s).update(body).digest();
    ok = timingSafeEqual(expected, given) || ok;
  }
  return ok;
}

function reply(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function pick(payload: unknown): Pick<WebhookEvent, 'action' | 'pullNumber' | 'headRef' | 'repository' | 'reviewer'> {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, any>;
  const pr = typeof p.pull_request === 'object' && p.pull_request !== null ? p.pull_request : {};
  return {
    action: typeof p.action === 'string' ? p.action : null,
    pullNumber: typeof pr.number === 'number' ? pr.number : typeof p.number === 'number' ? p.number : null,
    headRef: typeof pr.head?.ref === 'string' ? pr.head.ref : null,
    repository: typeof p.repository?.full_name === 'string' ? p.repository.full_name : null,
    reviewer: typeof p.review?.user?.login === 'string' ? p.review.user.login : null,
  };
}

/**
 * The webhook endpoint as a Node request handler. Answers: 202 accepted, 200 duplicate or ping,
 * 204 an event Verdict does not use, 401 a missing or wrong signature (nothing else happens), 400
 * malformed, 404/405 wrong path or method, 413 too large.
 *
 * @example
 * const approvals = githubApprovals({ ... });
 * const onWebhook = createWebhookHandler({ secret: process.env.GITHUB_WEBHOOK_SECRET!, onEvent: (e) => approvals.wake(e) });
 * http.createServer((req, res) => req.url?.startsWith('/github/') ? onWebhook(req, res) : admin(req, res));
 */
export function createWebhookHandler(options: WebhookHandlerOptions): WebhookHandler {
  const secrets = Array.isArray(options.secret) ? options.secret : [options.secret];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new WebhookError('NO_SECRET', 'the GitHub webhook needs a non-empty secret (set the same one on the GitHub App or repository webhook)');
  }
  const path = options.path ?? '/github/webhook';
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const seen = new DeliveryLru(options.dedupeSize ?? 10_000);
  const warn = options.log?.warn ?? ((m: string) => process.stderr.write(`github webhook: ${m}\n`));
  const stats = { accepted: 0, duplicates: 0, badSignature: 0, ignored: 0, rejected: 0 };

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://webhook.invalid');
    if (url.pathname !== path) {
      stats.rejected++;
      return reply(res, 404, 'Not Found');
    }
    if (req.method !== 'POST') {
      stats.rejected++;
      res.setHeader('allow', 'POST');
      return reply(res, 405, 'Method Not Allowed');
    }
    // Capped whatever content-length says: a sender that lies about it, or sends chunked, is cut off.
    readBody(req, maxBody).then(onBody, (err: unknown) => {
      if (err instanceof BodyTooLargeError) {
        stats.rejected++;
        res.setHeader('connection', 'close');
        reply(res, 413, 'Payload Too Large');
      } else if (!res.headersSent) reply(res, 400, 'Bad Request');
    });
    function onBody(raw: Buffer): void {
      if (!verifyWebhookSignature(secrets, raw, req.headers['x-hub-signature-256'])) {
        stats.badSignature++;
        warn(`rejected a delivery with a missing or wrong X-Hub-Signature-256 from ${req.socket.remoteAddress ?? '?'}`);
        return reply(res, 401, 'signature does not match');
      }
      const name = String(req.headers['x-github-event'] ?? '');
      const delivery = String(req.headers['x-github-delivery'] ?? '');
      if (!name || !delivery) {
        stats.rejected++;
        return reply(res, 400, 'X-GitHub-Event and X-GitHub-Delivery are required');
      }
      // Dedupe only after the signature holds, so forged requests cannot fill or poison the window.
      if (seen.check(delivery)) {
        stats.duplicates++;
        return reply(res, 200, 'duplicate delivery ignored');
      }
      if (name === 'ping') return reply(res, 200, 'pong');
      if (!ACCEPTED.has(name)) {
        stats.ignored++;
        res.writeHead(204);
        res.end();
        return;
      }
      let payload: unknown;
      try {
        payload = JSON.parse(raw.toString('utf8'));
      } catch {
        stats.rejected++;
        return reply(res, 400, 'body is not JSON (set the webhook content type to application/json)');
      }
      stats.accepted++;
      reply(res, 202, 'accepted');
      // A wake-up call only: the provider re-reads the pull request over the REST API before acting.
      try {
        const r = options.onEvent({ name: name as WebhookEvent['name'], delivery, ...pick(payload), payload });
        if (r) r.catch((err: unknown) => warn(`handling delivery ${delivery} failed: ${(err as Error).message}`));
      } catch (err) {
        warn(`handling delivery ${delivery} failed: ${(err as Error).message}`);
      }
    }
  }) as WebhookHandler;
  Object.defineProperty(handler, 'stats', { value: stats, enumerable: true });
  return handler;
}
