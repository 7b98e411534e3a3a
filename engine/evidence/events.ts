// The evidence events: what a gateway records (sessions, statements and their decisions, approvals,
// policy loads, start/stop, key rotations, gaps) and the line record that carries one in a stream.
import type { Action, Mask, Reason } from '../decision/decision.ts';

/** Format version of lines and checkpoints. */
export const FORMAT_VERSION = 1;

export interface IdentityRef {
  sub: string;
  email: string | null;
  groups: string[];
  issuer: string | null;
}

export interface GatewayStart {
  instance: string;
  version: string;
  pid?: number;
  host?: string | null;
  /** sha256 of the configuration file with secrets resolved out, when known. */
  config_hash?: string | null;
}
export interface GatewayStop {
  /** 'shutdown' | 'signal:SIGTERM' | ... */
  reason: string;
}
/**
 * Written on the start after a run that ended without its gateway_stop (killed, crashed, power lost):
 * followed by a session_end for each session it left open and an approval_withdrawn for each held request.
 */
export interface GatewayUncleanStop {
  /** The seq of the gateway_start of the run that stopped uncleanly. */
  started_seq: number;
  /** The last line that run (or its recovery) left in the stream, and its ts: the stop came after it. */
  last_seq: number;
  last_ts: string | null;
  open_sessions: number;
  held_approvals: number;
  detail: string;
}
export interface SessionStart {
  session_id: string;
  identity: IdentityRef;
  client_addr: string | null;
  application_name: string | null;
  target: { upstream: string; database: string };
  tls: boolean;
  /** postgres | snowflake | mcp | cli */
  front_door: string;
  /** The client software as it declares itself (MCP: the initialize / envelope clientInfo); absent if the door has none. */
  client?: { name: string; version: string | null } | null;
  /** MCP: the tool the session served (each tool call is a session of its own). */
  tool?: string;
  /** The purpose of use the session declared or its token carries (null: none). */
  purpose?: string | null;
}
export interface SessionEnd {
  session_id: string;
  /** 'client_closed' | 'terminated' | 'auth_failed' | 'shutdown' | ... */
  reason: string;
  statements: number;
  duration_ms: number;
}
/** A statement and its decision; recorded (and durable) before the statement is executed. */
export interface StatementDecided {
  session_id: string;
  decision_id: string;
  /** Statement text, with literals replaced by `?` when the policy asks for redaction (then text_redacted is true). */
  text: string;
  text_redacted: boolean;
  fingerprint: string | null;
  /** Statement kind from the analyzer (select, insert, ddl, ...). */
  kind?: string | null;
  action: Action;
  reasons: Reason[];
  input_hash: string;
  policy_revision: string;
  masks: Mask[];
  /** The approval this execution relies on, when the decision was `approve` and it was granted. */
  approval: { request_id: string; approved_by: string[] } | null;
  cached: boolean;
  /** The purpose of use the decision was made under (connection.purpose of its input; null: none declared). */
  purpose?: string | null;
  /** PHI columns the statement's results show unmasked (the decision's unmasked_phi); `masks` lists the masked ones. */
  unmasked_phi?: { schema: string; table: string; column: string }[];
  /**
   * Where the policy input lives, so the decision can be re-evaluated (replay, impact preview): the input is
   * `{...parts[context], statement: {...parts[statement], text}, now}` with `text` this event's text, and its
   * sha256 over RFC 8785 JSON is `input_hash`. The parts are `policy_input` lines of the same batch.
   */
  input?: PolicyInputRef;
}
/** References to content-addressed parts of a policy input (see StatementDecided.input). */
export interface PolicyInputRef {
  /** sha256 of the `policy_input` holding {version, identity, connection, approval}. */
  context: string;
  /** sha256 of the `policy_input` holding the statement's analysis without its text. */
  statement: string;
  now: string;
}
/**
 * A part of one or more policy inputs, written once per batch before the first statement that refers to it.
 * `hash` is the sha256 of the RFC 8785 JSON of `value` (checked by verify).
 */
export interface PolicyInputPart {
  hash: string;
  value: Record<string, unknown>;
}
/**
 * One parameter of an execution. Raw: `value` (text as the client sent it, null for SQL NULL) or `binary`
 * (base64 of a binary-format value). Sensitive (the decision's sensitive_parameters): `hmac_sha256`, the hex
 * HMAC-SHA256 of the value's bytes under the key named by the execution's `key_id`; a NULL stays `value: null`.
 */
