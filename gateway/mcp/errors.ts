// The MCP door's errors: a refused or failed tool call (ToolRefusal, sent as a tool error with
// structuredContent), its details, and named constructors for the ones the door raises itself, so each status
// and rule is written once; SQLSTATEs come from the shared table (engine/sqlstate.ts, PostgreSQL Appendix A).

import { SqlState } from '../../engine/sqlstate.ts';

/** Why a tool call was refused or failed: what a tool error carries (docs: README "The MCP door"). */
export interface RefusalDetails {
  status: 'denied' | 'approval_required' | 'error' | 'invalid';
  /** The policy rule that decided (e.g. 'guards.unbounded_write'), or the door's own ('mcp.session_object'). */
  rule: string | null;
  decision_id: string | null;
  /** For approval_required: the filed request and where an approver sees it. */
  request_id?: string;
  link?: string;
  /** For error: PostgreSQL's SQLSTATE (data-dependent classes as 22000 when masked columns are read). */
  sqlstate?: string;
  /** What the agent can do next. */
  next?: string;
}

export class ToolRefusal extends Error {
  override name = 'ToolRefusal';
  constructor(
    message: string,
    readonly details: RefusalDetails,
  ) {
    super(message);
  }
}

/** Named constructors for the refusals the door raises itself. */
export const toolError = {
  /** 53300 too_many_connections: a concurrency limit (the gateway's or the caller's) is reached. */
  tooManyConnections: (message: string) => new ToolRefusal(message, { status: 'error', rule: null, decision_id: null, sqlstate: SqlState.TooManyConnections }),
  /** 08006 connection_failure: the upstream could not be reached or its session cannot be checked. */
  connectionFailure: (message: string) => new ToolRefusal(message, { status: 'error', rule: null, decision_id: null, sqlstate: SqlState.ConnectionFailure }),
  /** The decision could not be made durable, so nothing ran (rule evidence.unavailable). */
  evidenceUnavailable: (decisionId: string) =>
    new ToolRefusal('Verdict cannot record evidence right now, so nothing runs; try again shortly', { status: 'error', rule: 'evidence.unavailable', decision_id: decisionId }),
  /** The caller asked for something that does not exist or is not well-formed; `next` says what to do. */
  invalid: (message: string, next?: string) => new ToolRefusal(message, { status: 'invalid', rule: null, decision_id: null, ...(next ? { next } : {}) }),
};
