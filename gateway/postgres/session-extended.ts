// The ready phase of a PostgreSQL session: every client message handled in order, and the extended protocol
// (Parse, Bind, Describe, Execute, Close, Sync) in particular — a statement decided at its Parse, bound under
// that decision (measured with its parameter values, approved, or its answer held for the catalog check), each
// execution recorded; a refused message becomes a stand-in that fails upstream, so answers stay in order.
import { holdsNoStatement, type Verdict } from '../../engine/engine.ts';
import { insufficientPrivilege, protocolViolation, type FrontendMessage } from './protocol/index.ts';
import type { ExecuteUnit, Unit } from './response-units.ts';
import { executedStatement, isReservedName, type PortalEntry, type StatementEntry } from './session-model.ts';
import { SYNC, FLUSH, bindMessage, executeMessage, parseMessage, queryMessage } from '../upstream/postgres/frontend-messages.ts';
import type { Refusal } from './catalog-gate.ts';
import { copiesIn, copyWithMasks, maskedCopyMessage, onCopyIn } from './session-copy.ts';
import { afterGate, approveThenSend, mayRunUnconfirmed, measureThenDecide, SKIPPED } from './session-gate.ts';
import { onQuery } from './session-query.ts';
import { STAND_IN, deniedDecision, heldCopy, type PostgresSession } from './session-state.ts';

type Parse = Extract<FrontendMessage, { type: 'parse' }>;
type Bind = Extract<FrontendMessage, { type: 'bind' }>;
type Execute = Extract<FrontendMessage, { type: 'execute' }>;

/** A message of the ready phase: every statement decided. */
export function onReady(s: PostgresSession, msg: FrontendMessage): Promise<void> | void {
  if (s.terminating) return; // after Terminate the server reads nothing more, and neither does the gateway
  if (s.confirming !== null) {
    // A Bind's answer is held for its check: its own Execute, Describe and Flush go on; its Sync goes, then
    // the session waits; anything else waits first.
    if (msg.type === 'sync') {
      s.syncWhileConfirming = true;
      s.tracker.push({ type: 'sync', sent: performance.now() });
      s.sendToUpstream(msg.raw);
      return s.confirming;
    }
    if (msg.type !== 'execute' && msg.type !== 'describe' && msg.type !== 'flush') {
      const c = s.confirming;
      return c.then(() => onReady(s, msg));
    }
  }
  // While the server is in copy-in mode it reads only CopyData / CopyDone / CopyFail and ignores Sync and
  // Flush; any other message ends the COPY with an error and is consumed (protocol-flow.html, "COPY Operations").
  if (s.tracker.copyIn) return onCopyIn(s, msg);
  if (s.measuredBind !== null && msg.type !== 'execute' && msg.type !== 'flush' && !(msg.type === 'describe' && msg.target === 'P' && msg.name === s.measuredBind)) s.measuredBind = null;
  switch (msg.type) {
    case 'query':
      return onQuery(s, msg.sql, msg.raw);
    case 'parse':
      return onParse(s, msg);
    case 'bind':
      return onBind(s, msg);
    case 'describe':
      s.tracker.push({ type: 'describe', target: msg.target, name: msg.name });
      return s.sendToUpstream(msg.raw);
    case 'execute':
      return onExecute(s, msg);
    case 'close':
      s.tracker.push({ type: 'close', target: msg.target, name: msg.name });
      return s.sendToUpstream(msg.raw);
    case 'sync':
      s.tracker.push({ type: 'sync', sent: performance.now() });
      return s.sendToUpstream(msg.raw);
    case 'flush':
      return s.sendToUpstream(msg.raw);
    case 'copyData':
    case 'copyDone':
    case 'copyFail':
      return; // outside copy-in mode the server ignores them (postgres.c); so does the gateway
    case 'functionCall': {
      // The fast-path function call bypasses SQL entirely: nothing to analyze, so it is refused.
      const oid = msg.raw.length >= 9 ? msg.raw.readUInt32BE(5) : 0;
      const decisionId = s.recordRefusal(`FunctionCall (function OID ${oid})`, 'session.function_call', 'the FunctionCall message bypasses SQL analysis');
      const bytes = s.writer
        .errorResponse(insufficientPrivilege('Verdict denied a FunctionCall message: call functions with SQL so the policy can see them', `decision ${decisionId}`))
        .flush();
      s.tracker.push({ type: 'query', verdict: null, own: [], denial: { bytes } });
      return s.sendToUpstream(queryMessage(STAND_IN));
    }
    case 'terminate':
      return s.terminate(msg.raw);
    default:
      return s.fatal(protocolViolation(`unexpected ${msg.type} message`));
  }
}

