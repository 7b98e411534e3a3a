// One session's side of catalog freshness (catalog-freshness.ts): before a statement that reads relations is
// forwarded, the relations it reads must be ones the catalog knows, as they were when the catalog was loaded.
// Protocol-free: the session says how to decide again and how to ask its own connection about temporary tables;
// the gate answers with a refusal message, or null when the statement may be decided again and go on.
import type { Verdict } from '../../engine/engine.ts';
import { FIRST_NORMAL_OID, gapMessage, relationGaps, relationsRead, temporaryRelationsCreated, type RelationCatalog, type RelationCatalogAccess } from './catalog-freshness.ts';

/** The rule a refusal of this gate is recorded under (evidence and the client's message). */
export const UNCATALOGED_RULE = 'postgres.uncataloged_relation';

export interface CatalogGateHooks {
  access: RelationCatalogAccess;
  /** Decides `sql` again with the engine in force now (after a catalog refresh). */
  decide(sql: string): Verdict;
  /**
   * Which of `names` are temporary relations of this session, as its own upstream connection resolves them:
   * name → OID. Rejects when the session cannot be asked (an aborted transaction, the connection gone).
   */
  ownTemporary(names: readonly string[]): Promise<ReadonlyMap<string, number>>;
}

/** A session's gate. `null` from a check: nothing to wait for, go on at once. */
export interface CatalogGate {
  /**
   * A statement about to run (a simple Query): its relations must be known, and unchanged since the catalog was
   * loaded (one version check over the gateway's own connection, coalesced with other sessions'). Statements
   * that read no relation (SELECT 1, SET, BEGIN) and denied ones are not checked.
   */
  beforeRun(verdict: Verdict, sql: string): Promise<string | null> | null;
  /** A statement being prepared (Parse): its relations must be known; versions are checked at each Bind. */
  beforePrepare(verdict: Verdict, sql: string): Promise<string | null> | null;
  /**
   * A Bind of a prepared statement: the relations it reads must be unchanged since the catalog was loaded, and the
   * statement must have been decided on the catalog in force — else it is decided again and must come out the same.
   */
  beforeBind(verdict: Verdict, index: number, sql: string): Promise<string | null> | null;
  /** Whether a RowDescription origin (table OID, attribute number) is one the catalog (or the session) knows. */
  knownOrigin(tableOid: number, attnum: number): boolean;
}

/**
 * The gate of one session.
 *
 * @example
 * const gate = catalogGate({ access: ctx.relationCatalog('clinic'), decide, ownTemporary });
 * const wait = gate.beforeRun(verdict, sql); // null, or a Promise of a refusal message (null: decide again, go on)
 */
