// The typed decision for one statement, and the strict check that turns whatever the policy
// returned into one: anything malformed becomes a deny that says what was wrong, never an allow.
import { randomUUID } from 'node:crypto';
import { inputHash, inputParts, type InputParts, type PolicyInput } from '../policy/input.ts';

export const ACTIONS = ['allow', 'mask', 'approve', 'deny'] as const;
export type Action = (typeof ACTIONS)[number];

export const MASK_METHODS = ['redact', 'partial', 'hash', 'null', 'email', 'year', 'format_preserving'] as const;
export type MaskMethod = (typeof MASK_METHODS)[number];

/**
 * Methods that keep part of the value's shape or content: they apply only to a direct copy of a column,
 * never to a value derived from one (a short derived value would pass through them whole).
 */
export const SHAPE_KEEPING_METHODS: readonly MaskMethod[] = ['partial', 'format_preserving', 'email', 'year'];

/** How the client of an `approve` decision waits: hold (the statement waits) or rerun (it asks again once approved). */
export const APPROVAL_MODES = ['hold', 'rerun'] as const;
/** An approve decision's mode, or `break_glass`: the review after the fact of a statement break-glass let run. */
export type ApprovalMode = (typeof APPROVAL_MODES)[number] | 'break_glass';

/**
 * The reason rule of a statement the policy let run at once on a stated reason (break-glass). An allow or mask
 * decision with it must name in `approval` (mode `break_glass`) who reviews the statement after the fact.
 */
export const BREAK_GLASS_RULE = 'approvals.break_glass';

export interface Reason {
  /** Id of the rule that decided, e.g. `guards.dangerous_function`; `engine.*` for the engine's own. */
  rule: string;
  message: string;
}

export interface Mask {
  column: { schema: string; table: string; column: string };
  /** For a direct copy of the column (see ResultColumn.derived). */
  method: MaskMethod;
  params: Record<string, unknown>;
  /** For any other value derived from the column; never a shape-keeping method. Default: redact. */
  derived?: { method: MaskMethod; params: Record<string, unknown> };
  /**
   * Functions whose result carries none of the column's content: a result column the column reaches only
   * through them (ResultColumn.through) is not masked for it. Default: none.
   */
  content_free?: string[];
}

export interface ApprovalRequirement {
  /** Who approves (or, for break_glass, reviews): `team:<name>`, `group:<name>`, `user:<name>`. */
  approvers: string[];
  min_approvals: number;
  ttl_seconds: number;
  mode: ApprovalMode;
}

/** What the policy decided, validated. */
export interface PolicyDecision {
  action: Action;
  reasons: Reason[];
  masks: Mask[];
  approval: ApprovalRequirement | null;
  /** false when the policy says this decision depends on more than the statement's shape. */
  cacheable: boolean;
  /**
   * Facts the policy asks the gateway to measure before it decides again (MEASURABLE_FACTS, e.g.
   * 'blast_radius'); empty when the decision is final. A gateway that cannot measure keeps this decision,
   * so a policy makes it safe on its own (the default one asks for approval).
   */
  measure: string[];
  /**
   * Bind parameters ($1 = 1) whose values the evidence must not keep readable (they meet PHI): recorded as
   * keyed hashes. 'all' when the policy cannot tell which; empty when none.
   */
  sensitive_parameters: number[] | 'all';
  /**
   * Keep the delivered rows (as masked for the client), at most this many rows and bytes, encrypted to the
   * auditors' keys in the evidence; null when the policy does not ask (only the result's digest is kept).
   */
  capture_rows: { max_rows: number; max_bytes: number } | null;
  /** PHI columns the results show unmasked (for the accounting of disclosures); masked ones are `masks`. */
  unmasked_phi: { schema: string; table: string; column: string }[];
}

/** Facts a policy may ask the gateway to measure (decision.measure; the input carries the results). */
export const MEASURABLE_FACTS = ['blast_radius'] as const;

/** A decision as the gateway and the evidence log see it. */
export interface Decision extends PolicyDecision {
  decision_id: string;
  policy_revision: string;
  /** Statement fingerprint (normalized text without literals), or null when none could be made. */
  fingerprint: string | null;
  /** sha256 (hex) of the RFC 8785 canonical JSON of the policy input; computed on first read. */
  readonly input_hash: string;
  /** true when the decision came from the decision cache. */
  cached: boolean;
  /** The policy input as content-addressed parts (evidence keeps them for replay); computed on first read. */
  readonly input_parts?: InputParts;
}

