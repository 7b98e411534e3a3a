// The policy input document (schema version 1): who asks, over which connection, what the statement does.
// Documented in docs/decision-contract.md; change both together and bump INPUT_VERSION.
import { canonicalJson, sha256Hex } from '../evidence/canonical.ts';
import type { StatementAnalysis } from '../sql/types.ts';

export const INPUT_VERSION = 2;

export interface Identity {
  sub: string;
  email: string | null;
  groups: string[];
  issuer: string | null;
  /** RFC 3339, or null when the identity does not expire (CLI, tests). */
  expires_at: string | null;
}

export interface Connection {
  name: string;
  engine: 'postgres' | 'snowflake';
  database: string | null;
  front_door: 'postgres' | 'snowflake' | 'mcp' | 'cli';
  client_addr: string | null;
  application_name: string | null;
}

/** An approval the gateway has already verified for exactly this statement. */
export interface ApprovalInput {
  request_id: string;
  approved_by: string[];
  review_ids: string[];
}

export interface PolicyInput {
  version: number;
  identity: Identity;
  connection: Connection;
  statement: StatementAnalysis & { fingerprint: string | null; index: number; count: number };
  approval: ApprovalInput | null;
  /** RFC 3339 time of the decision; policies read time from here (or time.now_ns, which returns it). */
  now: string;
}

/** Fills in what a caller may leave out of an identity. */
export function normalizeIdentity(id: Partial<Identity> & { sub: string }): Identity {
  return {
    sub: id.sub,
    email: id.email ?? null,
    groups: [...new Set(id.groups ?? [])].sort(),
    issuer: id.issuer ?? null,
    expires_at: id.expires_at ?? null,
  };
}

/** Fills in what a caller may leave out of a connection. */
export function normalizeConnection(c: Partial<Connection> = {}): Connection {
  return {
    name: c.name ?? 'default',
    engine: c.engine ?? 'postgres',
    database: c.database ?? null,
    front_door: c.front_door ?? 'cli',
    client_addr: c.client_addr ?? null,
    application_name: c.application_name ?? null,
  };
}

export function buildInput(
  analysis: StatementAnalysis,
  fp: string | null,
  index: number,
  count: number,
  ctx: { identity: Identity; connection: Connection; approval?: ApprovalInput | null },
  now: Date,
): PolicyInput {
  return {
    version: INPUT_VERSION,
    identity: ctx.identity,
    connection: ctx.connection,
    statement: { ...analysis, fingerprint: fp, index, count },
    approval: ctx.approval ?? null,
    now: now.toISOString(),
  };
}

/** sha256 (hex) over the RFC 8785 canonical JSON of a policy input. */
export function inputHash(input: PolicyInput): string {
  // The evidence module's RFC 8785 serializer: the same bytes as the `canonicalize` package, ~40% faster.
  return sha256Hex(canonicalJson(input));
}