function onParse(s: PostgresSession, msg: Parse): Promise<void> | void {
  if (isReservedName(msg.statement)) return refuseParse(s, msg.statement, null, `the name "${msg.statement}" is reserved by the gateway`);
  const verdict = s.decide(msg.sql);
  if (verdict.action === 'deny' && holdsNoStatement(verdict)) {
    // Parse of '' (JDBC's Connection.isValid()): nothing to judge; the server answers its Execute with EmptyQueryResponse.
    s.tracker.push({ type: 'parse', name: msg.statement, entry: { verdict, index: 0, sql: '', source: 'protocol', empty: true } });
    return s.sendToUpstream(msg.raw);
  }
  const problem = verdict.action === 'deny' ? null : copyWithMasks(verdict) ? maskedCopyMessage : s.model.refusal(verdict, s.pendingNames, { deferNames: true });
  if (verdict.action === 'deny' || problem) {
    s.logDecision(verdict, 'parse');
    return refuseParse(s, msg.statement, verdict, problem);
  }
  if (s.gatePassed !== msg) {
    s.gateProtocol = 'extended';
    const wait = s.gate!.beforePrepare(verdict, msg.sql);
    if (wait) {
      const held = heldCopy(msg);
      return afterGate(s, wait, msg.sql, (bytes) => {
        s.tracker.push({ type: 'parse', name: msg.statement, entry: null, denial: { bytes } });
        s.sendToUpstream(parseMessage(msg.statement, STAND_IN));
      }, () => ((s.gatePassed = held), onReady(s, held)));
    }
  } else s.gate!.passed(verdict);
  s.gatePassed = null;
  s.logDecision(verdict, 'parse');
  const entry: StatementEntry = { verdict, index: 0, sql: msg.sql, source: 'protocol', paramTypes: msg.paramTypes };
  const raw = Buffer.from(msg.raw); // kept past a possible wait for evidence
  const standIn = (bytes: Buffer) => {
    s.tracker.push({ type: 'parse', name: msg.statement, entry: null, denial: { bytes } });
    s.sendToUpstream(parseMessage(msg.statement, STAND_IN));
  };
  return s.afterRecorded(s.recordDecisions(verdict), standIn, () => {
    s.tracker.push({ type: 'parse', name: msg.statement, entry });
    s.sendToUpstream(raw);
  });
}

