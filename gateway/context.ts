// What every front door shares: configuration, the engines, identity, approvals, upstream access, evidence,
// logs and metrics. No door's types: each door adds what only it needs (gateway/postgres/context.ts).
import type { Engine } from '../engine/engine.ts';
import type { MaskContext } from '../engine/masking/methods.ts';
import type { ApprovalProvider } from './approvals/provider.ts';
import type { EvidenceWriter } from './evidence/writer.ts';
import type { VerdictConfig } from './config/schema.ts';
import type { IdentityValidator } from './identity/validator.ts';
import type { Logger } from './ops/log.ts';
import type { GatewayMetrics } from './ops/metrics.ts';
import type { UpstreamConnection } from './upstream/postgres/upstream.ts';

/** A live client session of any door, as the gateway sees it for shutdown. */
export interface SessionHandle {
  readonly id: number;
  /** true while a statement is in flight or waiting for approval. */
  readonly busy: boolean;
  /** Ends the session at once, telling the client why (the gateway is shutting down). */
  shutdown(message: string): void;
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
  maskContext: MaskContext;
  /** Every door's live sessions (shutdown waits for busy ones, then ends them). */
  sessions: Set<SessionHandle>;
  /** Opens an upstream session; `role` becomes the session's default role (see connectUpstream). */
  connect(upstream: string, startup: Record<string, string>, role?: string | null): Promise<UpstreamConnection>;
  /** Sends the upstream a CancelRequest for one of its backends. */
  cancelUpstream(upstream: string, processId: number, secretKey: Buffer): Promise<void>;
}
