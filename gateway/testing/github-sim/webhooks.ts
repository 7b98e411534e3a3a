// Outbound webhook deliveries for the GitHub simulator: signed like GitHub signs them (HMAC-SHA256 of the
// raw body in X-Hub-Signature-256), one X-GitHub-Delivery uuid per delivery, and "Redeliver" for replays.
import { createHmac, randomUUID } from 'node:crypto';

export interface WebhookHook {
  url: string;
  /** The hook's secret; an empty string sends no signature header (as GitHub does without a secret). */
  secret: string;
  /** Events this hook subscribes to; ["*"] (the default) is every event. */
  events?: string[];
}

/** One delivery attempt as GitHub's "Recent Deliveries" page shows it. */
export interface WebhookDelivery {
  /** The X-GitHub-Delivery value (a uuid); a redelivery reuses it, as GitHub's does. */
  id: string;
  event: string;
  action: string | null;
  url: string;
  /** The exact bytes sent (what the signature covers). */
  body: string;
  headers: Record<string, string>;
  /** HTTP status the receiver answered, or null when the connection failed. */
  status: number | null;
  error: string | null;
  redelivery: boolean;
}

export interface WebhookSender {
  /** Registers a hook, like POST /repos/{owner}/{repo}/hooks with content_type json. */
  addHook(hook: WebhookHook): void;
  removeHooks(): void;
  /** Sends `payload` as `event` to every subscribed hook; the promise settles when all have answered. */
  deliver(event: string, payload: Record<string, unknown>): Promise<WebhookDelivery[]>;
  /** Sends a recorded delivery again: same delivery id, same bytes, same signature. */
  redeliver(id: string): Promise<WebhookDelivery>;
  /** Every delivery so far, in order. */
  readonly deliveries: readonly WebhookDelivery[];
  /** Resolves when no delivery is in flight (tests await it before asserting). */
  settled(): Promise<void>;
}

/**
 * GitHub's signature header value for a body: "sha256=" + hex HMAC-SHA256 keyed with the hook secret.
 *
 * @example
 * signWebhookBody('s3cret', '{"action":"submitted"}') // 'sha256=5c…'
 */
export function signWebhookBody(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * A webhook sender for the simulator's plugins (pull requests call `deliver` when reviews and PRs change).
 *
 * @example
 * const webhooks = webhookSender();
 * webhooks.addHook({ url: 'http://127.0.0.1:8080/github/webhook', secret: 'whsec' });
 * const pulls = simulatorPulls({ webhooks });
 */
export function webhookSender(options: { timeoutMs?: number } = {}): WebhookSender {
  const hooks: WebhookHook[] = [];
  const deliveries: WebhookDelivery[] = [];
  const inflight = new Set<Promise<unknown>>();
  const timeoutMs = options.timeoutMs ?? 10_000; // GitHub gives a receiver 10 seconds

  async function send(d: Omit<WebhookDelivery, 'status' | 'error'>): Promise<WebhookDelivery> {
    const out: WebhookDelivery = { ...d, status: null, error: null };
    deliveries.push(out);
    try {
      const res = await fetch(d.url, { method: 'POST', headers: d.headers, body: d.body, signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      out.status = res.status;
    } catch (err) {
      out.error = (err as Error).message;
    }
    return out;
  }

  function track<T>(p: Promise<T>): Promise<T> {
    inflight.add(p);
    void p.finally(() => inflight.delete(p)).catch(() => {});
    return p;
  }

  return {
    addHook: (hook) => void hooks.push(hook),
    removeHooks: () => void hooks.splice(0),
    deliveries,
    deliver(event, payload) {
      const body = JSON.stringify(payload);
      const action = typeof payload.action === 'string' ? payload.action : null;
      const targets = hooks.filter((h) => (h.events ?? ['*']).some((e) => e === '*' || e === event));
      return track(
        Promise.all(
          targets.map((h) => {
            const id = randomUUID();
            const headers: Record<string, string> = {
              'content-type': 'application/json',
              'user-agent': 'GitHub-Hookshot/simulator',
              'x-github-event': event,
              'x-github-delivery': id,
              'x-github-hook-id': '1',
            };
            if (h.secret) headers['x-hub-signature-256'] = signWebhookBody(h.secret, body);
            return send({ id, event, action, url: h.url, body, headers, redelivery: false });
          }),
        ),
      );
    },
    redeliver(id) {
      const first = deliveries.find((d) => d.id === id);
      if (!first) return Promise.reject(new Error(`no webhook delivery ${id}`));
      return track(send({ ...first, redelivery: true }));
    },
    async settled() {
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
}
