// A pipeline session's evidence lines: each decision's statement line, executions with their parameters, results, what the client was sent, and refusals that
// had no policy decision (docs/evidence-format.md). The session (session.ts) delegates its record* methods here.
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { Verdict } from '../../engine/engine.ts';
import type { EvidenceEvent, ExecutionParameter, PolicyInputPart, ResponseDigest } from '../../engine/evidence/events.ts';
import { createRowDigest, encryptRows, type CapturedRows } from '../../engine/evidence/response.ts';
import type { Connection } from '../../engine/policy/input.ts';
import type { PipelineServices, PipelineSessionOptions } from './services.ts';

/** The key that hashes sensitive parameters: derived from the masking hash key, or random per process without one. */
const parameterKeys = new WeakMap<object, { key: Buffer; id: string }>();
const processKey = randomBytes(32);
function parameterKeyOf(services: PipelineServices): { key: Buffer; id: string } {
  const owner = services.maskContext ?? parameterKeys;
  let k = parameterKeys.get(owner);
  if (!k) {
    // Domain separation: the evidence's parameter hashes never equal the `hash` mask clients see.
    const key = createHmac('sha256', services.maskContext?.hashKey ?? processKey).update('verdict/evidence/parameters').digest();
    k = { key, id: createHmac('sha256', key).update('verdict key id').digest('hex').slice(0, 16) };
    parameterKeys.set(owner, k);
  }
  return k;
}

/**
 * The evidence form of an execution's parameters: raw, or HMAC-SHA256 under `key` for the positions the
 * decision marks sensitive ('all': every one). `formats` are the PostgreSQL format codes (1 = binary).
 *
 * @example
 * executionParameters(['42', '123-45-6789'], [], [2], key) // [{position: 1, value: '42'}, {position: 2, hmac_sha256: '…'}]
 */
export function executionParameters(
  params: readonly (Buffer | string | null)[],
  formats: readonly number[],
  sensitive: readonly number[] | 'all',
  key: Buffer,
): ExecutionParameter[] {
  return params.map((p, i): ExecutionParameter => {
    const position = i + 1;
    if (p === null) return { position, value: null };
    if (sensitive === 'all' || sensitive.includes(position)) return { position, hmac_sha256: createHmac('sha256', key).update(p).digest('hex') };
    // PostgreSQL: one format code applies to all parameters, else one per parameter; absent = text.
    const binary = (formats.length === 1 ? formats[0] : formats[i]) === 1;
    if (typeof p === 'string') return { position, value: p };
    return binary ? { position, binary: p.toString('base64') } : { position, value: p.toString('utf8') };
  });
}

/** A decision a result refers to: statement `index` of `verdict`; `execution`: the recorded execution it ends. */
export interface DecisionRef {
  readonly verdict: Verdict;
  readonly index: number;
  readonly execution?: string;
}

/**
 * The evidence of one pipeline session (its `PipelineSession` records through it).
 *
 * @example
 * const ev = new SessionEvidence(services, options, session.id, session.connection);
 * await ev.recordDecisions(verdict); ev.recordResult(verdict, started, ['SELECT 1'], null);
 */
export class SessionEvidence {
  /** Statements decided (and refusals recorded) so far. */
  statements = 0;
  readonly #services: PipelineServices;
  readonly #options: PipelineSessionOptions;
  /** The evidence id of the session. */
  readonly #sessionId: string;
  /** The session's connection in every policy input: its `purpose` is the statements' unless one declared its own. */
  readonly #connection: Connection;
  /** The purpose each verdict was decided under (a leading comment can change it per string). */
  readonly #purposes = new WeakMap<Verdict, string | null>();

  constructor(services: PipelineServices, options: PipelineSessionOptions, sessionId: string, connection: Connection) {
    this.#services = services;
    this.#options = options;
    this.#sessionId = sessionId;
    this.#connection = connection;
  }

  /** Notes the purpose `verdict` was decided under when it is not the session's (a leading comment declared it). */
  setPurpose(verdict: Verdict, purpose: string | null): void {
    this.#purposes.set(verdict, purpose);
  }

