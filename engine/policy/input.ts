// The policy input document (schema version 1): who asks, over which connection, what the statement does.
// Documented in docs/decision-contract.md; change both together and bump INPUT_VERSION.
import { randomUUID } from 'node:crypto';
import { canonicalJson, canonicalString, sha256Hex } from '../canonical.ts';
import type { BlastRadius, StatementAnalysis } from '../sql/types.ts';

export const INPUT_VERSION = 4;

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
  /**
   * The declared purpose of use (treatment, payment, operations, …): from the client (a startup option, a
   * leading comment, a tool argument, a session parameter) or the identity's token; null when none.
   */
  purpose: string | null;
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
  statement: StatementAnalysis & { fingerprint: string | null; index: number; count: number; blast_radius: BlastRadius | null };
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
    purpose: c.purpose ?? null,
  };
}

/**
 * The policy input for one statement. The statement part is the analysis plus fingerprint, index, count
 * and the measured blast radius — exactly `{ ...analysis, fingerprint, index, count, blast_radius }`, keys
 * in that order.
 *
 * @example
 * const input = buildInput(analysis, fingerprint(sql), 0, 1, { identity, connection }, new Date())
 */
export function buildInput(
  analysis: StatementAnalysis,
  fp: string | null,
  index: number,
  count: number,
  ctx: { identity: Identity; connection: Connection; approval?: ApprovalInput | null; blast_radius?: readonly (BlastRadius | null)[] },
  now: Date,
): PolicyInput {
  return {
    version: INPUT_VERSION,
    identity: ctx.identity,
    connection: ctx.connection,
    statement: statementInput(analysis, fp, index, count, ctx.blast_radius?.[index] ?? null),
    approval: ctx.approval ?? null,
    now: isoTime(now),
  };
}

// `{ ...analysis, fingerprint, index, count }` costs ~5 µs: V8 finds no cached transition for properties
// added after a spread and builds new maps each time (micro-benchmark on a pgbench analysis: spread+3
// 4.8 µs, Object.assign+3 1.1 µs, object literal 0.04 µs). So when the analysis has one of the two key
// orders the engine produces (the analyzer's, and engine.ts withText's for cache hits), the same object
// is written as a literal — same keys, same order, same values. Any other analysis takes the spread.
/**
 * A copy of an analysis with every field listed (faster than a spread of this large object, and the
 * compiler checks that no field is forgotten); `text` may be replaced (a cached analysis, another literal).
 */
export function analysisFields(a: StatementAnalysis, text: string = a.text): StatementAnalysis {
  return {
    text,
    kind: a.kind,
    command: a.command,
    reads: a.reads,
    writes: a.writes,
    has_where: a.has_where,
    where_is_trivial: a.where_is_trivial,
    functions: a.functions,
    predicates_on: a.predicates_on,
    result_columns: a.result_columns,
    unresolved: a.unresolved,
    data_modifying_cte: a.data_modifying_cte,
    creates_table_from_query: a.creates_table_from_query,
    copy: a.copy,
    setting: a.setting,
    setting_value: a.setting_value,
    explain_options: a.explain_options,
    on_conflict: a.on_conflict,
    name: a.name,
    nested: a.nested,
    opaque: a.opaque,
    parse_error: a.parse_error,
    literal_dependent: a.literal_dependent,
    parameters: a.parameters ?? null,
  };
}

function statementInput(a: StatementAnalysis, fingerprint: string | null, index: number, count: number, blastRadius: BlastRadius | null): PolicyInput['statement'] {
  const s = analysisFields(a) as PolicyInput['statement'];
  s.fingerprint = fingerprint;
  s.index = index;
  s.count = count;
  s.blast_radius = blastRadius;
  return s;
}

// Date.prototype.toISOString costs ~1 µs; statements decided in the same millisecond share the string.
let isoMs = NaN;
let isoText = '';
function isoTime(d: Date): string {
  const ms = d.getTime();
  if (ms !== isoMs) {
    isoText = d.toISOString(); // throws RangeError for an invalid date, as before (NaN never equals isoMs)
    isoMs = ms;
  }
  return isoText;
}

/**
 * sha256 (hex) over the RFC 8785 canonical JSON of a policy input: the reference definition, which
 * `inputHash` must always agree with (tests compare them).
 */
export function inputHashReference(input: PolicyInput): string {
  // The evidence module's RFC 8785 serializer: the same bytes as the `canonicalize` package, ~40% faster.
  return sha256Hex(canonicalJson(input));
}

