// What stands between a decided statement and the upstream in a PostgreSQL session, in the session's own
// connection: the catalog check (catalog-gate.ts) and the lookups it runs, measuring a write's blast radius
// before deciding again, and waiting for an approval — for the simple Query (session-query.ts) and the
// extended protocol (session-extended.ts) alike.
import type { Verdict } from '../../engine/engine.ts';
import { errorCode, insufficientPrivilege, notice, paramFormat, SqlState, type FrontendMessage } from './protocol/index.ts';
import { scrubbed } from './scrub.ts';
import { RESERVED_PREFIX } from './session-model.ts';
import { countedFrom, type Counted } from '../pipeline/admission.ts';
import { FLUSH, bindMessage, closeMessage, executeMessage, parseMessage, queryMessage } from '../upstream/postgres/frontend-messages.ts';
import { catalogGate, UNCATALOGED_RULE, type CatalogGate, type Refusal, type Resolved } from './catalog-gate.ts';
import { FailedTransaction } from './errors.ts';
import { resolveSql } from './catalog-freshness.ts';
import { copyWithMasks } from './session-copy.ts';
import type { PostgresSession } from './session-state.ts';

let measureSeq = 0;
/** measureThenDecide: the server is skipping to Sync, so nothing was measured and nothing needs to be. */
export const SKIPPED = Symbol('skipped');

/** The session's catalog gate: decides again with the engine in force, asks its own connection about temporary tables. */
export function openCatalogGate(s: PostgresSession): CatalogGate {
  const access = s.ctx.relationCatalog(s.upstreamName);
  const g = catalogGate({ access, decide: (sql) => s.decide(sql), resolve: (relations, functions) => resolveRelations(s, relations, functions) });
  s.tracker.knownOrigin = (tableOid, attnum) => g.knownOrigin(tableOid, attnum);
  s.tracker.onUnknownOrigin = (tableOid) => {
    s.log.warn('a result column comes from a relation the catalog does not know: its values were sent as NULL, and the catalog is re-read', { user: s.identity?.username, table_oid: tableOid });
    void access.refresh(Date.now());
  };
  return g;
}

/**
 * How `relations` resolve on this session's connection (it sees the session's temporary tables). Waits for the
 * server to answer what came before; rejects in a failed transaction, or while the server skips to Sync.
 */
async function resolveRelations(s: PostgresSession, relations: readonly string[], functions: readonly string[]): Promise<ReadonlyMap<string, Resolved | null>> {
  s.sendToUpstream(FLUSH);
  s.flushUpstream();
  await s.untilIdle();
  if (s.tracker.status === 'E') throw new FailedTransaction('the transaction is aborted');
  if (s.phase === 'closed' || s.tracker.ignoringTillSync) throw new Error('the session cannot run queries now');
  const sql = resolveSql(relations, functions);
  const name = `${RESERVED_PREFIX}catalog_${++measureSeq}`;
  // In a simple-protocol session a Query of its own; between extended messages, messages ended by Flush (not Sync).
  const unit = s.gateProtocol === 'simple'
    ? await s.runInternal(queryMessage(sql), 'ready')
    : await s.runInternal(Buffer.concat([parseMessage(name, sql), bindMessage(name, name), executeMessage(name), closeMessage('S', name), closeMessage('P', name), FLUSH]), 5);
  if (unit.error) throw new Error(`the lookup failed (SQLSTATE ${errorCode(unit.error, 0, unit.error.length)})`);
  return new Map(unit.rows.map(([relation, oid, temporary]) => [relation!, oid === null ? null : { oid: Number(oid), temporary: temporary === 'true' }]));
}

/** Goes on once the gate has passed; else the statement is refused (recorded under UNCATALOGED_RULE). */
export function afterGate(s: PostgresSession, wait: Promise<Refusal | null>, sql: string, refuse: (bytes: Buffer) => void, then: () => Promise<void> | void): Promise<void> {
  return wait.then((refusal) => {
    if (s.phase === 'closed') return;
    if (refusal === null) return then();
    const decisionId = s.recordRefusal(sql, UNCATALOGED_RULE, refusal.message);
    s.log.info('statement refused: a relation it reads is not in the catalog as loaded', { user: s.identity?.username, decision_id: decisionId, code: refusal.code, reason: refusal.message });
    // What PostgreSQL would say (no such relation, a failed transaction) in its words; else the denial.
    const fields = refusal.code === SqlState.InsufficientPrivilege
      ? insufficientPrivilege(`Verdict denied this statement: ${refusal.message} [${UNCATALOGED_RULE}]`, `decision ${decisionId}`)
      : ({ severity: 'ERROR', code: refusal.code, message: refusal.message } as const);
    refuse(s.writer.errorResponse(fields).flush());
  });
}

/**
 * Whether a statement may go upstream before its decision is durable and its catalog check has passed: an
 * allowed or masked read (side-effects.ts) of relations the catalog knows, with nothing to measure or approve.
 * Its answer is held until both are done (ResponseTracker.hold).
 */
export function mayRunUnconfirmed(s: PostgresSession, v: Verdict): boolean {
  if (v.action !== 'allow' && v.action !== 'mask') return false;
  if (v.decisions.some((d) => d.measure.length > 0)) return false;
  if (s.tracker.copyIn || copyWithMasks(v) || s.model.refusal(v, s.pendingNames) !== null) return false;
  return s.gate!.mayRunUnconfirmed(v);
}