function onBind(s: PostgresSession, msg: Bind): Promise<void> | void {
  const standIn = (bytes: Buffer) => {
    s.tracker.push({ type: 'bind', portal: msg.portal, entry: null, denial: { bytes } });
    s.sendToUpstream(bindMessage(msg.portal, STAND_IN));
  };
  if (isReservedName(msg.portal) || isReservedName(msg.statement)) {
    return standIn(s.writer.errorResponse(insufficientPrivilege(`Verdict denied this Bind: the name "${isReservedName(msg.portal) ? msg.portal : msg.statement}" is reserved by the gateway`)).flush());
  }
  const stmt = statementFor(s, msg.statement);
  if (!stmt) {
    // Not prepared through the gateway (or its Parse was refused or failed): nothing to judge it by.
    s.recordRefusal(`Bind of prepared statement "${msg.statement}"`, 'session.unknown_statement', 'prepared statement not known to the gateway');
    return standIn(
      s.writer.errorResponse(insufficientPrivilege(`Verdict denied this Bind: prepared statement "${msg.statement}" was not prepared through Verdict in this session`)).flush(),
    );
  }
  if (stmt.empty) {
    const entry: PortalEntry = { verdict: stmt.verdict, index: 0, plan: null, scrub: false, cursor: false, holdable: false, uncommitted: false, empty: true };
    s.tracker.push({ type: 'bind', portal: msg.portal, entry, from: msg.statement, statement: stmt });
    return s.sendToUpstream(msg.raw);
  }
  if (s.gatePassed !== msg) {
    s.gateProtocol = 'extended';
    const wait = s.gate!.beforeBind(stmt.verdict, stmt.index, stmt.sql, s.clientDataAt);
    if (wait && stmt.source === 'protocol' && mayRunUnconfirmed(s, stmt.verdict)) {
      // A read: bound and executed at once, its answer held until the check has passed (runUnconfirmed).
      s.pendingCheck = wait;
    } else if (wait) {
      const held = heldCopy(msg);
      return afterGate(s, wait, stmt.sql, standIn, () => ((s.gatePassed = held), onReady(s, held)));
    }
  }
  s.gatePassed = null;
  const executes = executedStatement(stmt.verdict.statements[stmt.index]!);
  if (stmt.source === 'sql' && (executes.kind === 'update' || executes.kind === 'delete' || executes.kind === 'merge' || executes.on_conflict === 'update')) {
    // A PREPARE ran nothing and was measured for nothing; its executions would escape the blast radius.
    s.recordExecution(stmt, Date.now(), null, null, true);
    return standIn(s.denialBytes(stmt.verdict.decisions[stmt.index]!, `Verdict denied this Bind: prepared statement "${msg.statement}" (SQL PREPARE) writes rows, and how many must be measured with each execution's values; prepare it with a protocol Parse, or run the statement directly`));
  }
  // A denied statement runs nothing upstream, not even its measuring count.
  if (stmt.verdict.decisions[stmt.index]!.measure.length > 0 && stmt.verdict.decisions[stmt.index]!.action !== 'deny') {
    // How many rows this execution would change depends on its parameters: measured with them, now.
    const held = heldCopy(msg) as Bind;
    return measureThenDecide(s, stmt.sql, stmt.verdict, { bind: held, paramTypes: stmt.paramTypes ?? [] }).then((measured) => {
      if (measured === null) return;
      if (measured === SKIPPED) {
        // The server is skipping to Sync after an earlier error: this Bind gets no answer either way.
        s.tracker.push({ type: 'bind', portal: held.portal, entry: null });
        return s.sendToUpstream(held.raw);
      }
      const final = { ...stmt, verdict: measured, index: 0 };
      if (measured.action === 'approve') return onBound(s, held, final, standIn, stmt, true);
      return s.afterRecorded(s.recordDecisions(measured), standIn, () => onBound(s, held, final, standIn, stmt, true));
    });
  }
  return onBound(s, msg, stmt, standIn, stmt, false);
}

function onExecute(s: PostgresSession, msg: Execute): Promise<void> | void {
  // The portal this Execute runs: the newest Bind of it still unanswered, else the confirmed one.
  const bound = portalEntryFor(s, msg.portal);
  if (bound === null && !s.pendingNames().portals.has(msg.portal)) {
    // A portal the gateway did not see bound (opened by a function, or its Bind was refused or failed).
    const decisionId = s.recordRefusal(`Execute of portal "${msg.portal}"`, 'session.unknown_portal', 'portal not known to the gateway');
    const bytes = s.writer
      .errorResponse(insufficientPrivilege(`Verdict denied this Execute: portal "${msg.portal}" was not bound through Verdict in this session, so its rows cannot be checked`, `decision ${decisionId}`))
      .flush();
    s.tracker.push({ type: 'execute', portal: STAND_IN, denial: { bytes } });
    return s.sendToUpstream(executeMessage(STAND_IN));
  }
  if (bound?.empty) {
    s.tracker.push({ type: 'execute', portal: msg.portal }); // EmptyQueryResponse: nothing runs, nothing to record
    return s.sendToUpstream(msg.raw);
  }
  // FETCH / MOVE / EXECUTE prepared with Parse: the object they name is checked now, as they run.
  const runs = bound && !bound.cursor ? executedStatement(bound.verdict.statements[bound.index]!) : null;
  const problem = runs ? s.model.executionProblem(runs, s.pendingNames) : null;
  if (problem) {
    const decision = bound!.verdict.decisions[bound!.index]!;
    s.recordExecution(bound!, Date.now(), null, null, true);
    s.tracker.push({ type: 'execute', portal: STAND_IN, denial: { bytes: s.denialBytes(decision, problem) } });
    return s.sendToUpstream(executeMessage(STAND_IN));
  }
  if (bound?.measured && s.measuredBind !== msg.portal) {
    // Measured at its Bind; other messages since could have changed what it would touch.
    s.recordExecution(bound, Date.now(), null, null, true);
    s.tracker.push({ type: 'execute', portal: STAND_IN, denial: { bytes: s.denialBytes(bound.verdict.decisions[bound.index]!, 'Verdict denied this Execute: a write measured at its Bind must be executed right after it (only a Describe of its portal between), and once') } });
    return s.sendToUpstream(executeMessage(STAND_IN));
  }
  s.measuredBind = null;
  const unit: ExecuteUnit = { type: 'execute', portal: msg.portal };
  // Every execution is evidence: its result refers to the decision that admitted the portal.
  if (s.ctx.evidence) {
    const started = Date.now();
    unit.onDone = (rows, tag, sqlstate) => {
      // What the client was sent goes with the result. A cursor's FETCH is recorded under the decision that
      // declared it, like its result.
      const digest = s.tracker.takeDigest();
      s.recordExecution(rows?.ref ?? null, started, tag, sqlstate, false, digest);
    };
  }
  s.tracker.push(unit);
  s.sendToUpstream(msg.raw);
  if (runs !== null && (runs.copy !== null || runs.command === 'EXECUTE') && copiesIn(s.model, runs)) {
    return s.awaitServer(() => s.tracker.copyIn || !s.tracker.units.includes(unit));
  }
  return;
}

