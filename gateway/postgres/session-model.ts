// The gateway's picture of one upstream session: which prepared statements and portals (cursors are
// portals) exist on the server and the decision and mask plan each carries, which settings the SQL
// analysis depends on, and the transaction they live in. The picture changes only when the server
// confirms a change (ParseComplete, BindComplete, CloseComplete, a CommandComplete, ReadyForQuery,
// ParameterStatus); whatever it cannot account for is unknown, and unknown is refused or blanked.
// docs/session-model.md describes the rules; PostgreSQL's own are in "Message Flow" (protocol-flow.html),
// "Extended Query" and the PREPARE / DECLARE / DISCARD reference pages.
import type { Verdict } from '../../engine/engine.ts';
import type { Decision } from '../../engine/decision/decision.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import type { DecisionRef } from '../pipeline/evidence-record.ts';
import { reportedSettingProblem, settingsRefusal } from '../pipeline/settings.ts';
import { SessionModelBreach } from './errors.ts';
import type { RowPlan } from './row-plan.ts';

/** Result formats of a simple Query or a text cursor: all text. Shared and never mutated. */
export const TEXT_FORMATS: readonly number[] = [0];
export const BINARY_FORMATS: readonly number[] = [1];

/** A plan that sends every column of every row as NULL: for rows the model cannot attribute to a decision. */
export const BLANK_PLAN: RowPlan = Object.freeze({ masks: [], formats: TEXT_FORMATS }) as RowPlan;

export type { DecisionRef };

/** A prepared statement on the server: Parse (protocol) or PREPARE (SQL) — one namespace. */
export interface StatementEntry extends DecisionRef {
  readonly sql: string;
  readonly source: 'protocol' | 'sql';
  /** Parameter type OIDs the Parse gave (a measuring count of the statement is parsed with the same). */
  readonly paramTypes?: readonly number[];
  /** It holds no statement (''): the server answers its executions with EmptyQueryResponse. */
  readonly empty?: true;
}

/** A portal on the server: Bind (protocol) or DECLARE CURSOR (SQL) — one namespace. */
export interface PortalEntry extends DecisionRef {
  /** How its rows are masked; null = sent as the server sends them. */
  readonly plan: RowPlan | null;
  /** Error and notice text is withheld (the statement touches masked columns). */
  readonly scrub: boolean;
  readonly cursor: boolean;
  /** DECLARE ... WITH HOLD: survives the commit of the transaction that declared it. */
  readonly holdable: boolean;
  /** Declared in the transaction now open: a rollback drops it even when holdable. */
  uncommitted: boolean;
  /** A write whose blast radius was measured at its Bind: it must execute right after it. */
  measured?: boolean;
  /** Bound from a statement that holds none: its Execute runs nothing. */
  readonly empty?: true;
}

/** What the rows of one statement need: a plan (null = unmasked), whether text is withheld, and whose decision they answer. */
export interface Rows {
  plan: RowPlan | null;
  scrub: boolean;
  ref: DecisionRef | null;
}

/** What executing a prepared statement runs: for a SQL PREPARE, the statement inside it. */
export function executedStatement(a: StatementAnalysis): StatementAnalysis {
  return a.command === 'PREPARE' ? (a.nested[0] ?? a) : a;
}

/** Builds the row plan of a decided statement for the given result formats (the session's masking). */
export type Planner = (analysis: StatementAnalysis, decision: Decision, formats: readonly number[]) => RowPlan | null;

/** Reported settings whose value the gateway's SQL analysis assumes (PostgreSQL's defaults with UTF-8). */

/** Commands after which server-side code may have opened, closed or reused portals behind the gateway's back. */
const RUNS_CODE = new Set(['DO', 'CALL']);

const NO_NAMES: ReadonlySet<string> = new Set();

const CURSOR_HEAD = /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*DECLARE\s+(?:"(?:[^"]|"")*"|[^\s"]+)\s+([\s\S]*?)\bCURSOR\b\s*((?:WITH|WITHOUT)\s+HOLD\b)?/i;

