// The approval provider interface: an `approve` decision becomes a request bound to the exact statement
// (canonical text + parameters, hashed); providers (local files, GitHub pull requests) say when it is decided,
// and file break-glass statements for review after the fact.
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { ApprovalRequirement, Reason } from '../../engine/decision/decision.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import type { BlastRadius } from '../../engine/sql/types.ts';

export interface Requester {
  sub: string;
  username: string;
  email: string | null;
  groups: string[];
}

/** What an approver approves: exactly this statement, for this requester, on this target. */
export interface ApprovalSubject {
  statement: string;
  /** Bound parameter values (text), in order; [] for simple queries. */
  parameters: (string | null)[];
  fingerprint: string | null;
  requester: Requester;
  target: { upstream: string; database: string };
  reasons: Reason[];
  policy_revision: string;
  requirement: ApprovalRequirement;
  /**
   * What the gateway's analysis says the statement does (not part of the approval hash): its kind, the tables
   * it reads or writes (schema.table), and whether it is an UPDATE/DELETE without an effective WHERE. Absent on
   * requests filed before it was recorded; approvers then see the statement only.
   */
  analysis?: SubjectAnalysis;
  /** The write's measured blast radius, when the policy asked for one; shown to approvers, not bound by the hash. */
  blast_radius?: BlastRadius | null;
}

export interface SubjectAnalysis {
  kind: string;
  tables: string[];
  unfiltered_write: boolean;
  /** The kinds of the statements it runs within it (a DO block's, a function body's, a CTE's), when there are any. */
  nested_kinds?: string[];
}

/**
 * The subject's analysis from the engine's: kind, tables, unfiltered write (a DO block's or CTE's nested
 * statements count too), and the kinds of those nested statements.
 *
 * @example
 * subjectAnalysis(verdict.statements[0]) // { kind: 'delete', tables: ['public.visits'], unfiltered_write: true }
 */
export function subjectAnalysis(a: StatementAnalysis): SubjectAnalysis {
  const all = [a, ...(a.nested ?? [])];
  const tables = new Set<string>();
  for (const s of all) for (const t of [...(s.reads ?? []), ...(s.writes ?? [])]) tables.add(`${t.schema}.${t.table}`);
  const unfiltered = all.some((s) => (s.kind === 'update' || s.kind === 'delete') && (!s.has_where || s.where_is_trivial));
  const nested = [...new Set((a.nested ?? []).map((s) => s.kind))].sort();
  return { kind: a.kind, tables: [...tables].sort(), unfiltered_write: unfiltered, ...(nested.length > 0 ? { nested_kinds: nested } : {}) };
}

export interface ApprovalRequest extends ApprovalSubject {
  id: string;
  created_at: string;
  expires_at: string;
  /** sha256 (hex) of the RFC 8785 canonical form of the subject: what an approval is bound to. */
  hash: string;
  /**
   * Set on a break-glass record: the statement already ran on this stated reason, and the request is its
   * review after the fact (requirement.mode `break_glass`). Never an approval to run anything.
   */
  break_glass?: { reason: string; executed_at: string; evidence?: string };
}

/** What a break-glass record says beyond its subject. */
export interface BreakGlassInput {
  /** The reason the requester stated (the policy's approvals.break_glass message). */
  reason: string;
  /** When the statement ran (default: now). */
  executedAt?: Date;
  /** Evidence reference, e.g. the decision id. */
  evidence?: string;
}

export type ApprovalState =
  | { status: 'pending' }
  | { status: 'approved'; approved_by: string[]; review_ids: string[] }
  | { status: 'rejected'; by: string; reason: string }
  | { status: 'expired' }
  | { status: 'withdrawn' }
  | { status: 'consumed' };

export interface ApprovalProvider {
  readonly name: string;
  /** Files the request; returns it with its id and where a person can see it. */
  create(subject: ApprovalSubject, now?: Date): Promise<{ request: ApprovalRequest; link: string }>;
  state(id: string, now?: Date): Promise<ApprovalState>;
  /** The request as filed and where a person sees it; rejects when there is no such request. */
  request(id: string): Promise<{ request: ApprovalRequest; link: string }>;
  /** Resolves when the request is no longer pending (or the signal aborts: then it is withdrawn). */
  wait(id: string, options: { signal: AbortSignal; timeoutMs: number }): Promise<ApprovalState>;
  /** Marks an approved request used; true only for the first caller (an approval runs once). */
  consume(id: string): Promise<boolean>;
  withdraw(id: string): Promise<void>;
  /** Rerun mode: an approved, unused request for exactly this subject and requester, if any. */
  findApproved(subjectHash: string, requesterSub: string, now?: Date): Promise<ApprovalRequest | null>;
  /**
   * Files the review after the fact of a statement break-glass let run: `subject.requirement` is the policy's
   * (who reviews, mode `break_glass`); the request carries `break_glass` and is never found by findApproved
   * nor usable by consume (the GitHub provider opens a PR labelled break-glass, the local one a request file).
   */
  breakGlass(subject: ApprovalSubject, input: BreakGlassInput): Promise<{ request: ApprovalRequest; link: string }>;
}

/**
 * The hash an approval is bound to: any change to statement, parameters, requester or target changes it.
 *
 * @example
 * subjectHash({ statement: 'DELETE FROM t', parameters: [], ... })
 */
export function subjectHash(s: ApprovalSubject): string {
  const bound = {
    statement: s.statement,
    parameters: s.parameters,
    requester: s.requester.sub,
    target: s.target,
  };
  return createHash('sha256').update(canonicalize(bound) ?? '').digest('hex');
}