export function catalogGate(hooks: CatalogGateHooks): CatalogGate {
  const { access } = hooks;
  /** Names of temporary relations the session created through Verdict (unqualified). */
  const temporaryNames = new Set<string>();
  /** OIDs of the session's temporary relations, as its connection resolved them. */
  const temporaryOids = new Set<number>();
  const decidedOn = new WeakMap<Verdict, RelationCatalog | null>();
  const own = (name: string) => temporaryNames.has(name);
  /**
   * What the statement was decided on, and the temporary relations it creates (which become the session's own
   * once its connection shows them: one that failed to be created is not found there).
   */
  const remember = (verdict: Verdict) => {
    if (verdict.action !== 'deny') for (const name of temporaryRelationsCreated(verdict.statements)) temporaryNames.add(name);
    decidedOn.set(verdict, access.current());
  };

  /** The relations of `verdict` the catalog does not know, after a refresh if needed; a message, or null. */
  async function known(verdict: Verdict, sql: string, since: number): Promise<{ message: string | null; verdict: Verdict }> {
    let v = verdict;
    let relations = relationsRead(v.statements);
    let gaps = relationGaps(relations, access.current(), own);
    if (gaps.length > 0) {
      // Made behind Verdict's back a moment ago, perhaps: re-read (a load begun after the statement arrived).
      await access.refresh(since);
      v = hooks.decide(sql);
      if (v.action === 'deny') return { message: null, verdict: v };
      relations = relationsRead(v.statements);
      gaps = relationGaps(relations, access.current(), own);
      if (gaps.length > 0) return { message: gapMessage(gaps[0]!), verdict: v };
    }
    const cat = access.current();
    const temporary = relations.filter((r) => !cat?.relations.has(r));
    if (temporary.length > 0) {
      // Named like a temporary relation this session made: it must resolve to one on the session's connection.
      const names = temporary.map((r) => r.slice(r.indexOf('.') + 1));
      const found = await hooks.ownTemporary(names).catch(() => null);
      if (!found) return { message: `Verdict could not confirm that ${temporary[0]} is this session's own temporary table; end the failed transaction (ROLLBACK) and try again`, verdict: v };
      const missing = temporary.find((_, i) => !found.has(names[i]!));
      if (missing) return { message: gapMessage({ relation: missing, reason: 'unknown' }), verdict: v };
      for (const oid of found.values()) temporaryOids.add(oid);
    }
    return { message: null, verdict: v };
  }

  /** Versions of the known relations `verdict` reads; after a change, the catalog re-read and the gaps again. */
  async function unchanged(verdict: Verdict, sql: string): Promise<string | null> {
    const cat = access.current();
    const relations = relationsRead(verdict.statements).filter((r) => cat?.relations.has(r));
    if (relations.length === 0) return null;
    let changed: boolean;
    try {
      changed = await access.changed(relations);
    } catch (err) {
      return `Verdict could not confirm that the tables and views this statement reads are still those it classified (${(err as Error).message}); try again shortly`;
    }
    if (!changed) return null;
    const since = Date.now();
    if (!(await access.refresh(since))) return `a table or view this statement reads changed since Verdict read the catalog, and Verdict could not re-read it; try again shortly`;
    const again = hooks.decide(sql);
    if (again.action === 'deny') return null;
    return (await known(again, sql, since)).message;
  }

  const reads = (v: Verdict) => v.action !== 'deny' && v.statements.some((s) => s.reads.length > 0 || s.writes.length > 0 || s.nested.length > 0) && relationsRead(v.statements).length > 0;

  return {
    beforeRun(verdict, sql) {
      remember(verdict);
      if (!reads(verdict)) return null;
      const since = Date.now();
      return known(verdict, sql, since).then(async (k) => k.message ?? (k.verdict.action === 'deny' ? null : unchanged(k.verdict, sql)));
    },
    beforePrepare(verdict, sql) {
      remember(verdict);
      if (!reads(verdict)) return null;
      const relations = relationsRead(verdict.statements);
      const cat = access.current();
      if (relations.every((r) => cat?.relations.has(r))) return null;
      return known(verdict, sql, Date.now()).then((k) => k.message);
    },
    beforeBind(verdict, index, sql) {
      if (!reads(verdict)) return null;
      return (async () => {
        const problem = await unchanged(verdict, sql);
        if (problem) return problem;
        if (decidedOn.get(verdict) === access.current()) return null;
        // Decided on an older catalog: it stands only if the catalog in force decides it the same way.
        const again = hooks.decide(sql);
        const k = again.action === 'deny' ? { message: null } : await known(again, sql, Date.now());
        if (k.message) return k.message;
        if (sameDecision(verdict, again, index)) {
          decidedOn.set(verdict, access.current());
          return null;
        }
        return 'the tables or views this prepared statement reads changed since it was prepared, and Verdict decides it differently now; prepare it again';
      })();
    },
    knownOrigin(tableOid, attnum) {
      if (tableOid === 0 || tableOid < FIRST_NORMAL_OID || temporaryOids.has(tableOid)) return true;
      return access.current()?.columns.has(`${tableOid}:${attnum}`) ?? false;
    },
  };
}

/** Whether two verdicts on the same SQL decide statement `index` alike: the action and the masks. */
function sameDecision(a: Verdict, b: Verdict, index: number): boolean {
  const x = a.decisions[index];
  const y = b.decisions[index];
  if (!x || !y || a.statements.length !== b.statements.length) return false;
  return x.action === y.action && JSON.stringify(x.masks) === JSON.stringify(y.masks) && JSON.stringify(x.measure) === JSON.stringify(y.measure);
}
