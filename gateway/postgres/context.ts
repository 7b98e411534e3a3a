// What every client session shares: configuration, the engines, identity, approvals, upstream access,
// the registry of live sessions (for CancelRequest and shutdown), logs and metrics.
import type tls from 'node:tls';
import type { Engine } from '../../engine/engine.ts';
import type { MaskContext } from '../../engine/masking/methods.ts';
import type { ApprovalProvider } from '../approvals/provider.ts';
import type { EvidenceWriter } from '../evidence/writer.ts';
import type { VerdictConfig } from '../config/schema.ts';
import type { IdentityValidator } from '../identity/validator.ts';
import type { Logger } from '../ops/log.ts';
import type { GatewayMetrics } from '../ops/metrics.ts';
import type { ErrorFields } from './protocol/index.ts';
import type { UpstreamConnection } from '../upstream/postgres/upstream.ts';

export interface SessionHandle {
  readonly id: number;
  /** The BackendKeyData the gateway gave this client (its own, mapped to the upstream's). */
  readonly key: { processId: number; secretKey: Buffer };
  /** CancelRequest: withdraws a held approval, or cancels the upstream query. */
  cancel(): void;
  /** Ends the session with a FATAL error (shutdown, token expiry). */
  terminate(fields: ErrorFields): void;
  /** true while a statement is in flight or waiting for approval. */
  readonly busy: boolean;
}

export interface GatewayContext {
  config: VerdictConfig;
  /** The engine for an upstream (it knows that upstream's catalog). */
  engine(upstream: string): Engine;
  /** 'schema.table.column' → 'tableOid:attnum' of an upstream's columns (RowDescription ground truth). */
  originsOf(upstream: string): ReadonlyMap<string, string> | undefined;
  /** DDL ran through the gateway: re-read the upstream's catalog soon. */
  catalogChanged(upstream: string): void;
  validator: IdentityValidator;
  approvals: ApprovalProvider;
  /** null when evidence is disabled in the config. */
  evidence: EvidenceWriter | null;
  log: Logger;
  metrics: GatewayMetrics;
  tls: tls.SecureContext | null;
  maskContext: MaskContext;
  sessions: Set<SessionHandle>;
  /** Opens the upstream session; `role` becomes the session's default role (see connectUpstream). */
  connect(upstream: string, startup: Record<string, string>, role?: string | null): Promise<UpstreamConnection>;
  /** Routes a client's CancelRequest to the session whose key matches (constant-time compare). */
  cancel(processId: number, secretKey: Buffer): void;
  cancelUpstream(upstream: string, processId: number, secretKey: Buffer): Promise<void>;
}