const RANK: Record<Action, number> = { allow: 0, mask: 1, approve: 2, deny: 3 };

/** The most restrictive of several actions (deny > approve > mask > allow). */
export function strictest(actions: Iterable<Action>): Action {
  let out: Action = 'allow';
  for (const a of actions) if (RANK[a] > RANK[out]) out = a;
  return out;
}

/**
 * The reason rules of the denies the engine produces itself: stable names, recorded in the evidence and
 * matched by replay, so they are written here once.
 */
export const ENGINE_RULES = {
  /** No bundle is loaded (none configured, or none could be loaded). */
  NoBundle: 'engine.no_bundle',
  /** The bundle's WebAssembly or data could not be instantiated. */
  BundleInvalid: 'engine.bundle_invalid',
  /** The bundle has no entrypoint of the name the engine evaluates. */
  EntrypointMissing: 'engine.entrypoint_missing',
  /** The policy threw while evaluating. */
  EvaluationError: 'engine.evaluation_error',
  /** The policy's result is not a valid decision. */
  MalformedDecision: 'engine.malformed_decision',
  /** The statement is larger than the engine analyzes. */
  StatementTooLarge: 'engine.statement_too_large',
} as const;
export type EngineRule = (typeof ENGINE_RULES)[keyof typeof ENGINE_RULES];

/** A deny produced by the engine itself (no bundle, evaluation error, malformed decision, bad input). */
export function engineDeny(rule: EngineRule, message: string): PolicyDecision {
  return { action: 'deny', reasons: [{ rule, message }], masks: [], approval: null, cacheable: false, measure: [], sensitive_parameters: 'all', capture_rows: null, unmasked_phi: [] };
}