export class SessionModel {
  /** Prepared statements by name ('' = the unnamed statement). */
  readonly statements = new Map<string, StatementEntry>();
  /** Portals by name ('' = the unnamed portal); SQL cursors included. */
  readonly portals = new Map<string, PortalEntry>();
  /** Reported settings as the server last confirmed them. */
  readonly settings = new Map<string, string>();
  /** An error or ROLLBACK since the last idle ReadyForQuery: the transaction did not commit. */
  #rolledBack = false;
  readonly #plan: Planner;

  constructor(planner: Planner) {
    this.#plan = planner;
  }

  // ---- what the client may ask for, judged before a message is forwarded ---------------------

  /**
   * Why a statement that the policy allowed still cannot run in this session, or null. `pendingNames`
   * lists objects defined by messages already forwarded but not yet confirmed (they may still fail:
   * rows are then blanked at execution time); it is asked only when a statement names an object.
   */
  refusal(
    verdict: Verdict,
    pendingNames: (() => { statements: ReadonlySet<string>; portals: ReadonlySet<string> }) | null,
    options: { deferNames?: boolean } = {},
  ): string | null {
    const declared = new Set<string>();
    const prepared = new Set<string>();
    // Asked only when a statement names an object: no closure (nor its tsx name wrapper) per Query otherwise.
    let pending: (() => { statements: ReadonlySet<string>; portals: ReadonlySet<string> }) | null = null;
    for (let i = 0; i < verdict.statements.length; i++) {
      const a = verdict.statements[i]!;
      const problem = settingsRefusal(a);
      if (problem) return problem;
      if (a.creates_table_from_query) {
        for (const n of a.nested) {
          if (n.command !== 'EXECUTE' || n.name === null) continue;
          const entry = this.statements.get(n.name);
          const d = entry?.verdict.decisions[entry.index];
          if (!entry || d!.masks.length > 0 || d!.action !== 'allow') {
            return `Verdict denied this statement: it stores what prepared statement "${n.name}" returns in a table, where ${entry ? 'the masks decided for it would no longer apply' : 'the gateway cannot check it (not prepared through Verdict in this session)'}`;
          }
        }
      }
      const name = a.name;
      if (name === null || name === '*') continue;
      if (isReservedName(name)) return `Verdict denied this statement: the name "${name}" is reserved by the gateway`;
      switch (a.command) {
        case 'DECLARE CURSOR':
          declared.add(name);
          break;
        case 'PREPARE':
          if (verdict.decisions[i]!.action === 'approve') {
            return 'Verdict denied this statement: a statement that needs approval cannot be prepared (each EXECUTE would run it again); run it directly';
          }
          prepared.add(name);
          break;
        case 'FETCH':
        case 'MOVE':
        case 'EXECUTE': {
          // A Parse names objects it does not use yet (PostgreSQL parses FETCH c of a c that does not exist):
          // its Execute is checked instead (executionProblem).
          if (options.deferNames) break;
          pending ??= memo(pendingNames);
          const problem = this.executionProblem(a, pending, a.command === 'EXECUTE' ? prepared : declared);
          if (problem) return problem;
          break;
        }
      }
    }
    return null;
  }

