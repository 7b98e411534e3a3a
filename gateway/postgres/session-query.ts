// The simple Query in a PostgreSQL session: every statement of the Query decided (and measured, checked against
// the catalog, approved where the policy asks), then forwarded with its row plans — or a read sent at once with
// its answer held until its evidence is durable and its check has passed; a refused Query becomes a stand-in.
import { holdsNoStatement, type Verdict } from '../../engine/engine.ts';
import { evidenceUnavailable } from './protocol/index.ts';
import type { QueryUnit } from './response-units.ts';
import { TEXT_FORMATS, type Rows } from './session-model.ts';
import { sameVerdict } from './catalog-gate.ts';
import { copiesIn, copyWithMasks, maskedCopyMessage } from './session-copy.ts';
import { afterGate, approveThenSend, mayRunUnconfirmed, measureThenDecide, SKIPPED } from './session-gate.ts';
import { deniedDecision, type PostgresSession } from './session-state.ts';

export function onQuery(s: PostgresSession, sql: string, raw: Buffer): Promise<void> | void {
  if (/^[\s;]*$/.test(sql)) {
    s.tracker.push({ type: 'query', verdict: null, own: [] });
    return s.sendToUpstream(raw); // PostgreSQL answers EmptyQueryResponse
  }
  const first = s.decide(sql);
  if (first.action === 'deny' && holdsNoStatement(first)) {
    s.tracker.push({ type: 'query', verdict: null, own: [] });
    return s.sendToUpstream(raw); // only comments: PostgreSQL answers EmptyQueryResponse
  }
  if (s.gatePassed !== raw) {
    s.gateProtocol = 'simple';
    if (mayRunUnconfirmed(s, first)) return runUnconfirmed(s, sql, raw, first);
    const wait = s.gate!.beforeRun(first, sql);
    if (wait) {
      const kept = Buffer.from(raw); // kept past the check
      return afterGate(s, wait, sql, s.standInQuery, () => ((s.gatePassed = kept), onQuery(s, sql, kept)));
    }
  } else s.gate!.passed(first);
  s.gatePassed = null;
  // A denied statement runs nothing upstream, not even its measuring count.
  if (first.action !== 'deny' && first.decisions.some((d) => d.measure.length > 0)) {
    const kept = Buffer.from(raw); // kept past the measurement
    return measureThenDecide(s, sql, first, null).then((measured) => {
      if (measured === null) return;
      if (measured === SKIPPED) {
        // The server discards this Query (it skips to Sync after an extended-protocol error): no answer comes.
        s.tracker.push({ type: 'query', verdict: null, own: [] });
        return s.sendToUpstream(kept);
      }
      return decidedQuery(s, sql, kept, measured);
    });
  }
  return decidedQuery(s, sql, raw, first);
}

/** A simple Query whose decision is final (measured where the policy asked). */
function decidedQuery(s: PostgresSession, sql: string, raw: Buffer, verdict: Verdict): Promise<void> | void {
  s.logDecision(verdict, 'query');
  const started = Date.now();
  const problem = verdict.action === 'deny' ? null : copyWithMasks(verdict) ? maskedCopyMessage : s.model.refusal(verdict, s.pendingNames);
  if (verdict.action === 'deny' || problem) {
    const bytes = s.denialBytes(deniedDecision(verdict), problem ?? undefined);
    const pending = s.recordDecisions(verdict);
    pending?.catch(() => undefined); // a denial runs nothing: no need to wait for its evidence
    s.recordResult(verdict, started, [], null, true);
    return s.standInQuery(bytes);
  }
  if (verdict.action === 'approve') return approveThenSend(s, sql, [], verdict, (v, ref) => s.afterRecorded(s.recordDecisions(v, ref), s.standInQuery, () => forwardQuery(s, v, raw, started)));
  return s.afterRecorded(s.recordDecisions(verdict), s.standInQuery, () => forwardQuery(s, verdict, raw, started));
}