export type ExecutionParameter = { position: number; value: string | null } | { position: number; binary: string } | { position: number; hmac_sha256: string };

/**
 * One execution of a decided statement with its parameters (a PostgreSQL Bind, an MCP query's params,
 * Snowflake binds), recorded before it runs. Its statement_result carries the same execution_id.
 */
export interface StatementExecution {
  session_id: string;
  decision_id: string;
  execution_id: string;
  parameters: ExecutionParameter[];
  /** Names the HMAC key of hashed parameters (first 16 hex digits of HMAC-SHA256(key, "verdict key id")); null when none is hashed. */
  key_id: string | null;
}

/**
 * What the client was sent for one statement: the digest of the delivered rows (engine/evidence/response.ts)
 * and, where the decision asked (capture_rows), the rows themselves encrypted to the auditors' keys.
 */
export interface StatementResponse {
  session_id: string;
  decision_id: string;
  execution_id?: string;
  /** sha256 (hex) over the delivered rows framed as DataRow bodies; rows and bytes of that framing. */
  sha256: string;
  rows: number;
  bytes: number;
  /** The captured rows: a JWE (General JSON serialization) to the auditor keys, how many rows it holds, whether it was cut. */
  encrypted: { jwe: Record<string, unknown>; rows: number; truncated: boolean } | null;
}

/** What happened when a decided statement ran (or was refused); refers to its decision by id. */
export interface StatementResult {
  session_id: string;
  decision_id: string;
  /** The execution this result ends (see StatementExecution), when the statement ran with parameters. */
  execution_id?: string;
  /** ok | error | refused | cancelled */
  outcome: string;
  rows: number | null;
  duration_ms: number;
  sqlstate: string | null;
  command_tag?: string | null;
  /**
   * What the client was sent, when no rows are kept encrypted for it: the digest a statement_response would
   * carry (sha256, rows, bytes), folded into the result so a statement costs one evidence line fewer. A
   * statement whose rows are kept (capture_rows with auditor keys) has a statement_response line instead.
   */
  response?: ResponseDigest;
}
/** The digest of delivered rows (docs/evidence-format.md § Responses): sha256 (hex) over the rows framed as DataRow bodies, their count, the framing's length in bytes. */
export interface ResponseDigest {
  sha256: string;
  rows: number;
  bytes: number;
}
export interface ApprovalRequested {
  request_id: string;
  session_id: string | null;
  decision_id: string | null;
  /** sha256 of the approval subject (statement, parameters, requester, target). */
  subject_hash: string;
  approvers: string[];
  min_approvals: number;
  expires_at: string;
  link?: string | null;
  /** hold (a client waits on it) | rerun (the client asks again once approved) | break_glass (it already ran). */
  mode?: string;
}
export interface ApprovalGranted {
  request_id: string;
  approved_by: string[];
  review_ids: string[];
}
export interface ApprovalRejected {
  request_id: string;
  by: string;
  reason: string;
}
export interface ApprovalExpired {
  request_id: string;
}
/** A request ended without a decision: its requester withdrew it, or the client waiting on it is gone. It will not run. */
export interface ApprovalWithdrawn {
  request_id: string;
  /** Who withdrew it (the requester's user name), null when the gateway closed it. */
  by: string | null;
  reason: string;
}
export interface PolicyBundleLoaded {
  revision: string;
  previous_revision: string | null;
  /** sha256 of the bundle archive, when known. */
  digest?: string | null;
  signed_by?: string | null;
  /** The signed revision sequence (monotonic), when the bundle was signature-checked. */
  sequence?: number | null;
  /** The signed bundle says it is an explicit rollback to an earlier revision. */
  rollback?: boolean;
  /** Where the gateway fetched it from. */
  source?: string;
}
/** A bundle the gateway refused (signature, rollback, manifest, compile or fetch failure); the last good one keeps serving. */
export interface PolicyBundleRejected {
  reason: string;
  source: string;
  /** The refused bundle's revision, when it could be read. */
  revision?: string | null;
  /** The revision still serving. */
  active_revision: string | null;
}
/** Announces the key that signs this stream's checkpoints from this line on (also the first line of a stream). */
export interface KeyRotation {
  kid: string;
  /** RFC 7638 thumbprint (base64url sha256) of the public JWK. */
  thumbprint: string;
  previous_kid: string | null;
  /** Repository path of the key set that publishes the key. */
  keys_path: string;
  /**
   * The rule this writer follows for rotations: 'signed_by_previous_key' (every later rotation of the stream
   * carries an `endorsement`). Absent on lines of writers that predate endorsements.
   */
  rotations?: string;
  /** Compact JWS by the previous key over this rotation (engine/evidence/rotation.ts); absent on a stream's first key. */
  endorsement?: string;
}
/**
 * The gateway ended a session because the server's answers could not be attributed to what was decided
 * (a row, command or setting outside the session model; docs/session-model.md). Nothing of that answer
 * reached the client.
 */