  /**
   * Why running a FETCH / MOVE / EXECUTE now would be refused: the object it names is not known (confirmed,
   * defined by a message already forwarded, or by an earlier statement of the same string), or it is a
   * prepared statement that needs approval.
   */
  executionProblem(a: StatementAnalysis, pending: () => { statements: ReadonlySet<string>; portals: ReadonlySet<string> }, earlier: ReadonlySet<string> = NO_NAMES): string | null {
    const name = a.name;
    if (name === null || name === '*') return null;
    if (a.command === 'FETCH' || a.command === 'MOVE') {
      if (!this.portals.has(name) && !earlier.has(name) && !pending().portals.has(name)) {
        return `Verdict denied this statement: cursor "${name}" was not declared through Verdict in this session, so its rows cannot be checked`;
      }
    } else if (a.command === 'EXECUTE') {
      const entry = this.statements.get(name);
      if (!entry && !earlier.has(name) && !pending().statements.has(name)) {
        return `Verdict denied this statement: prepared statement "${name}" was not prepared through Verdict in this session`;
      }
      if (entry && entry.verdict.decisions[entry.index]!.action === 'approve') {
        return `Verdict denied this statement: prepared statement "${name}" needs approval for each execution; execute it through the extended protocol or run the statement directly`;
      }
      const runs = entry ? executedStatement(entry.verdict.statements[entry.index]!) : null;
      if (runs && (runs.kind === 'update' || runs.kind === 'delete' || runs.kind === 'merge')) {
        // How many rows it changes depends on EXECUTE's arguments, which the policy never saw measured.
        return `Verdict denied this statement: prepared statement "${name}" writes rows, and how many must be measured with each execution's values; execute it through the extended protocol (each Bind is measured) or run the statement directly`;
      }
    }
    return null;
  }

  /** The COPY a statement runs: its own, or for EXECUTE the prepared statement's (PostgreSQL lets EXECUTE run a COPY). */
  copyOf(a: StatementAnalysis): StatementAnalysis['copy'] {
    if (a.command === 'EXECUTE' && a.name !== null) {
      const s = this.statements.get(a.name);
      return s ? executedStatement(s.verdict.statements[s.index]!).copy : null;
    }
    return a.copy;
  }

  /** The rows a statement of a simple Query (or a portal's statement) will return: FETCH and EXECUTE take their object's plan. */
  rowsOf(analysis: StatementAnalysis, own: Rows): Rows {
    const name = analysis.name;
    if (name === null) return own;
    if (analysis.command === 'FETCH') {
      const p = this.portals.get(name);
      return p ? { plan: p.plan, scrub: p.scrub, ref: p } : { plan: BLANK_PLAN, scrub: true, ref: null };
    }
    if (analysis.command === 'EXECUTE') {
      const s = this.statements.get(name);
      if (!s) return { plan: BLANK_PLAN, scrub: true, ref: null };
      return this.statementRows(s, TEXT_FORMATS);
    }
    return own;
  }

  /** Rows of a prepared statement executed with `formats`; its own FETCH/EXECUTE resolve through the model. */
  statementRows(s: StatementEntry, formats: readonly number[]): Rows {
    const analysis = s.verdict.statements[s.index]!;
    const decision = s.verdict.decisions[s.index]!;
    const plan = this.#plan(analysis, decision, formats);
    const own: Rows = { plan, scrub: plan !== null || decision.masks.length > 0, ref: s };
    return this.rowsOf(analysis, own);
  }

  // ---- what the server confirmed ----------------------------------------------------------------

  /** ParseComplete. */
  parsed(name: string, entry: StatementEntry): void {
    this.statements.set(name, entry);
  }

  /** A Parse that failed: the server dropped the old unnamed statement before it parsed the new one. */
  parseFailed(name: string): void {
    if (name === '') this.statements.delete('');
  }

  /** BindComplete. */
  bound(portal: string, entry: PortalEntry): void {
    this.portals.set(portal, entry);
  }

  /** A Bind that failed: an unnamed portal it replaced may be gone; either way it is not the old one. */
  bindFailed(portal: string): void {
    if (portal === '') this.portals.delete('');
  }

  /** CloseComplete. */
  closed(target: 'S' | 'P', name: string): void {
    if (target === 'S') this.statements.delete(name);
    else this.portals.delete(name);
  }