// ---- the input hash from cached fragments ------------------------------------------------------
//
// Every statement's input is hashed for its evidence line: building the input, serializing its 1.1 KB
// canonically and hashing cost ~18 µs per pgbench statement (micro-benchmark: decide 4.9 µs, decide +
// input_hash 23.3 µs), 16% of the gateway's profile. But statements decided from the decision cache share
// everything with the previous one of their shape except `now` and `statement.text`: the same identity,
// connection and approval objects, and an analysis whose other fields are the very values the cache
// holds. JCS sorts keys and serializes each string on its own, so the canonical text of such an input is
// fixed fragments around the escaped `now` and `text`. We cut those fragments once (serializing a copy
// with unique markers in place of the two strings) and afterwards only escape two strings and hash:
// decide + input_hash went from 23.3 to 4.8 µs (with the cheaper buildInput below).
//
// A fragment set is reused only when the input matches it exactly: the same top-level members, the same
// identity/connection/approval objects, and the statement's keys in the same order with identical values
// (===; nested objects by identity) except `text`. Nested objects are compared by identity, not content:
// the engine's decision cache already relies on cached analyses and session contexts not being mutated
// (it replays them by reference), and so does this cache.

interface Fragments {
  connection: Connection;
  approval: ApprovalInput | null;
  version: number;
  /** The statement's keys in enumeration order, and their values (the value at `text` is not used). */
  keys: string[];
  values: unknown[];
  /** canonical = parts[0] + first + parts[1] + second + parts[2], first/second being now/text in key order. */
  parts: [string, string, string];
  nowFirst: boolean;
}

/** A statement shape seen once: fragments are cut on the second sighting, so one-off inputs pay nothing. */
const SEEN = 1;

// identity object → statement.result_columns array (one per cached analysis) → fragments.
// Both maps are weak: entries go when a session's context or a cached analysis does.
const fragmentCache = new WeakMap<object, WeakMap<object, Fragments | typeof SEEN>>();

// Markers no real input contains (a per-process random id; their JSON form is the text itself in quotes).
const NOW_MARK = `\uf8ffverdict-now-${randomUUID()}`;
const TEXT_MARK = `\uf8ffverdict-text-${randomUUID()}`;
const NOW_MARK_JSON = JSON.stringify(NOW_MARK);
const TEXT_MARK_JSON = JSON.stringify(TEXT_MARK);

const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;

function topLevelShapeOk(input: PolicyInput): boolean {
  if (Object.getPrototypeOf(input) !== Object.prototype) return false;
  let n = 0;
  for (const _ in input) n++;
  // Six enumerable members; the five checked by the caller and `now` (a string) are then all of them.
  return n === 6 && typeof input.now === 'string' && isObject(input.statement) && Object.getPrototypeOf(input.statement) === Object.prototype;
}

function matches(f: Fragments, input: PolicyInput): boolean {
  if (input.connection !== f.connection || input.approval !== f.approval || input.version !== f.version || !topLevelShapeOk(input)) return false;
  const s = input.statement as unknown as Record<string, unknown>;
  if (typeof s.text !== 'string') return false;
  const keys = f.keys;
  const values = f.values;
  let i = 0;
  for (const k in s) {
    if (k !== keys[i]) return false;
    if (k !== 'text' && s[k] !== values[i]) return false;
    i++;
  }
  return i === keys.length;
}

/** Cuts the canonical text of `input` around its `now` and `statement.text`; null when it cannot be reused. */
function cutFragments(input: PolicyInput): Fragments | null {
  if (!topLevelShapeOk(input) || Object.keys(input).length !== 6 || input.approval === undefined || typeof input.statement.text !== 'string') return null;
  const s = input.statement as unknown as Record<string, unknown>;
  const keys: string[] = [];
  const values: unknown[] = [];
  for (const k in s) {
    keys.push(k);
    values.push(s[k]);
  }
  if (keys.length !== Object.keys(s).length) return null;
  const probe = { version: input.version, identity: input.identity, connection: input.connection, statement: { ...s, text: TEXT_MARK }, approval: input.approval, now: NOW_MARK };
  let text: string;
  try {
    text = canonicalJson(probe);
  } catch {
    return null;
  }
  const n = text.indexOf(NOW_MARK_JSON);
  const t = text.indexOf(TEXT_MARK_JSON);
  if (n < 0 || t < 0 || n !== text.lastIndexOf(NOW_MARK_JSON) || t !== text.lastIndexOf(TEXT_MARK_JSON)) return null;
  const nowFirst = n < t;
  const [a, aLen, b, bLen] = nowFirst ? [n, NOW_MARK_JSON.length, t, TEXT_MARK_JSON.length] : [t, TEXT_MARK_JSON.length, n, NOW_MARK_JSON.length];
  return {
    connection: input.connection,
    approval: input.approval,
    version: input.version,
    keys,
    values,
    parts: [text.slice(0, a), text.slice(a + aLen, b), text.slice(b + bLen)],
    nowFirst,
  };
}

function hashFromFragments(f: Fragments, input: PolicyInput): string | null {
  const now = canonicalString(input.now);
  const text = canonicalString(input.statement.text);
  if (now === null || text === null) return null; // lone surrogates: let the reference path throw precisely
  const p = f.parts;
  return sha256Hex(f.nowFirst ? p[0] + now + p[1] + text + p[2] : p[0] + text + p[1] + now + p[2]);
}