  /**
   * Records each statement's decision. With require_durable the returned promise resolves only once the
   * events are durable, and the statement must not run before; it rejects when they cannot be made so.
   */
  recordDecisions(verdict: Verdict, approval: { request_id: string; approved_by: string[] } | null = null): Promise<void> | null {
    const evidence = this.#services.evidence;
    if (!evidence) return null;
    const n = verdict.decisions.length;
    this.statements += n;
    const durable = evidence.requireDurable;
    // One promise per statement only when someone waits for it (require_durable); the common single
    // statement returns the append's own promise, without an array or Promise.all.
    let first: Promise<void> | null = null;
    let more: Promise<void>[] | null = null;
    for (let i = 0; i < n; i++) {
      const d = verdict.decisions[i]!;
      const st = verdict.statements[i];
      // The input the policy saw, kept as content-addressed parts so the decision can be replayed.
      const parts = d.input_parts;
      const event: EvidenceEvent = {
        type: 'statement',
        data: {
          session_id: this.#sessionId,
          decision_id: d.decision_id,
          text: st?.text ?? '',
          text_redacted: false,
          fingerprint: d.fingerprint,
          kind: st?.kind ?? null,
          action: d.action,
          reasons: d.reasons,
          input_hash: d.input_hash,
          policy_revision: d.policy_revision,
          masks: d.masks,
          approval,
          cached: d.cached,
          purpose: this.#purposes.has(verdict) ? this.#purposes.get(verdict)! : this.#connection.purpose,
          ...(d.unmasked_phi?.length ? { unmasked_phi: d.unmasked_phi } : {}),
          ...(parts ? { input: { context: parts.context.hash, statement: parts.statement.hash, now: parts.now } } : {}),
        },
      };
      const partList = parts ? [parts.context, parts.statement] : undefined;
      if (!durable) {
        this.record(event, partList);
        continue;
      }
      const p = evidence.append(event, partList);
      if (first === null) first = p;
      else (more ??= [first]).push(p);
    }
    return more ? Promise.all(more).then(() => undefined) : first;
  }

  /**
   * Records the decisions a statement runs under and, with require_durable, waits until they are durable.
   * Resolves false — the statement recorded as refused — when they cannot be made so: the door refuses it then.
   */
  async recordBeforeRun(verdict: Verdict, approval: { request_id: string; approved_by: string[] } | null, started: number): Promise<boolean> {
    const durable = this.recordDecisions(verdict, approval);
    if (!durable) return true;
    try {
      await durable;
      return true;
    } catch {
      this.recordResult(verdict, started, [], null, true);
      return false;
    }
  }

  /**
   * Records how each statement of a string ended: the first `tags.length` completed, the next one failed
   * with `code` when there is one, the rest did not run. `refused` = the door refused the string. `execution`:
   * the recordParameters id of a string run with parameters (one statement).
   */
  recordResult(verdict: Verdict, start: number, tags: readonly string[], code: string | null, refused = false, execution?: string, digests?: readonly (DeliveredDigest | null | undefined)[]): void {
    if (!this.#services.evidence) return;
    const duration = Date.now() - start;
    const refusal = this.#options.refusalCode;
    for (let i = 0; i < verdict.decisions.length; i++) {
      const tag = tags[i] ?? null;
      const failed = !refused && tag === null && i === tags.length && code !== null;
      const outcome = refused ? 'refused' : tag !== null ? 'ok' : failed ? 'error' : 'not_run';
      this.#resultWithResponse(verdict, i, duration, outcome, tag, refused ? refusal : failed ? code : null, execution, digests?.[i]);
    }
  }

  /**
   * One execution of a portal or prepared statement: its result refers to the decision that admitted it.
   * `digest`: what the client was sent for it (recordResponseDigest), recorded with the result.
   */
  recordExecution(ref: DecisionRef | null, start: number, tag: string | null, code: string | null, refused = false, digest?: DeliveredDigest | null): void {
    if (!this.#services.evidence || !ref) return;
    const outcome = refused ? 'refused' : tag !== null ? 'ok' : code !== null ? 'error' : 'not_run';
    this.#resultWithResponse(ref.verdict, ref.index, Date.now() - start, outcome, tag, refused ? this.#options.refusalCode : code, ref.execution, digest);
  }

  /**
   * A statement's result and what it delivered: the digest goes into the result line (`response`), unless the
   * decision keeps the rows encrypted (capture_rows with auditor keys), which takes a statement_response line of
   * its own after the result. Folding saves one evidence line a statement: under bench:gateway (pgbench -S, 8
   * clients) dropping that line took ~8 % of the event loop's CPU a transaction (prepared 233–281 → 205–233 µs,
   * simple 310–354 → 288–291 µs, interleaved runs through two standalone gateways).
   */
  #resultWithResponse(verdict: Verdict, index: number, duration: number, outcome: string, tag: string | null, code: string | null, execution: string | undefined, digest: DeliveredDigest | null | undefined): void {
    const d = verdict.decisions[index]!;
    const delivered = digest && this.#delivered(verdict, index, digest) ? digest : null;
    const keys = this.#services.evidence?.auditorKeys ?? [];
    const separate = delivered !== null && d.capture_rows !== undefined && d.capture_rows !== null && keys.length > 0;
    if (delivered && !separate && d.capture_rows) this.#warnNoKeys(d);
    this.#result(d.decision_id, duration, outcome, tag, code, execution, delivered && !separate ? { sha256: delivered.sha256, rows: delivered.rows, bytes: delivered.bytes } : undefined);
    if (separate) this.#response(d, execution, delivered, delivered.captured ?? { columns: [], rows: [], truncated: false });
  }

  /** Whether statement `index` delivered anything to record: a statement that sends no result set (SET, BEGIN, a write without RETURNING) delivered nothing to digest. */
  #delivered(verdict: Verdict, index: number, digest: DeliveredDigest): boolean {
    return !(digest.rows === 0 && verdict.statements[index]?.kind !== 'select');
  }