export interface SessionBreach {
  session_id: string;
  reason: string;
}
/** An explicit statement that something may be missing, and what. */
export interface Gap {
  /** torn_tail | spool_corrupt | spool_write_failed | ... */
  reason: string;
  /** Last sequence number known good before the loss. */
  after_seq: number;
  /** Events known to be lost, or null when the number cannot be known. */
  lost_events: number | null;
  discarded_bytes: number;
  detail: string;
}

/** Every event type and its data. */
export interface EventDataByType {
  gateway_start: GatewayStart;
  gateway_stop: GatewayStop;
  gateway_unclean_stop: GatewayUncleanStop;
  session_start: SessionStart;
  session_end: SessionEnd;
  statement: StatementDecided;
  statement_execution: StatementExecution;
  statement_result: StatementResult;
  statement_response: StatementResponse;
  session_breach: SessionBreach;
  approval_requested: ApprovalRequested;
  approval_granted: ApprovalGranted;
  approval_rejected: ApprovalRejected;
  approval_expired: ApprovalExpired;
  approval_withdrawn: ApprovalWithdrawn;
  policy_bundle_loaded: PolicyBundleLoaded;
  policy_bundle_rejected: PolicyBundleRejected;
  policy_input: PolicyInputPart;
  key_rotation: KeyRotation;
  gap: Gap;
}
export type EventType = keyof EventDataByType;

/** An event before the writer puts it in a stream: `{ type, data }`. */
export type EvidenceEvent = { [K in EventType]: { type: K; data: EventDataByType[K] } }[EventType];

/** One line of a stream file, as specified in docs/evidence-format.md § Lines. */
export type EvidenceRecord = {
  [K in EventType]: {
    v: typeof FORMAT_VERSION;
    stream: string;
    seq: number;
    /** UTC, millisecond precision: 2026-01-05T10:00:00.000Z; never decreases within a stream. */
    ts: string;
    /** sha256 of the previous line (its canonical JSON); null on seq 1. */
    prev: string | null;
    type: K;
    data: EventDataByType[K];
  };
}[EventType];

// Field checks, by type. A tiny table instead of a schema library: it runs on every line the verifier
// reads (≥ 100,000 lines/s is the target) and documents the required fields in one place.
type Tag = 's' | 's?' | 'n' | 'n?' | 'b' | 'a' | 'o' | 'o?' | 'action';
const SPEC: { [K in EventType]: Record<string, Tag> } = {
  gateway_start: { instance: 's', version: 's' },
  gateway_stop: { reason: 's' },
  gateway_unclean_stop: { started_seq: 'n', last_seq: 'n', last_ts: 's?', open_sessions: 'n', held_approvals: 'n', detail: 's' },
  session_start: { session_id: 's', identity: 'o', client_addr: 's?', application_name: 's?', target: 'o', tls: 'b', front_door: 's' },
  session_end: { session_id: 's', reason: 's', statements: 'n', duration_ms: 'n' },
  statement: {
    session_id: 's',
    decision_id: 's',
    text: 's',
    text_redacted: 'b',
    fingerprint: 's?',
    action: 'action',
    reasons: 'a',
    input_hash: 's',
    policy_revision: 's',
    masks: 'a',
    approval: 'o?',
    cached: 'b',
  },
  statement_execution: { session_id: 's', decision_id: 's', execution_id: 's', parameters: 'a', key_id: 's?' },
  statement_result: { session_id: 's', decision_id: 's', outcome: 's', rows: 'n?', duration_ms: 'n', sqlstate: 's?' },
  statement_response: { session_id: 's', decision_id: 's', sha256: 's', rows: 'n', bytes: 'n', encrypted: 'o?' },
  session_breach: { session_id: 's', reason: 's' },
  approval_requested: { request_id: 's', session_id: 's?', decision_id: 's?', subject_hash: 's', approvers: 'a', min_approvals: 'n', expires_at: 's' },
  approval_granted: { request_id: 's', approved_by: 'a', review_ids: 'a' },
  approval_rejected: { request_id: 's', by: 's', reason: 's' },
  approval_expired: { request_id: 's' },
  approval_withdrawn: { request_id: 's', by: 's?', reason: 's' },
  policy_bundle_loaded: { revision: 's', previous_revision: 's?' },
  policy_bundle_rejected: { reason: 's', source: 's', active_revision: 's?' },
  policy_input: { hash: 's', value: 'o' },
  key_rotation: { kid: 's', thumbprint: 's', previous_kid: 's?', keys_path: 's' },
  gap: { reason: 's', after_seq: 'n', lost_events: 'n?', discarded_bytes: 'n', detail: 's' },
};
const ACTION_SET = new Set(['allow', 'mask', 'approve', 'deny']);