/**
 * A read sent at once while its decision is made durable and its catalog check runs: overlaps both waits with
 * the upstream's work (bench:gateway, simple protocol). The client gets its answer once both are done; if its
 * evidence cannot be made durable, the answer is dropped and the client gets the refusal it would have had;
 * if what it reads changed under it (and is now decided otherwise), the answer is dropped and it runs again.
 */
function runUnconfirmed(s: PostgresSession, sql: string, raw: Buffer, v: Verdict): Promise<void> {
  s.logDecision(v, 'query');
  const started = Date.now();
  const gate = s.gate!;
  const decidedOn = gate.catalog();
  const durable = s.recordDecisions(v);
  const check = gate.beforeRun(v, sql);
  const kept = Buffer.from(raw); // kept in case it must run again
  void forwardQuery(s, v, raw, started, true);
  const unit = s.tracker.units[s.tracker.units.length - 1];
  return Promise.all([durable, check]).then(
    ([, refusal]) => {
      if (s.phase === 'closed') return;
      if (refusal === null && (s.gate!.catalog() === decidedOn || sameOutcome(v, s.decide(sql)))) return s.release();
      return s.dropHeld(unit).then((dropped) => {
        if (!dropped) return;
        if (refusal !== null) return afterGate(s, Promise.resolve(refusal), sql, s.standInQuery, () => undefined);
        // Decided otherwise on the catalog as it is now: it runs again, decided and checked anew.
        s.gatePassed = kept;
        return onQuery(s, sql, kept);
      });
    },
    (err: Error) => {
      s.ctx.metrics.errors.inc({ kind: 'evidence' });
      s.log.error('evidence not durable: statement refused', { error: err.message });
      return s.dropHeld(unit).then((dropped) => {
        if (dropped) s.standInQuery(s.writer.errorResponse(evidenceUnavailable()).flush());
      });
    },
  );
}

/**
 * Whether a read decided on an older catalog may be answered as it ran: decided the same on the catalog now, and
 * its answer shaped the same (`SELECT *` over a table that gained a column has rows its row plans cannot place).
 */
function sameOutcome(v: Verdict, now: Verdict): boolean {
  if (!sameVerdict(v, now) || v.statements.length !== now.statements.length) return false;
  return v.statements.every((st, i) => JSON.stringify(st.result_columns) === JSON.stringify(now.statements[i]!.result_columns));
}

// A top-level function, not a closure per Query: under tsx (esbuild keepNames) every named closure is wrapped
// in __name(), an Object.defineProperty that gives each one a new hidden class (~1.5 µs/Query, perf).
function forwardQuery(s: PostgresSession, v: Verdict, raw: Buffer, started: number, held = false): Promise<void> | void {
  const own: Rows[] = [];
  let copyIn = false;
  for (let i = 0; i < v.statements.length; i++) {
    const a = v.statements[i]!;
    const d = v.decisions[i]!;
    const plan = s.rowPlan(a, d, TEXT_FORMATS);
    own.push(plan === null && d.masks.length === 0 ? { plan: null, scrub: false, ref: null } : { plan, scrub: true, ref: null });
    if (a.copy !== null ? a.copy.direction === 'from' && a.copy.target === 'stdin' : a.command === 'EXECUTE' && copiesIn(s.model, a)) copyIn = true;
  }
  s.pipeline!.breakGlass(v);
  const ddl = v.statements.some((st) => st.kind === 'ddl' || st.nested.some((n) => n.kind === 'ddl'));
  const unit: QueryUnit = { type: 'query', verdict: v, own, sent: performance.now(), held };
  if (s.ctx.evidence || ddl) {
    unit.onDone = (tags, sqlstate) => {
      if (s.ctx.evidence) {
        s.recordResult(v, started, tags, sqlstate, false, s.tracker.queryDigests);
      }
      if (ddl && tags.length > 0) s.ctx.catalogChanged(s.upstreamName);
    };
  }
  s.tracker.push(unit);
  s.sendToUpstream(raw);
  if (copyIn) return s.awaitServer(() => s.tracker.copyIn || !s.tracker.units.includes(unit));
}