/** A Bind of a known statement under its final decision: approval, or forwarded with its portal's plan. */
function onBound(
  s: PostgresSession,
  msg: Bind,
  stmt: StatementEntry,
  standIn: (bytes: Buffer) => void,
  /** The statement the server will bind (stmt is it, or it re-decided with measured facts). */
  bound: StatementEntry,
  measured: boolean,
): Promise<void> | void {
  // resultFormats is a fresh array per decoded Bind, so the plan can keep it without a copy.
  const analysis = stmt.verdict.statements[stmt.index]!;
  const decision = stmt.verdict.decisions[stmt.index]!;
  if (decision.action === 'deny' || decision.measure.length > 0) {
    s.recordExecution(stmt, Date.now(), null, null, true);
    return standIn(s.denialBytes(decision.action === 'deny' ? decision : deniedDecision(stmt.verdict), decision.action === 'deny' ? undefined : 'Verdict denied this statement: the policy asked again for a measurement it was given'));
  }
  const plan = s.rowPlan(analysis, decision, msg.resultFormats);
  const entry: PortalEntry = {
    verdict: stmt.verdict,
    index: stmt.index,
    // Every execution with its parameters (raw, or keyed-hashed where they meet PHI), before it runs.
    ...(decision.action === 'approve' ? {} : { execution: s.recordParameters(stmt.verdict, stmt.index, msg) }),
    plan,
    scrub: plan !== null || decision.masks.length > 0,
    cursor: false,
    holdable: false,
    uncommitted: false,
    measured,
  };
  if (decision.action === 'approve') {
    const params = msg.params.map((p) => (p === null ? null : p.toString('utf8')));
    const raw = Buffer.from(msg.raw); // kept across the wait for approval
    const bind = { params: msg.params.map((p) => (p === null ? null : Buffer.from(p))), paramFormats: [...msg.paramFormats] };
    return approveThenSend(s, stmt.sql, params, stmt.verdict, (v, ref) =>
      s.afterRecorded(s.recordDecisions(v, ref), standIn, () => {
        s.tracker.push({ type: 'bind', portal: msg.portal, entry: { ...entry, verdict: v, execution: s.recordParameters(v, entry.index, bind) }, from: msg.statement, statement: bound });
        s.sendToUpstream(raw);
        if (measured) s.measuredBind = msg.portal;
      }),
      standIn,
    );
  }
  const check = s.pendingCheck;
  s.pendingCheck = null;
  const unit: Extract<Unit, { type: 'bind' }> = { type: 'bind', portal: msg.portal, entry, from: msg.statement, statement: bound };
  if (s.ctx.evidence) unit.started = Date.now();
  if (check) unit.held = true;
  s.tracker.push(unit);
  s.sendToUpstream(msg.raw);
  // Each execution of a break-glass statement is a use of it: its review is filed with these parameters.
  s.pipeline?.breakGlass(stmt.verdict, msg.params);
  if (check) confirmBind(s, check, stmt.sql, msg.portal);
  if (measured) s.measuredBind = msg.portal;
}