/**
 * Measures what the policy asked for (decision.measure: the blast radius of a write, a count over the same
 * target and predicate run just before it, in this session) and decides again with the measurement in the
 * input. Resolves to the final verdict; null when the statement was answered already (the measuring count
 * failed, and its error is the statement's answer); SKIPPED when the server skips to Sync anyway.
 */
export async function measureThenDecide(
  s: PostgresSession,
  sql: string,
  first: Verdict,
  extended: { bind: Extract<FrontendMessage, { type: 'bind' }>; paramTypes: readonly number[] } | null,
): Promise<Verdict | null | typeof SKIPPED> {
  let skipped = false;
  const verdict = await s.pipeline!.measure(sql, first, async (m): Promise<Counted | null> => {
    s.sendToUpstream(FLUSH);
    s.flushUpstream();
    await s.untilIdle();
    if (s.phase === 'closed') return null;
    if (s.tracker.ignoringTillSync) {
      skipped = true;
      return null;
    }
    if (s.tracker.status === 'E') return { unmeasurable: 'the transaction is aborted; end it with ROLLBACK first' };
    const started = Date.now();
    const unit = extended
      ? await s.runInternal(measuringMessages(m.sql, m.params, extended.bind, extended.paramTypes), 5)
      : await s.runInternal(queryMessage(m.sql), 'ready');
    if ((s.phase as string) === 'closed') return null;
    if (unit.error) {
      // The count failed where the write would have (the same target and predicate): that is its answer.
      const masked = first.decisions.some((d) => d.masks.length > 0);
      s.send(masked ? scrubbed(unit.error, 0, unit.error.length) : unit.error);
      if (!extended) s.send(s.writer.readyForQuery(s.tracker.status).flush());
      s.recordDecisions(first)?.catch(() => undefined);
      s.recordResult(first, started, [], errorCode(unit.error, 0, unit.error.length));
      s.log.info('blast radius measurement failed: the statement fails with its error', { user: s.identity?.username, sqlstate: errorCode(unit.error, 0, unit.error.length) });
      return null;
    }
    return countedFrom(unit.rows[0]);
  });
  return skipped ? SKIPPED : verdict;
}

/**
 * The measuring count as extended-protocol messages under a name of the gateway's own, with the client's
 * parameter values, ended by Flush (not Sync: the client's batch, and its implicit transaction, go on).
 */
function measuringMessages(sql: string, used: readonly number[], bind: Extract<FrontendMessage, { type: 'bind' }>, paramTypes: readonly number[]): Buffer {
  const name = `${RESERVED_PREFIX}measure_${++measureSeq}`;
  // Parameters the count does not use (a SET value) need a type of their own: one that accepts any value in
  // its format (text for text, bytea for binary). The others keep the client's type, or are inferred as the
  // write infers them.
  const types = bind.params.map((_, i) => {
    const given = paramTypes[i] ?? 0;
    if (given !== 0 || used.includes(i + 1)) return given;
    return paramFormat(bind, i) === 1 ? 17 : 25;
  });
  return Buffer.concat([
    parseMessage(name, sql, types),
    bindMessage(name, name, bind.paramFormats, bind.params),
    executeMessage(name),
    closeMessage('S', name),
    closeMessage('P', name),
    FLUSH,
  ]);
}

/**
 * Hold or rerun: the statement runs only with a valid approval of exactly it; else the client gets why not.
 * The pipeline decides and records; here is the PostgreSQL side: the NOTICE, pausing the client, the refusal.
 */
export async function approveThenSend(
  s: PostgresSession,
  sql: string,
  params: (string | null)[],
  verdict: Verdict,
  run: (v: Verdict, approval: { request_id: string; approved_by: string[] }) => void | Promise<void>,
  /** How a refusal is answered in the client's protocol: a stand-in Query, or a stand-in Bind that fails the batch. */
  refuse: (bytes: Buffer) => void = s.standInQuery,
): Promise<void> {
  const decision = verdict.decisions.find((d) => d.action === 'approve')!;
  const admission = await s.pipeline!.admit(sql, params, verdict, {
    waiting: async (info) => {
      // In the extended protocol the server keeps ParseComplete & co. until a Sync or Flush: without this Flush
      // the session would wait for answers that never come, and the NOTICE would reach the client only at timeout.
      s.sendToUpstream(FLUSH);
      s.flushUpstream();
      await s.untilIdle();
      s.socket.pause();
      s.send(
        s.writer
          .noticeResponse(notice(`Verdict: this statement needs approval (${info.reasons}). Waiting up to ${Math.round(info.waitSeconds / 60)} min for ${info.approvers.join(' or ')}.`, `request ${info.requestId}`, `approve it with: ${info.link}`))
          .flush(),
      );
    },
    done: () => {
      if (s.phase !== 'closed') s.socket.resume();
    },
  });
  if (s.phase === 'closed') return;
  if (admission.kind === 'run') {
    s.logDecision(admission.verdict, 'approved');
    return run(admission.verdict, admission.approval);
  }
  return refuse(s.denialBytes(decision, admission.message, admission.canceled ? SqlState.QueryCanceled : SqlState.InsufficientPrivilege));
}
