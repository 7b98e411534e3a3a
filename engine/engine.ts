// The decision engine: SQL text + identity + connection in, one typed decision per statement out.
// Loads the WASM policy once and evaluates it many times; every failure path is a deny with a reason.
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { DecisionCache, type CacheOptions } from './decision/cache.ts';
import {
  DecisionRecord,
  ENGINE_RULES,
  engineDeny,
  strictest,
  validatePolicyResult,
  type Action,
  type Decision,
  type PolicyDecision,
} from './decision/decision.ts';
import { messageOf } from './errors.ts';
import { CUSTOM_BUILTINS, evaluationClock } from './policy/builtins.ts';
import type { PolicyBundle } from './policy/bundle.ts';
import { analysisFields, buildInput, type ApprovalInput, type Connection, type Identity, type PolicyInput } from './policy/input.ts';
import { unknownStatement, type Dialect, type DialectName } from './sql/dialect.ts';
import { postgres } from './sql/postgres/dialect.ts';
import { snowflake } from './sql/snowflake/dialect.ts';
import type { AnalyzeOptions, BlastRadius, Catalog, StatementAnalysis } from './sql/types.ts';

export { buildInput, inputHash } from './policy/input.ts';

export const DEFAULT_ENTRYPOINT = 'verdict/decision';
export const DEFAULT_MAX_STATEMENT_BYTES = 1024 * 1024;

export interface EngineOptions {
  /** The loaded bundle, or null when it could not be loaded (then every statement is denied). */
  bundle: PolicyBundle | null;
  /** Why the bundle is missing; becomes the reason of every deny. */
  bundleError?: string;
  entrypoint?: string;
  /** The SQL dialect statements are written in; only its parser is loaded. Default 'postgres'. */
  dialect?: DialectName;
  /** Table columns for `*` expansion; the gateway supplies the upstream's catalog. */
  catalog?: Catalog;
  /** PostgreSQL: schemas for unqualified table names. */
  searchPath?: string[];
  /** Snowflake: the session's current database and schema, for names with fewer than three parts. */
  database?: string;
  schema?: string;
  cache?: CacheOptions;
  /** Statements larger than this are denied unparsed; default 1 MiB. */
  maxStatementBytes?: number;
  /** Nesting depth beyond which a statement is denied; default 200. */
  maxDepth?: number;
  /** Most statements one SQL string may hold; more are denied before analysis. Default 1000. */
  maxStatements?: number;
}

export interface DecideContext {
  identity: Identity;
  connection: Connection;
  /** A verified approval for exactly this statement, if any; never cached. */
  approval?: ApprovalInput | null;
  /** Blast radii the gateway measured, by statement index (decision.measure asked for them); never cached. */
  blast_radius?: readonly (BlastRadius | null)[];
  now?: Date;
}

/** The decisions for one SQL string: one per statement, and the strictest action among them. */
export interface Verdict {
  action: Action;
  decisions: Decision[];
  statements: StatementAnalysis[];
}

interface CachedVerdict {
  analysis: StatementAnalysis;
  decision: PolicyDecision;
}

export interface Engine {
  readonly revision: string | null;
  /** Why this engine denies everything (no bundle, a bundle that cannot be instantiated), or null. */
  readonly error: string | null;
  readonly cache: DecisionCache<CachedVerdict>;
  /**
   * Decides every statement of a SQL string.
   *
   * @example
   * const v = engine.decide('SELECT ssn FROM patients', { identity, connection });
   * if (v.action === 'deny') reject(v.decisions.find((d) => d.action === 'deny')!.reasons);
   */
  decide(sql: string, ctx: DecideContext): Verdict;
  /**
   * Evaluates one policy input as it is (no analysis, no cache): what `decide` does after building the input.
   * Replay and the impact preview use it on inputs kept in the evidence.
   */
  evaluate(input: PolicyInput): PolicyDecision;
  /**
   * The bundle's classification of a table's columns (data.classification.phi["schema.table"]): column → PHI
   * type ('ssn', 'clinical', …); empty when the table has none or no bundle is loaded.
   */
  phiTypes(schema: string, table: string): Readonly<Record<string, string>>;
  /**
   * Startup parameters (PostgreSQL GUC names, lower case) a client may pass through to the upstream
   * (data.session.startup_parameters); empty when the bundle names none or no bundle is loaded.
   */
  readonly startupParameters: ReadonlySet<string>;
}

