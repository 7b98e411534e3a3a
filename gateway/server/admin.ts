// The admin HTTP listener of a gateway: liveness (/healthz), readiness (/readyz), /status, Prometheus /metrics,
// and the GitHub webhook of the approval provider when one is configured. What "ready" means is the caller's.
import http from 'node:http';
import type net from 'node:net';
import type { WebhookHandler } from '../approvals/webhook.ts';
import type { GatewayMetrics } from '../ops/metrics.ts';

/** What the admin listener answers with. */
export interface AdminRoutes {
  /** Serves /github/webhook, when the approval provider takes GitHub webhooks. */
  webhook: WebhookHandler | null;
  /** Whether the replica should get traffic and, when not, why (asked on each /readyz). */
  readiness(): { ready: boolean; why: string };
  /** The /status body (JSON). */
  status(): unknown;
  metrics: GatewayMetrics;
}

/**
 * Starts the admin listener on `listen` and resolves once it listens.
 *
 * @example
 * const { server, address } = await startAdminListener({ host: '127.0.0.1', port: 9090 }, routes)
 */
export async function startAdminListener(
  listen: { host: string; port: number },
  routes: AdminRoutes,
): Promise<{ server: http.Server; address: { host: string; port: number } }> {
  const { webhook, metrics } = routes;
  const admin = http.createServer(async (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (webhook && url === '/github/webhook') return void webhook(req, res);
    if (url === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (url === '/readyz') {
      const { ready, why } = routes.readiness();
      return void res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : `not ready: ${why}\n`);
    }
    if (url === '/status') {
      const body = routes.status();
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n');
    }
    if (url === '/metrics') {
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      return void res.end(await metrics.registry.metrics());
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    admin.once('error', reject);
    admin.listen(listen.port, listen.host, () => resolve());
  });
  const a = admin.address() as net.AddressInfo;
  return { server: admin, address: { host: a.address, port: a.port } };
}