  /** CommandComplete of statement `index` of a simple Query (or of an Execute of a portal whose statement it is). */
  completed(ref: DecisionRef, tag: string, a: StatementAnalysis = ref.verdict.statements[ref.index]!): void {
    const decision = ref.verdict.decisions[ref.index]!;
    const name = a.name;
    switch (a.command) {
      case 'DECLARE CURSOR': {
        if (name === null) break;
        const head = CURSOR_HEAD.exec(a.text);
        // Head unreadable: assume the worst for both (binary blanks masked values; holdable is kept only while it commits).
        const binary = head ? /\bBINARY\b/i.test(head[1]!) : true;
        const holdable = head ? /^WITH/i.test(head[2] ?? '') : true;
        const plan = this.#plan(a, decision, binary ? BINARY_FORMATS : TEXT_FORMATS);
        this.portals.set(name, { verdict: ref.verdict, index: ref.index, plan, scrub: plan !== null || decision.masks.length > 0, cursor: true, holdable, uncommitted: true });
        break;
      }
      case 'CLOSE CURSOR':
        if (name === '*') this.portals.clear();
        else if (name !== null) this.portals.delete(name);
        break;
      case 'PREPARE':
        if (name !== null) this.statements.set(name, { verdict: ref.verdict, index: ref.index, sql: a.text, source: 'sql' });
        break;
      case 'DEALLOCATE':
      case 'DEALLOCATE ALL':
        if (name === '*') this.statements.clear();
        else if (name !== null) this.statements.delete(name);
        break;
      case 'DISCARD ALL':
        this.statements.clear();
        this.portals.clear();
        break;
    }
    if (tag === 'ROLLBACK') {
      // ROLLBACK, ABORT, COMMIT of a failed transaction, ROLLBACK TO SAVEPOINT: cursors declared since
      // may be gone; the model cannot tell which survive a savepoint, so it forgets them (unknown = refused).
      this.#rolledBack = true;
      this.#dropUncommitted();
    }
    if (RUNS_CODE.has(a.command) || a.unresolved.some((u) => /^(unknown_function|opaque_function|unknown_set_function|dynamic_sql):/.test(u.reason))) {
      // Code the analysis cannot see may have closed and reopened any portal under a known name.
      this.portals.clear();
    }
  }

  /** An ErrorResponse: the transaction (explicit or implicit) will not commit what it declared. */
  failed(): void {
    this.#rolledBack = true;
  }

  /**
   * ReadyForQuery. Idle ('I') ends the transaction: portals close except holdable cursors of a committed
   * transaction; a simple Query also dropped the unnamed statement and portal.
   */
  ready(status: 'I' | 'T' | 'E', afterQuery: boolean): void {
    if (afterQuery) {
      this.statements.delete('');
      this.portals.delete('');
    }
    if (status !== 'I') return;
    if (this.portals.size > 0) {
      for (const [name, p] of this.portals) {
        if (!p.holdable || (p.uncommitted && this.#rolledBack)) this.portals.delete(name);
        else p.uncommitted = false;
      }
    }
    this.#rolledBack = false;
  }

  /** ParameterStatus: a setting the analysis depends on may only hold the value it assumes. */
  parameterStatus(name: string, value: string): void {
    const problem = reportedSettingProblem(name, value, this.settings.get(name));
    if (problem) throw new SessionModelBreach(problem);
    this.settings.set(name, value);
  }

  #dropUncommitted(): void {
    for (const [name, p] of this.portals) if (p.uncommitted) this.portals.delete(name);
  }
}

/** Calls `f` once, on first need; an empty answer without `f`. */
function memo(f: (() => { statements: ReadonlySet<string>; portals: ReadonlySet<string> }) | null): () => { statements: ReadonlySet<string>; portals: ReadonlySet<string> } {
  let cached: { statements: ReadonlySet<string>; portals: ReadonlySet<string> } | null = null;
  return () => (cached ??= f ? f() : { statements: NO_NAMES, portals: NO_NAMES });
}

/** Names the gateway uses for its stand-ins and its own statements; a client may not define objects under them. */
export const STAND_IN_NAME = 'verdict_denied';
export const RESERVED_PREFIX = 'verdict_';

export function isReservedName(name: string): boolean {
  return name.startsWith(RESERVED_PREFIX);
}
