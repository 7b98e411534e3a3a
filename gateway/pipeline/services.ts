// What a pipeline session is given: the gateway's services it uses, and who it serves through which door
// (shared by the session, its admission and its evidence record).
import type { Engine } from '../../engine/engine.ts';
import type { MaskContext } from '../../engine/masking/methods.ts';
import type { Connection } from '../../engine/policy/input.ts';
import type { ApprovalProvider } from '../approvals/provider.ts';
import type { EvidenceWriter } from '../evidence/writer.ts';
import type { Logger } from '../ops/log.ts';
import type { GatewayMetrics } from '../ops/metrics.ts';

/** What a pipeline session uses from the gateway. */
export interface PipelineServices {
  /** The engine for an upstream (it knows that upstream's catalog). */
  engine(upstream: string): Engine;
  /** null when evidence is disabled in the config. */
  evidence: EvidenceWriter | null;
  metrics: GatewayMetrics;
  log: Logger;
  approvals: ApprovalProvider;
  /** Its hash key also keys the hashes of sensitive parameters in evidence (through a derived key). */
  maskContext?: MaskContext;
}

/** Who is asking, through which door, for which upstream. */
export interface PipelineSessionOptions {
  identity: { sub: string; username: string; email: string | null; groups: string[]; issuer: string | null; expiresAt: Date };
  upstream: string;
  database: string;
  frontDoor: Connection['front_door'];
  /** The upstream's kind (connection.engine in the policy input). Default postgres. */
  engine?: Connection['engine'];
  clientAddr: string | null;
  applicationName: string | null;
  tls: boolean;
  /** The door's code for a refusal, recorded as the result's `sqlstate` (PostgreSQL: 42501); null if it has none. */
  refusalCode: string | null;
  /** How long a held statement waits for its approval. */
  holdTimeoutSeconds: number;
  /** The client software as it declares itself (MCP clientInfo), for evidence. */
  client?: { name: string; version: string | null } | null;
  /** MCP: the tool this session serves, for evidence. */
  tool?: string;
  /** The purpose of use the session declared (or its token carries); a statement's leading comment overrides it. */
  purpose?: string | null;
}