/**
 * Creates an engine for a bundle (load once, evaluate many).
 *
 * @example
 * const engine = await createEngine({ bundle: await loadBundle('.build/bundle.tar.gz') });
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const dialect = DIALECTS[options.dialect ?? 'postgres'];
  await dialect.load();
  const entrypoint = options.entrypoint ?? DEFAULT_ENTRYPOINT;
  const maxBytes = options.maxStatementBytes ?? DEFAULT_MAX_STATEMENT_BYTES;
  const analyzeOptions: AnalyzeOptions = {
    ...(options.catalog ? { catalog: options.catalog } : {}),
    ...(options.searchPath ? { searchPath: options.searchPath } : {}),
    ...(options.database ? { database: options.database } : {}),
    ...(options.schema ? { schema: options.schema } : {}),
    ...(options.maxDepth ? { maxDepth: options.maxDepth } : {}),
    ...(options.maxStatements ? { maxStatements: options.maxStatements } : {}),
  };
  const cache = new DecisionCache<CachedVerdict>(options.cache);
  const bundle = options.bundle;
  const revision = bundle?.revision ?? null;

  let policy: LoadedPolicy | null = null;
  let broken: PolicyDecision | null = null;
  if (!bundle) {
    broken = engineDeny(ENGINE_RULES.NoBundle, `no policy is loaded: ${options.bundleError ?? 'no bundle configured'}`);
  } else {
    try {
      policy = await loadPolicy(bundle.wasm, undefined, CUSTOM_BUILTINS);
      policy.setData(bundle.data as object);
      if (!Object.hasOwn(policy.entrypoints, entrypoint)) {
        broken = engineDeny(
          ENGINE_RULES.EntrypointMissing,
          `the policy bundle (revision ${bundle.revision}) has no entrypoint ${entrypoint}; it has: ${Object.keys(policy.entrypoints).join(', ') || 'none'}`,
        );
      }
    } catch (err) {
      broken = engineDeny(ENGINE_RULES.BundleInvalid, `the policy bundle could not be instantiated: ${messageOf(err)}`);
    }
  }

  // Each distinct identity + connection gets a small id, so cache keys stay short (fingerprint + id).
  // The bundle revision is fixed per engine: a new bundle means a new engine and a new cache.
  const ctxIds = new WeakMap<DecideContext, number>();
  const idsByKey = new Map<string, number>();
  const contextId = (ctx: DecideContext): number => {
    let id = ctxIds.get(ctx);
    if (id === undefined) {
      const { identity: i, connection: c } = ctx;
      // expires_at is left out: the gateway ends sessions at expiry, and it would make every token a new key.
      const key = JSON.stringify([i.sub, i.email, i.groups, i.issuer, c]);
      id = idsByKey.get(key);
      if (id === undefined) idsByKey.set(key, (id = idsByKey.size));
      ctxIds.set(ctx, id);
    }
    return id;
  };

  function evaluate(input: PolicyInput): PolicyDecision {
    if (broken) return broken;
    evaluationClock.nowNs = Date.parse(input.now) * 1e6;
    let resultSet: unknown;
    try {
      resultSet = policy!.evaluate(input, entrypoint);
    } catch (err) {
      return engineDeny(ENGINE_RULES.EvaluationError, `policy evaluation failed: ${messageOf(err)}`);
    }
    const checked = validatePolicyResult(resultSet);
    return checked.ok ? checked.value : engineDeny(ENGINE_RULES.MalformedDecision, `the policy's decision is malformed: ${checked.error}`);
  }

  function finish(
    policyDecision: PolicyDecision,
    analysis: StatementAnalysis,
    fp: string | null,
    index: number,
    count: number,
    ctx: DecideContext,
    now: Date,
    cached: boolean,
  ): Decision {
    return new DecisionRecord(policyDecision, revision ?? 'none', fp, cached, () =>
      buildInput(analysis, fp, index, count, ctx, now),
    );
  }

  function decide(sql: string, ctx: DecideContext): Verdict {
    const now = ctx.now ?? new Date();
    if (sql.length > maxBytes / 4 && Buffer.byteLength(sql, 'utf8') > maxBytes) {
      const analysis = unknownStatement(sql.slice(0, 200), `statement of ${Buffer.byteLength(sql, 'utf8')} bytes`);
      const d = engineDeny(
        ENGINE_RULES.StatementTooLarge,
        `the statement is ${Buffer.byteLength(sql, 'utf8')} bytes; the limit is ${maxBytes} bytes`,
      );
      return { action: 'deny', decisions: [finish(d, analysis, null, 0, 1, ctx, now, false)], statements: [analysis] };
    }

    const fp = dialect.fingerprint(sql);
    const useCache = fp !== null && !ctx.approval && !ctx.blast_radius && broken === null;
    const key = useCache ? `${contextId(ctx)}\u0000${fp}` : '';
    if (useCache) {
      const hit = cache.get(key, now.getTime());
      if (hit) {
        const analysis = analysisFields(hit.analysis, statementText(sql));
        const d = finish(hit.decision, analysis, fp, 0, 1, ctx, now, true);
        return { action: d.action, decisions: [d], statements: [analysis] };
      }
    }

    let statements = dialect.analyze(sql, analyzeOptions);
    if (statements.length === 0) {
      const none = unknownStatement(sql, 'the SQL string holds no statement');
      noStatement.add(none);
      statements = [none];
    }
    const count = statements.length;
    const stmtFp = count === 1 ? fp : null;
    const policyDecisions = statements.map((analysis, index) =>
      evaluate(buildInput(analysis, stmtFp, index, count, ctx, now)),
    );
    const decisions = policyDecisions.map((pd, index) =>
      finish(pd, statements[index]!, stmtFp, index, count, ctx, now, false),
    );
    if (useCache && count === 1 && !statements[0]!.literal_dependent && policyDecisions[0]!.cacheable) {
      cache.set(key, { analysis: statements[0]!, decision: policyDecisions[0]! }, now.getTime());
    }
    return { action: strictest(decisions.map((d) => d.action)), decisions, statements };
  }

  const phi = ((bundle?.data as { classification?: { phi?: Record<string, Record<string, string>> } } | undefined)?.classification?.phi ?? {});
  const phiTypes = (schema: string, table: string): Readonly<Record<string, string>> => (Object.hasOwn(phi, `${schema}.${table}`) ? phi[`${schema}.${table}`]! : {});
  const listed = (bundle?.data as { session?: { startup_parameters?: unknown } } | undefined)?.session?.startup_parameters;
  const startupParameters = new Set(Array.isArray(listed) ? listed.filter((p): p is string => typeof p === 'string').map((p) => p.toLowerCase()) : []);
  return { revision, error: broken ? broken.reasons[0]!.message : null, cache, decide, evaluate, phiTypes, startupParameters };
}

/** The stand-in analyses of strings that hold no statement ('', only comments): unforgeable by any SQL text. */
const noStatement = new WeakSet<StatementAnalysis>();

/**
 * Whether the SQL string decided held no statement at all (empty, blanks, only comments): the policy denies
 * it as unanalyzable, and a door whose server answers such a string with "nothing ran" (PostgreSQL's
 * EmptyQueryResponse) may let the server answer instead.
 *
 * @example
 * holdsNoStatement(engine.decide('-- ping', ctx)) // true
 */
export function holdsNoStatement(v: Verdict): boolean {
  return v.statements.length === 1 && noStatement.has(v.statements[0]!);
}

const DIALECTS: Record<DialectName, Dialect> = { postgres, snowflake };

/**
 * The dialect of an engine kind (connection.engine).
 *
 * @example
 * dialectOf('snowflake').measurementQuery?.(statement)
 */
export function dialectOf(name: DialectName): Dialect {
  return DIALECTS[name];
}

/** The text of a single-statement string as the analyzer would slice it. */
function statementText(sql: string): string {
  return sql.trim().replace(/;\s*$/, '').trimEnd();
}