type Check<T> = { ok: true; value: T } | { ok: false; error: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === 'string';

/**
 * Validates the policy's result set (opa-wasm `evaluate` output) into a PolicyDecision.
 *
 * @example
 * const d = validatePolicyResult(policy.evaluate(input, 'verdict/decision'));
 * if (!d.ok) return engineDeny(ENGINE_RULES.MalformedDecision, d.error);
 */
export function validatePolicyResult(resultSet: unknown): Check<PolicyDecision> {
  if (!Array.isArray(resultSet) || resultSet.length === 0) {
    return { ok: false, error: 'the policy returned no decision (the entrypoint is undefined for this input)' };
  }
  if (resultSet.length > 1) return { ok: false, error: `the policy returned ${resultSet.length} results, expected one` };
  const first = resultSet[0];
  if (!isObject(first) || !('result' in first)) return { ok: false, error: 'the policy result set has no result' };
  return validateDecisionDocument(first.result);
}

/** Validates one decision document ({action, reasons, masks, approval, cacheable}). */
export function validateDecisionDocument(doc: unknown): Check<PolicyDecision> {
  if (!isObject(doc)) return { ok: false, error: `the decision is not an object (got ${typeName(doc)})` };
  const known = new Set(['action', 'reasons', 'masks', 'approval', 'cacheable', 'measure', 'sensitive_parameters', 'capture_rows', 'unmasked_phi']);
  for (const key of Object.keys(doc)) if (!known.has(key)) return { ok: false, error: `the decision has an unknown field "${key}"` };

  const action = doc.action;
  if (!isString(action) || !(ACTIONS as readonly string[]).includes(action)) {
    return { ok: false, error: `decision.action must be one of ${ACTIONS.join('|')} (got ${JSON.stringify(action)})` };
  }

  const reasons: Reason[] = [];
  const rawReasons = doc.reasons ?? [];
  if (!Array.isArray(rawReasons)) return { ok: false, error: 'decision.reasons must be an array' };
  for (const [i, r] of rawReasons.entries()) {
    if (!isObject(r) || !isString(r.rule) || !isString(r.message) || r.rule === '') {
      return { ok: false, error: `decision.reasons[${i}] must be {rule: string, message: string}` };
    }
    reasons.push({ rule: r.rule, message: r.message });
  }
  if (action !== 'allow' && reasons.length === 0) {
    return { ok: false, error: `a ${action} decision must give at least one reason` };
  }

  const masks: Mask[] = [];
  const rawMasks = doc.masks ?? [];
  if (!Array.isArray(rawMasks)) return { ok: false, error: 'decision.masks must be an array' };
  for (const [i, m] of rawMasks.entries()) {
    const where = `decision.masks[${i}]`;
    if (!isObject(m) || !isObject(m.column)) return { ok: false, error: `${where} must be {column, method, params}` };
    const { schema, table, column } = m.column;
    if (!isString(schema) || !isString(table) || !isString(column)) {
      return { ok: false, error: `${where}.column must be {schema, table, column} strings` };
    }
    if (!isString(m.method) || !(MASK_METHODS as readonly string[]).includes(m.method)) {
      return { ok: false, error: `${where}.method must be one of ${MASK_METHODS.join('|')} (got ${JSON.stringify(m.method)})` };
    }
    const params = m.params ?? {};
    if (!isObject(params)) return { ok: false, error: `${where}.params must be an object` };
    const mask: Mask = { column: { schema, table, column }, method: m.method as MaskMethod, params };
    if (m.derived !== undefined) {
      const dm = m.derived;
      if (!isObject(dm) || !isString(dm.method) || !(MASK_METHODS as readonly string[]).includes(dm.method) || SHAPE_KEEPING_METHODS.includes(dm.method as MaskMethod)) {
        const allowed = MASK_METHODS.filter((x) => !SHAPE_KEEPING_METHODS.includes(x)).join('|');
        return { ok: false, error: `${where}.derived must be {method: ${allowed}, params} (got ${JSON.stringify(dm)})` };
      }
      const dp = dm.params ?? {};
      if (!isObject(dp)) return { ok: false, error: `${where}.derived.params must be an object` };
      mask.derived = { method: dm.method as MaskMethod, params: dp };
    }
    if (m.content_free !== undefined) {
      if (!Array.isArray(m.content_free) || !m.content_free.every(isString)) {
        return { ok: false, error: `${where}.content_free must be an array of function names` };
      }
      mask.content_free = [...(m.content_free as string[])];
    }
    masks.push(mask);
  }
  if (action === 'mask' && masks.length === 0) return { ok: false, error: 'a mask decision must list at least one mask' };

  let approval: ApprovalRequirement | null = null;
  // A break-glass statement runs now; who reviews it afterwards is the policy's to say, never a default.
  const breakGlass = (action === 'allow' || action === 'mask') && reasons.some((r) => r.rule === BREAK_GLASS_RULE);
  if (action === 'approve' || breakGlass) {
    const a = doc.approval;
    if (!isObject(a)) {
      return { ok: false, error: breakGlass ? `a decision with ${BREAK_GLASS_RULE} must carry decision.approval (who reviews it after the fact)` : 'an approve decision must carry decision.approval' };
    }
    if (!Array.isArray(a.approvers) || a.approvers.length === 0 || !a.approvers.every(isString)) {
      return { ok: false, error: 'decision.approval.approvers must be a non-empty array of strings' };
    }
    if (!Number.isInteger(a.min_approvals) || (a.min_approvals as number) < 1) {
      return { ok: false, error: 'decision.approval.min_approvals must be an integer ≥ 1' };
    }
    if (typeof a.ttl_seconds !== 'number' || !(a.ttl_seconds > 0)) {
      return { ok: false, error: 'decision.approval.ttl_seconds must be a positive number' };
    }
    if (breakGlass && a.mode !== 'break_glass') {
      return { ok: false, error: `decision.approval.mode of a ${BREAK_GLASS_RULE} decision must be break_glass (got ${JSON.stringify(a.mode)})` };
    }
    if (!breakGlass && (!isString(a.mode) || !(APPROVAL_MODES as readonly string[]).includes(a.mode))) {
      return { ok: false, error: `decision.approval.mode must be hold or rerun (got ${JSON.stringify(a.mode)})` };
    }
    approval = {
      approvers: [...(a.approvers as string[])],
      min_approvals: a.min_approvals as number,
      ttl_seconds: a.ttl_seconds,
      mode: a.mode as ApprovalMode,
    };
  }

  if (doc.cacheable !== undefined && typeof doc.cacheable !== 'boolean') {
    return { ok: false, error: 'decision.cacheable must be a boolean' };
  }
  const measure = doc.measure ?? [];
  if (!Array.isArray(measure) || !measure.every((m) => (MEASURABLE_FACTS as readonly unknown[]).includes(m))) {
    return { ok: false, error: `decision.measure must list facts among ${MEASURABLE_FACTS.join(', ')} (got ${JSON.stringify(doc.measure)})` };
  }
  const sp = doc.sensitive_parameters ?? [];
  if (sp !== 'all' && !(Array.isArray(sp) && sp.every((p) => Number.isSafeInteger(p) && (p as number) >= 1)))
    return { ok: false, error: `decision.sensitive_parameters must be "all" or positions ≥ 1 (got ${JSON.stringify(doc.sensitive_parameters)})` };
  const sensitive_parameters = sp === 'all' ? 'all' : [...(sp as number[])];
  const cr = doc.capture_rows ?? null;
  if (cr !== null && !(isObject(cr) && Number.isSafeInteger(cr.max_rows) && (cr.max_rows as number) >= 1 && Number.isSafeInteger(cr.max_bytes) && (cr.max_bytes as number) >= 1))
    return { ok: false, error: `decision.capture_rows must be {max_rows, max_bytes} positive integers (got ${JSON.stringify(doc.capture_rows)})` };
  const capture_rows = cr === null ? null : { max_rows: cr.max_rows as number, max_bytes: cr.max_bytes as number };
  const up = doc.unmasked_phi ?? [];
  if (!Array.isArray(up) || !up.every((c) => isObject(c) && isString(c.schema) && isString(c.table) && isString(c.column)))
    return { ok: false, error: 'decision.unmasked_phi must be a list of {schema, table, column}' };
  const unmasked_phi = (up as { schema: string; table: string; column: string }[]).map((c) => ({ schema: c.schema, table: c.table, column: c.column }));
  return {
    ok: true,
    value: { action, reasons, masks, approval, cacheable: doc.cacheable !== false, measure: [...(measure as string[])], sensitive_parameters, capture_rows, unmasked_phi } as PolicyDecision,
  };
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/**
 * A decision as handed out: a fixed-shape object (cheap on the cache-hit path) whose input hash is
 * computed on first read — by the evidence writer, off the hot path — from the input the policy saw.
 */
export class DecisionRecord implements Decision {
  readonly action: Action;
  readonly reasons: Reason[];
  readonly masks: Mask[];
  readonly approval: ApprovalRequirement | null;
  readonly cacheable: boolean;
  readonly measure: string[];
  readonly sensitive_parameters: number[] | 'all';
  readonly capture_rows: { max_rows: number; max_bytes: number } | null;
  readonly unmasked_phi: { schema: string; table: string; column: string }[];
  readonly decision_id: string;
  readonly policy_revision: string;
  readonly fingerprint: string | null;
  readonly cached: boolean;
  #input: (() => PolicyInput) | null;
  #built: PolicyInput | null = null;
  #hash: string | null = null;
  #parts: InputParts | null = null;

  constructor(d: PolicyDecision, revision: string, fingerprint: string | null, cached: boolean, input: () => PolicyInput) {
    this.action = d.action;
    this.reasons = d.reasons;
    this.masks = d.masks;
    this.approval = d.approval;
    this.cacheable = d.cacheable;
    this.measure = d.measure;
    this.sensitive_parameters = d.sensitive_parameters;
    this.capture_rows = d.capture_rows;
    this.unmasked_phi = d.unmasked_phi;
    this.decision_id = randomUUID();
    this.policy_revision = revision;
    this.fingerprint = fingerprint;
    this.cached = cached;
    this.#input = input;
  }

  get input_hash(): string {
    if (this.#hash === null) this.#hash = inputHash(this.#policyInput());
    return this.#hash;
  }

  /** The input the policy saw, as content-addressed parts (for the evidence that lets it be replayed). */
  get input_parts(): InputParts {
    return (this.#parts ??= inputParts(this.#policyInput()));
  }

  #policyInput(): PolicyInput {
    if (this.#built === null) {
      this.#built = this.#input!();
      this.#input = null;
    }
    return this.#built;
  }

  toJSON(): Omit<Decision, 'input_hash'> & { input_hash: string } {
    const { action, reasons, masks, approval, cacheable, measure, sensitive_parameters, capture_rows, unmasked_phi, decision_id, policy_revision, fingerprint, cached } = this;
    return { action, reasons, masks, approval, cacheable, measure, sensitive_parameters, capture_rows, unmasked_phi, decision_id, policy_revision, fingerprint, cached, input_hash: this.input_hash };
  }
}