/**
 * sha256 (hex) over the RFC 8785 canonical JSON of a policy input — the same value as
 * `inputHashReference`, computed from cached fragments when the input repeats a known shape.
 *
 * @example
 * inputHash(buildInput(analysis, fp, 0, 1, { identity, connection }, new Date())) // '3f0a…' (64 hex)
 */
export function inputHash(input: PolicyInput): string {
  const identity = input.identity as unknown;
  const rc = (input.statement as { result_columns?: unknown } | null)?.result_columns;
  if (!isObject(identity) || !isObject(rc)) return inputHashReference(input);
  let byShape = fragmentCache.get(identity);
  const f = byShape?.get(rc);
  if (f !== undefined && f !== SEEN && matches(f, input)) {
    const h = hashFromFragments(f, input);
    if (h !== null) return h;
    return inputHashReference(input);
  }
  if (f === undefined) {
    if (!byShape) fragmentCache.set(identity, (byShape = new WeakMap()));
    byShape.set(rc, SEEN);
    return inputHashReference(input);
  }
  // Seen before (or fragments of another context/approval): cut fragments for this input and keep them.
  const cut = cutFragments(input);
  if (!cut) return inputHashReference(input);
  byShape!.set(rc, cut);
  return hashFromFragments(cut, input) ?? inputHashReference(input);
}

// ---- the input as evidence keeps it ---------------------------------------------------------------
//
// A decision is reproducible only if its input is kept. Whole inputs are ~1.1 KB and nearly all alike: the
// same session context (identity, connection, approval) and, per statement shape, the same analysis. So an
// input is kept as two content-addressed parts plus what varies (the statement's text, which the evidence
// line already holds, and `now`): `{...context, statement: {...statement, text}, now}` — the same canonical
// JSON, so the same input_hash.

/** A content-addressed part of a policy input: sha256 (hex) of the RFC 8785 JSON of `value`. */
export interface InputPart {
  hash: string;
  value: Record<string, unknown>;
}

/** The parts an input is rebuilt from (see rebuildInput). */
export interface InputParts {
  /** {version, identity, connection, approval} */
  context: InputPart;
  /** The statement without `text`: the analysis, fingerprint, index, count, blast_radius. */
  statement: InputPart;
  now: string;
}

const contextParts = new WeakMap<object, WeakMap<object, InputPart>>();
const statementParts = new WeakMap<object, { values: unknown[]; keys: string[]; part: InputPart }>();

function part(value: Record<string, unknown>): InputPart {
  return { hash: sha256Hex(canonicalJson(value)), value };
}

/**
 * Splits a policy input into its content-addressed parts; parts repeat across statements of a session and
 * of a statement shape and are computed once for them (cached by object identity, as inputHash is).
 *
 * @example
 * const { context, statement, now } = inputParts(input); // rebuildInput(context.value, statement.value, input.statement.text, now)
 */
export function inputParts(input: PolicyInput): InputParts {
  let context: InputPart | undefined;
  if (input.approval === null && isObject(input.identity) && isObject(input.connection)) {
    let byConn = contextParts.get(input.identity);
    context = byConn?.get(input.connection);
    if (!context || (context.value.version as number) !== input.version) {
      context = part({ version: input.version, identity: input.identity, connection: input.connection, approval: null });
      if (!byConn) contextParts.set(input.identity, (byConn = new WeakMap()));
      byConn.set(input.connection, context);
    }
  } else {
    context = part({ version: input.version, identity: input.identity, connection: input.connection, approval: input.approval });
  }
  const s = input.statement as unknown as Record<string, unknown>;
  const rc = s.result_columns;
  const keys: string[] = [];
  const values: unknown[] = [];
  for (const k in s) {
    if (k === 'text') continue;
    keys.push(k);
    values.push(s[k]);
  }
  const cached = isObject(rc) ? statementParts.get(rc) : undefined;
  let statement: InputPart;
  if (cached && cached.keys.length === keys.length && cached.keys.every((k, i) => k === keys[i] && cached.values[i] === values[i])) {
    statement = cached.part;
  } else {
    const value: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) value[keys[i]!] = values[i];
    statement = part(value);
    if (isObject(rc)) statementParts.set(rc, { keys, values, part: statement });
  }
  return { context, statement, now: input.now };
}

/**
 * The policy input a decision saw, from its kept parts and the statement's text; its canonical hash is the
 * recorded input_hash when nothing was altered.
 *
 * @example
 * inputHashReference(rebuildInput(ctx, stmt, event.text, event.input.now)) === event.input_hash
 */
export function rebuildInput(context: Record<string, unknown>, statement: Record<string, unknown>, text: string, now: string): PolicyInput {
  return { ...context, statement: { ...statement, text }, now } as unknown as PolicyInput;
}
