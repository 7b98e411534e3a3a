// What the PostgreSQL door needs beyond the shared services: its TLS context, and the registry that routes a
// client's CancelRequest (BackendKeyData) to its session.
import type tls from 'node:tls';
import type { GatewayContext, SessionHandle } from '../context.ts';
import type { RelationCatalogAccess } from './catalog-freshness.ts';

export interface PostgresSessionHandle extends SessionHandle {
  /** The BackendKeyData the gateway gave this client (its own, mapped to the upstream's). */
  readonly key: { processId: number; secretKey: Buffer };
  /** CancelRequest: withdraws a held approval, or cancels the upstream query. */
  cancel(): void;
}

export interface PostgresDoorContext extends GatewayContext {
  tls: tls.SecureContext | null;
  /** This door's live sessions (also in `sessions`). */
  postgresSessions: Set<PostgresSessionHandle>;
  /** Routes a client's CancelRequest to the session whose key matches (constant-time compare). */
  cancel(processId: number, secretKey: Buffer): void;
  /** An upstream's relations as its catalog was loaded: refreshed on demand, versions checked per statement. */
  relationCatalog(upstream: string): RelationCatalogAccess;
}