export const EVENT_TYPES = Object.keys(SPEC) as EventType[];

function tagOk(tag: Tag, v: unknown): boolean {
  switch (tag) {
    case 's':
      return typeof v === 'string';
    case 's?':
      return v === null || typeof v === 'string';
    case 'n':
      return typeof v === 'number' && Number.isFinite(v);
    case 'n?':
      return v === null || (typeof v === 'number' && Number.isFinite(v));
    case 'b':
      return typeof v === 'boolean';
    case 'a':
      return Array.isArray(v);
    case 'o':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'o?':
      return v === null || (typeof v === 'object' && !Array.isArray(v));
    case 'action':
      return typeof v === 'string' && ACTION_SET.has(v);
  }
}

/**
 * Checks an event's type and required data fields; returns the problem, or null when it is well-formed.
 * Extra data fields are allowed (the format may grow); missing or mistyped required ones are not.
 *
 * @example
 * eventProblem({ type: 'gateway_stop', data: {} }) // 'gateway_stop.data.reason: expected string'
 */
export function eventProblem(type: unknown, data: unknown): string | null {
  if (typeof type !== 'string' || !Object.hasOwn(SPEC, type)) return `unknown event type ${JSON.stringify(type)}`;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return `${type}.data: expected an object`;
  const spec = SPEC[type as EventType];
  const d = data as Record<string, unknown>;
  for (const field in spec) {
    const tag = spec[field]!;
    if (!tagOk(tag, d[field])) return `${type}.data.${field}: expected ${describe(tag)}`;
  }
  return null;
}

function describe(tag: Tag): string {
  const names: Record<Tag, string> = {
    s: 'string',
    's?': 'string or null',
    n: 'number',
    'n?': 'number or null',
    b: 'boolean',
    a: 'array',
    o: 'object',
    'o?': 'object or null',
    action: 'allow|mask|approve|deny',
  };
  return names[tag];
}

const ENVELOPE_KEYS = ['data', 'prev', 'seq', 'stream', 'ts', 'type', 'v'];
/** UTC timestamps exactly as Date.prototype.toISOString() writes them for years 0000-9999. */
export const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Checks the envelope and data of a parsed line; returns the problem or null.
 *
 * @example
 * recordProblem(JSON.parse(line)) // null for a well-formed line
 */
export function recordProblem(r: unknown): string | null {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return 'a line must be a JSON object';
  const o = r as Record<string, unknown>;
  // Counting with for-in avoids allocating Object.keys() per line (this runs on every verified line).
  let n = 0;
  for (const _ in o) n++;
  if (n !== ENVELOPE_KEYS.length || !('data' in o && 'prev' in o && 'seq' in o && 'stream' in o && 'ts' in o && 'type' in o && 'v' in o))
    return `a line has exactly the fields ${ENVELOPE_KEYS.join(', ')}; found ${Object.keys(o).sort().join(', ')}`;
  if (o.v !== FORMAT_VERSION) return `v: expected ${FORMAT_VERSION}`;
  if (typeof o.stream !== 'string') return 'stream: expected string';
  if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 1) return 'seq: expected an integer ≥ 1';
  if (typeof o.ts !== 'string' || o.ts.length !== 24 || !TIMESTAMP.test(o.ts)) return 'ts: expected YYYY-MM-DDTHH:MM:SS.sssZ';
  if (o.prev !== null && (typeof o.prev !== 'string' || o.prev.length !== 64 || !HEX64.test(o.prev))) return 'prev: expected null or 64 hex digits';
  return eventProblem(o.type, o.data);
}