/**
 * The check of a Bind sent before it passed (its Execute and Sync follow at once): the answers are released when
 * it passes; else dropped once complete, and the client gets the refusal as a failed Bind (and a Sync's answer,
 * when its Sync had been forwarded). Messages after that Sync wait for this (onReady).
 */
function confirmBind(s: PostgresSession, check: Promise<Refusal | null>, sql: string, portal: string): void {
  s.syncWhileConfirming = false;
  s.confirming = check
    .then(async (refusal) => {
      if (s.phase === 'closed') return;
      if (refusal === null) return s.release();
      if (!(await s.dropHeld(undefined))) return;
      const withSync = s.syncWhileConfirming;
      await afterGate(s, Promise.resolve(refusal), sql, (bytes) => {
        s.tracker.push({ type: 'bind', portal, entry: null, denial: { bytes } });
        s.sendToUpstream(bindMessage(portal, STAND_IN));
        if (withSync) s.tracker.push({ type: 'sync', sent: performance.now() });
        s.sendToUpstream(withSync ? SYNC : FLUSH);
      }, () => undefined);
    })
    .finally(() => {
      s.confirming = null;
    });
}

/**
 * The prepared statement a Bind will bind, as the server will hold it when the Bind arrives: the confirmed
 * one, changed in order by the messages already forwarded and not yet answered. A named Parse defines only
 * a name that does not exist (PostgreSQL refuses to redefine one: 42P05); an unnamed Parse replaces the
 * unnamed statement (a refused one still drops it); Close and DEALLOCATE drop; PREPARE defines; a simple
 * Query drops the unnamed statement.
 */
function statementFor(s: PostgresSession, name: string): StatementEntry | null {
  let current: StatementEntry | null = s.model.statements.get(name) ?? null;
  for (const u of s.tracker.units) {
    if (u.type === 'parse' && u.name === name) {
      if (name === '' || current === null) current = u.entry;
    } else if (u.type === 'close' && u.target === 'S' && u.name === name) {
      current = null;
    } else if (u.type === 'query') {
      if (name === '') current = null;
      const st = u.verdict?.statements ?? [];
      for (let j = 0; j < st.length; j++) {
        const a = st[j]!;
        if (a.command === 'PREPARE' && a.name === name && current === null) current = { verdict: u.verdict!, index: j, sql: a.text, source: 'sql' };
        else if ((a.command === 'DEALLOCATE' && a.name === name) || a.command === 'DEALLOCATE ALL' || a.command === 'DISCARD ALL') current = null;
      }
    }
  }
  return current;
}

/** The portal an Execute will run: the newest Bind of it still unanswered, else the confirmed one. */
function portalEntryFor(s: PostgresSession, name: string): PortalEntry | null {
  const units = s.tracker.units;
  for (let i = units.length - 1; i >= 0; i--) {
    const u = units[i]!;
    if (u.type === 'bind' && u.portal === name) return u.entry;
  }
  return s.model.portals.get(name) ?? null;
}

/** A refused Parse: a stand-in that fails to parse keeps the server's answers in order. */
function refuseParse(s: PostgresSession, name: string, verdict: Verdict | null, problem: string | null): void {
  let bytes: Buffer;
  if (verdict) {
    bytes = s.denialBytes(deniedDecision(verdict), problem ?? undefined);
    s.recordDecisions(verdict)?.catch(() => undefined);
    s.recordResult(verdict, Date.now(), [], null, true);
  } else {
    const decisionId = s.recordRefusal(`Parse of prepared statement "${name}"`, 'session.reserved_name', problem ?? 'reserved name');
    bytes = s.writer.errorResponse(insufficientPrivilege(`Verdict denied this Parse: ${problem ?? 'reserved name'}`, `decision ${decisionId}`)).flush();
  }
  s.tracker.push({ type: 'parse', name, entry: null, denial: { bytes } });
  s.sendToUpstream(parseMessage(name, STAND_IN));
}