  #warnNoKeys(d: Verdict['decisions'][number]): void {
    this.#services.log.warn('the policy asks to keep delivered rows, but no evidence.auditor_keys are configured: only their digest is kept', { decision_id: d.decision_id });
  }

  /**
   * Records one execution of decided statement `index` of `verdict` with its parameters, before it runs: raw,
   * or keyed-hashed where the decision marks them sensitive (docs/evidence-format.md, statement_execution).
   * Returns the execution id to give its result (DecisionRef.execution), or undefined without evidence.
   *
   * @example
   * const execution = session.recordParameters(verdict, 0, bind.params, bind.paramFormats)
   */
  recordParameters(verdict: Verdict, index: number, params: readonly (Buffer | string | null)[], formats: readonly number[] = []): string | undefined {
    if (!this.#services.evidence) return undefined;
    const d = verdict.decisions[index]!;
    const { key, id } = parameterKeyOf(this.#services);
    const parameters = executionParameters(params, formats, d.sensitive_parameters ?? 'all', key);
    const execution_id = randomUUID();
    this.record({
      type: 'statement_execution',
      data: { session_id: this.#sessionId, decision_id: d.decision_id, execution_id, parameters, key_id: parameters.some((p) => 'hmac_sha256' in p) ? id : null },
    });
    return execution_id;
  }

  /**
   * The digest of what the client was sent for statement `index` of `verdict` (the rows as masked for it) and,
   * where the decision asks (capture_rows), the first rows that fit its limits, to keep encrypted. Give it to
   * recordResult or recordExecution; null without evidence.
   *
   * @example
   * session.recordResult(verdict, started, ['SELECT 1'], null, false, execution, [session.responseDigest(verdict, 0, ['name'], [['Ada Lovelace']])])
   */
  responseDigest(verdict: Verdict, index: number, columns: readonly string[], rows: readonly (readonly (string | null)[])[]): DeliveredDigest | null {
    if (!this.#services.evidence) return null;
    const d = verdict.decisions[index]!;
    const digest = createRowDigest();
    for (const r of rows) digest.row(r);
    let captured: CapturedRows | null = null;
    if (d.capture_rows) {
      // Bounded: the first rows that fit both limits (bytes as framed for the digest).
      const kept: (string | null)[][] = [];
      let used = 0;
      for (const r of rows) {
        let size = 2;
        for (const c of r) size += 4 + (c === null ? 0 : Buffer.byteLength(c));
        if (kept.length >= d.capture_rows.max_rows || used + size > d.capture_rows.max_bytes) break;
        kept.push([...r]);
        used += size;
      }
      captured = { columns: [...columns], rows: kept, truncated: kept.length < rows.length };
    }
    return { ...digest.finish(), captured };
  }

  /** One statement_response: the digest, and the kept rows encrypted to the auditor keys when the decision asks. */
  #response(d: Verdict['decisions'][number], execution: string | undefined, digest: { sha256: string; rows: number; bytes: number }, captured: CapturedRows | null): void {
    const evidence = this.#services.evidence!;
    const base = { session_id: this.#sessionId, decision_id: d.decision_id, ...(execution ? { execution_id: execution } : {}), sha256: digest.sha256, rows: digest.rows, bytes: digest.bytes };
    const keys = evidence.auditorKeys ?? [];
    if (!d.capture_rows || !captured || keys.length === 0) {
      if (d.capture_rows && keys.length === 0) this.#warnNoKeys(d);
      this.record({ type: 'statement_response', data: { ...base, encrypted: null } });
      return;
    }
    const work = encryptRows(captured, keys).then(
      (jwe) => this.record({ type: 'statement_response', data: { ...base, encrypted: { jwe: jwe as unknown as Record<string, unknown>, rows: captured.rows.length, truncated: captured.truncated } } }),
      (err: Error) => {
        // Fail closed: never the rows in the clear; the digest still goes in, with the failure logged.
        this.#services.log.error('delivered rows could not be encrypted to the auditor keys; only their digest is kept', { error: err.message, decision_id: d.decision_id });
        this.record({ type: 'statement_response', data: { ...base, encrypted: null } });
      },
    );
    evidence.track?.(work);
  }

  /**
   * A request the door refuses without a policy decision (a PostgreSQL FunctionCall, an unknown portal):
   * recorded as a denied statement with its own decision id and a refused result. Returns the decision id.
   */
  recordRefusal(text: string, rule: string, message: string): string {
    const decisionId = randomUUID();
    if (!this.#services.evidence) return decisionId;
    this.statements++;
    this.record({
      type: 'statement',
      data: {
        session_id: this.#sessionId,
        decision_id: decisionId,
        text,
        text_redacted: false,
        fingerprint: null,
        kind: 'unknown',
        action: 'deny',
        reasons: [{ rule, message }],
        input_hash: createHash('sha256').update(JSON.stringify({ text, rule })).digest('hex'),
        policy_revision: this.#services.engine(this.#options.upstream).revision ?? 'none',
        masks: [],
        approval: null,
        cached: false,
        purpose: this.#connection.purpose,
      },
    });
    this.#result(decisionId, 0, 'refused', null, this.#options.refusalCode);
    return decisionId;
  }

  /** Appends an event without waiting (session, result and approval events); failures are logged, never silent. */
  record(event: EvidenceEvent, parts?: readonly PolicyInputPart[]): void {
    const evidence = this.#services.evidence;
    if (!evidence) return;
    // post() takes no promise: append().catch() cost a promise, a derived promise and a microtask per event
    // (one per statement result). Stand-in writers may offer only append.
    if (evidence.post) {
      evidence.post(event, this.#onPostError, parts);
      return;
    }
    evidence.append(event, parts).catch((err: unknown) => this.#onPostError(err, event));
  }

  readonly #onPostError = (err: unknown, ev: EvidenceEvent): void => {
    this.#services.metrics.errors.inc({ kind: 'evidence' });
    this.#services.log.error('evidence append failed', { error: (err as Error).message, type: ev.type });
  };

  #result(decisionId: string, duration: number, outcome: string, tag: string | null, code: string | null, execution?: string, response?: ResponseDigest): void {
    const rows = tag ? Number(/ (\d+)$/.exec(tag)?.[1] ?? NaN) : NaN;
    this.record({
      type: 'statement_result',
      data: {
        session_id: this.#sessionId,
        decision_id: decisionId,
        outcome,
        rows: Number.isFinite(rows) ? rows : null,
        duration_ms: duration,
        sqlstate: code,
        command_tag: tag,
        ...(execution ? { execution_id: execution } : {}),
        ...(response ? { response } : {}),
      },
    });
  }
}

/** A digest of delivered rows as a door computes it (engine/evidence/response.ts), with the rows it kept when the decision asked (capture_rows). */
export interface DeliveredDigest extends ResponseDigest {
  captured?: CapturedRows | null;
}
