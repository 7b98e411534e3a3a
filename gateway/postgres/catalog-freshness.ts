// What the PostgreSQL door knows of its upstream's relations, and the rules that keep it honest. A relation made,
// replaced or renamed behind Verdict's back (directly on PostgreSQL) is never taken for an unclassified, harmless
// table: a statement that reads one the catalog does not know waits for the catalog to be re-read and is decided
// again, or refused (rule postgres.uncataloged_relation); a statement that reads relations the catalog knows is
// checked against their versions (pg_class / pg_rewrite row versions, following views to what they read) before it
// runs; and a result column the server says comes from a relation (or column) the catalog does not know is never
// passed as it is (the tracker blanks it and the catalog is re-read).
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { preparedQuery, setupQuery } from '../upstream/postgres/query.ts';
import type { UpstreamConnection } from '../upstream/postgres/upstream.ts';
import { READ_ONLY_BUILTINS } from './side-effects.ts';

/** The relations of an upstream as the catalog in force was loaded. Keys are 'schema.relation'. */
export interface RelationCatalog {
  /** Every table, view, materialized view and foreign table the catalog knows, by name → its OID. */
  relations: ReadonlyMap<string, number>;
  /**
   * Each relation's version by OID: its pg_class row version (xmin: any ALTER, RENAME, new column) and its
   * rules' row versions (pg_rewrite xmin: CREATE OR REPLACE VIEW keeps the OID but writes a new rule).
   */
  versions: ReadonlyMap<number, string>;
  /** Result-column origins the catalog knows: `${tableOid}:${attnum}` (RowDescription's ground truth). */
  columns: ReadonlySet<string>;
  /**
   * Functions outside PostgreSQL's own schemas, by 'schema.name' → the version of all its overloads (each one's
   * OID and pg_proc row version: CREATE OR REPLACE FUNCTION keeps the OID, writes a new row).
   */
  functions: ReadonlyMap<string, string>;
  /** Names of pg_catalog's functions (what an unqualified call finds first). */
  builtins: ReadonlySet<string>;
  /** Names of pg_catalog's functions that are immutable or stable in every overload (side-effects.ts). */
  readOnlyBuiltins: ReadonlySet<string>;
  /** Names (without schema) of the functions outside PostgreSQL's own schemas. */
  userFunctionNames: ReadonlySet<string>;
}

/** OIDs below this are the cluster's own objects, made by initdb (pg_catalog, information_schema). */
export const FIRST_NORMAL_OID = 16384;

/** Schemas whose relations are PostgreSQL's own: not classified, never unknown. */
const SYSTEM_SCHEMAS: ReadonlySet<string> = new Set(['pg_catalog', 'information_schema']);

const USER_SCHEMAS = `n.nspname NOT IN ('information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;

/**
 * A relation's own version: its pg_class row's (ALTER, new columns, RENAME) and its columns' pg_attribute rows'
 * (RENAME COLUMN and ALTER COLUMN … TYPE write pg_attribute alone: a rename swapping ssn and name keeps the
 * pg_class row as it was). `c` is the pg_class row.
 */
const RELATION_VERSION = `c.xmin::pg_catalog.text || ':' || COALESCE((SELECT pg_catalog.string_agg(a.xmin::pg_catalog.text, ',' ORDER BY a.attnum)
  FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0), '')`;

/** One row per relation: name, OID, version (RELATION_VERSION, then its rules' OIDs and xmins). */
const VERSION_COLUMNS = `c.oid::text, n.nspname, c.relname,
  ${RELATION_VERSION} || COALESCE('/' || (SELECT string_agg(r.oid::text || ':' || r.xmin::text, ',' ORDER BY r.oid) FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid), '')`;

const VERSIONS = `SELECT ${VERSION_COLUMNS}
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r','p','v','m','f') AND ${USER_SCHEMAS}`;

/** Functions by 'schema.name' with the version of all their overloads. */
const FUNCTION_VERSION = `pg_catalog.string_agg(p.oid::text || ':' || p.xmin::text, ',' ORDER BY p.oid)`;

const FUNCTIONS = `SELECT n.nspname, p.proname, ${FUNCTION_VERSION}
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_temp%' AND n.nspname NOT LIKE 'pg\\_toast%'
GROUP BY n.nspname, p.proname`;

const BUILTINS = `SELECT DISTINCT p.proname FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace`;

const COLUMNS = `SELECT a.attrelid::text || ':' || a.attnum::text
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r','p','v','m','f') AND ${USER_SCHEMAS}`;

/**
 * Reads the relations, their versions and their columns' origins over a connection of the gateway's own.
 * Rejects with the server's error. Read after the engine's catalog (loadUpstreamCatalog): a relation changed
 * between the two reads shows a version the engine's catalog may not reflect, and the next check re-reads both.
 *
 * @example
 * const rel = await loadRelationCatalog(conn); rel.relations.get('public.patients') // 16390
 */
export async function loadRelationCatalog(conn: UpstreamConnection): Promise<RelationCatalog> {
  const relations = new Map<string, number>();
  const versions = new Map<number, string>();
  for (const [oid, schema, name, version] of await setupQuery(conn, VERSIONS)) {
    relations.set(`${schema}.${name}`, Number(oid));
    versions.set(Number(oid), version ?? '');
  }
  const columns = new Set<string>();
  for (const [key] of await setupQuery(conn, COLUMNS)) if (key) columns.add(key);
  const functions = new Map<string, string>();
  for (const [schema, name, version] of await setupQuery(conn, FUNCTIONS)) functions.set(`${schema}.${name}`, version ?? '');
  const builtins = new Set<string>();
  for (const [name] of await setupQuery(conn, BUILTINS)) if (name) builtins.add(name);
  const readOnlyBuiltins = new Set<string>();
  for (const [name] of await setupQuery(conn, READ_ONLY_BUILTINS)) if (name) readOnlyBuiltins.add(name);
  const userFunctionNames = new Set([...functions.keys()].map((k) => k.slice(k.indexOf('.') + 1)));
  return { relations, versions, columns, functions, builtins, readOnlyBuiltins, userFunctionNames };
}

/** A relation a statement reads (or takes rows from) that the catalog cannot account for. */
export interface RelationGap {
  /** 'schema.relation' as the statement names it (the analysis' default schema when unqualified). */
  relation: string;
  reason: 'unknown' | 'no_catalog';
}

/**
 * The relations whose rows a statement reads: what it reads, and the targets of writes that hand rows or counts
 * back from them (UPDATE / DELETE / MERGE, and any write with RETURNING). A plain INSERT without RETURNING takes
 * nothing from its target. PostgreSQL's own schemas are left out. Keys are 'schema.relation'.
 *
 * @example
 * relationsRead(analyzeSql('SELECT * FROM late_view')) // ['public.late_view']
 */
export function relationsRead(statements: readonly StatementAnalysis[]): string[] {
  const out = new Set<string>();
  const visit = (s: StatementAnalysis) => {
    for (const r of s.reads) if (!SYSTEM_SCHEMAS.has(r.schema)) out.add(`${r.schema}.${r.table}`);
    const takes = s.kind === 'update' || s.kind === 'delete' || s.kind === 'merge' || (s.kind === 'insert' && s.result_columns.length > 0);
    if (takes) for (const w of s.writes) if (!SYSTEM_SCHEMAS.has(w.schema)) out.add(`${w.schema}.${w.table}`);
  };
  for (const s of statements) {
    visit(s);
    for (const n of s.nested) visit(n);
  }
  return [...out];
}

/**
 * The functions outside PostgreSQL's own schemas that the statements call, as 'schema.name': qualified as written,
 * else pg_catalog's (a builtin: left out) or the search path's first schema ('public', as the analysis reads names).
 *
 * @example
 * functionsCalled(analyzeSql('SELECT leak(), upper(x) FROM t'), cat) // ['public.leak']
 */
export function functionsCalled(statements: readonly StatementAnalysis[], cat: RelationCatalog | null): string[] {
  const out = new Set<string>();
  const visit = (s: StatementAnalysis) => {
    for (const f of s.functions) {
      const parts = f.split('.');
      const name = parts[parts.length - 1]!;
      if (parts.length === 1) {
        if (cat?.builtins.has(name) ?? false) continue;
        out.add(`public.${name}`);
      } else {
        const schema = parts[parts.length - 2]!;
        if (SYSTEM_SCHEMAS.has(schema)) continue;
        out.add(`${schema}.${name}`);
      }
    }
  };
  for (const s of statements) {
    visit(s);
    for (const n of s.nested) visit(n);
  }
  return [...out];
}

/**
 * What of `relations` the catalog does not know. `ownTemporary(name)` says whether the session made a temporary
 * relation of that (unqualified) name through Verdict: those are the session's own, checked on its connection.
 *
 * @example
 * relationGaps(['public.late_view'], cat, () => false) // [{ relation: 'public.late_view', reason: 'unknown' }]
 */
export function relationGaps(relations: readonly string[], cat: RelationCatalog | null, ownTemporary: (name: string) => boolean): RelationGap[] {
  const gaps: RelationGap[] = [];
  for (const relation of relations) {
    if (cat?.relations.has(relation)) continue;
    const name = relation.slice(relation.indexOf('.') + 1);
    if ((relation.startsWith('public.') || relation.startsWith('pg_temp.')) && ownTemporary(name)) continue;
    gaps.push({ relation, reason: cat ? 'unknown' : 'no_catalog' });
  }
  return gaps;
}

/**
 * The refusal's text for a gap.
 *
 * @example
 * gapMessage({ relation: 'public.late_view', reason: 'unknown' })
 */
export function gapMessage(g: RelationGap): string {
  if (g.reason === 'no_catalog') return `Verdict could not read the upstream's catalog, so ${g.relation} cannot be classified; try again shortly`;
  return `${g.relation} is not in Verdict's catalog of the upstream, even re-read just now (it may not exist, may have been made outside Verdict, or may be a temporary table this session did not create through Verdict): what it holds cannot be classified`;
}

/** The named temporary relations a statement creates: `CREATE TEMP TABLE x …`, `CREATE TEMP VIEW x …`, `SELECT … INTO TEMP x`. */
export function temporaryRelationsCreated(statements: readonly StatementAnalysis[]): string[] {
  const out: string[] = [];
  for (const s of statements) {
    if (s.writes.length === 0 || !/^(CREATE|SELECT)/.test(s.command)) continue;
    if (!/^\s*create\s+(?:or\s+replace\s+)?(?:(?:global|local)\s+)?temp(?:orary)?\s/i.test(s.text) && !/\binto\s+(?:(?:global|local)\s+)?temp(?:orary)?\s/i.test(s.text)) continue;
    for (const w of s.writes) out.push(w.table);
  }
  return out;
}

/**
 * SQL run on the session's own connection: how each of `relations` ('schema.relation') resolves there — as the
 * statement names it (unqualified: the session's search_path, where its temporary relations come first) or
 * qualified — and whether each of `functions` ('schema.name') exists. One row per relation: (relation, OID or NULL
 * when it does not resolve, whether it is a temporary relation of this session); per function: ('function ' + key,
 * its first OID or NULL, 'false').
 */
export function resolveSql(relations: readonly string[], functions: readonly string[] = []): string {
  const triple = (r: string, prefix = '') => {
    const dot = r.indexOf('.');
    return `(${literal(prefix + r)}, ${literal(r.slice(0, dot))}, ${literal(r.slice(dot + 1))})`;
  };
  const parts: string[] = [];
  if (relations.length > 0) {
    parts.push(`SELECT v.key, c.oid::text, (c.relpersistence = 't' AND c.relnamespace = pg_catalog.pg_my_temp_schema())::text
FROM (VALUES ${relations.map((r) => triple(r)).join(', ')}) AS v(key, schema, name)
LEFT JOIN pg_catalog.pg_class c ON c.oid = COALESCE(pg_catalog.to_regclass(pg_catalog.quote_ident(v.name)),
  pg_catalog.to_regclass(pg_catalog.quote_ident(v.schema) || '.' || pg_catalog.quote_ident(v.name)))`);
  }
  if (functions.length > 0) {
    parts.push(`SELECT v.key, (SELECT min(p.oid)::text FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE p.proname = v.name AND (n.nspname = v.schema OR n.oid = pg_catalog.pg_my_temp_schema())), 'false'
FROM (VALUES ${functions.map((f) => triple(f, 'function ')).join(', ')}) AS v(key, schema, name)`);
  }
  return parts.join('\nUNION ALL\n');
}

/**
 * Whether any relation a statement reads changed since `cat` was loaded: dropped, renamed, replaced by another of
 * its name, altered (new columns), a view redefined (CREATE OR REPLACE VIEW), or any relation a view reads (its
 * rules' dependencies, followed through views of views) changed. One prepared query over the gateway's own
 * connection (parameters: versionsParams), planned once per connection.
 */
export const VERSIONS_CHECK = `WITH RECURSIVE named(oid) AS (
  SELECT c.oid FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.name[]), pg_catalog.unnest($2::pg_catalog.name[])) AS a(schema, name)
  JOIN pg_catalog.pg_namespace n ON n.nspname = a.schema
  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = a.name
), deps(oid) AS (
  SELECT oid FROM named
  UNION
  SELECT d.refobjid FROM deps
  JOIN pg_catalog.pg_rewrite r ON r.ev_class = deps.oid
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
    AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
), called(schema, name) AS (
  SELECT * FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.name[]), pg_catalog.unnest($4::pg_catalog.name[]))
  UNION
  -- functions the views read call (their rules depend on them)
  SELECT n.nspname, p.proname FROM deps
  JOIN pg_catalog.pg_rewrite r ON r.ev_class = deps.oid
  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
    AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
  JOIN pg_catalog.pg_proc p ON p.oid = d.refobjid JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
)
SELECT 'r', ${VERSION_COLUMNS}
FROM deps JOIN pg_catalog.pg_class c ON c.oid = deps.oid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
UNION ALL
SELECT 'f', '', n.nspname, p.proname, ${FUNCTION_VERSION}
FROM called JOIN pg_catalog.pg_namespace n ON n.nspname = called.schema JOIN pg_catalog.pg_proc p ON p.pronamespace = n.oid AND p.proname = called.name
GROUP BY n.nspname, p.proname`;

/**
 * The parameters of VERSIONS_CHECK for `relations` and `functions` ('schema.name' keys): four text arrays
 * (schemas and names of each), in PostgreSQL's array literal syntax.
 */
export function versionsParams(relations: readonly string[], functions: readonly string[] = []): [string, string, string, string] {
  const split = (keys: readonly string[]) => {
    const schemas: string[] = [];
    const names: string[] = [];
    for (const k of keys) {
      const dot = k.indexOf('.');
      schemas.push(k.slice(0, dot));
      names.push(k.slice(dot + 1));
    }
    return [arrayLiteral(schemas), arrayLiteral(names)] as const;
  };
  return [...split(relations), ...split(functions)];
}

/**
 * The versions of tables (by 'schema.name', quoted as qualifiedName) as they resolve now: name, OID, version
 * (RELATION_VERSION), whether it has rules. A name that resolves to nothing gives NULLs.
 */
const TABLE_VERSIONS_CHECK = `SELECT k.key, c.oid::pg_catalog.text, ${RELATION_VERSION}, c.relhasrules::pg_catalog.text
FROM pg_catalog.unnest($1::pg_catalog.text[]) AS k(key) LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(k.key)`;

/** A relation the catalog knows with no rules (a table, not a view): its version is its pg_class row's alone. */
function isPlainTable(cat: RelationCatalog, relation: string): boolean {
  const oid = cat.relations.get(relation);
  const version = oid === undefined ? undefined : cat.versions.get(oid);
  return version !== undefined && !version.includes('/');
}

/** 'schema.name' as a qualified, quoted SQL name for to_regclass. */
function qualifiedName(relation: string): string {
  const dot = relation.indexOf('.');
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `${quote(relation.slice(0, dot))}.${quote(relation.slice(dot + 1))}`;
}

/** TABLE_VERSIONS_CHECK's rows as VERSIONS_CHECK's, for relationsChanged: a table that now has rules shows a version no catalog holds. */
function tableRows(relations: readonly string[], found: readonly (string | null)[][]): (string | null)[][] {
  const byKey = new Map(relations.map((r) => [qualifiedName(r), r]));
  const rows: (string | null)[][] = [];
  found.forEach(([key, oid, version, rules]) => {
    const relation = byKey.get(key ?? '');
    if (oid === null || oid === undefined || relation === undefined) return;
    const dot = relation.indexOf('.');
    rows.push(['r', oid, relation.slice(0, dot), relation.slice(dot + 1), rules === 'true' ? `${version}/rules` : (version ?? null)]);
  });
  return rows;
}

/** A text[] literal: every element quoted, `"` and `\` escaped (arrays.html#ARRAYS-IO). */
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

/**
 * Whether the rows VERSIONS_CHECK reads show a change from `cat`: a name that is gone or is another
 * relation now, a relation (or one a view reads) whose version differs or that the catalog does not know.
 *
 * @example
 * relationsChanged(cat, ['public.swap_view'], rows) // true after DROP VIEW swap_view; CREATE VIEW swap_view …
 */
export function relationsChanged(cat: RelationCatalog, relations: readonly string[], rows: readonly (string | null)[][], functions: readonly string[] = []): boolean {
  const byName = new Map<string, number>();
  const called = new Set<string>();
  for (const [kind, oid, schema, name, version] of rows) {
    if (kind === 'f') {
      const key = `${schema}.${name}`;
      called.add(key);
      if (cat.functions.get(key) !== (version ?? '')) return true;
      continue;
    }
    const o = Number(oid);
    byName.set(`${schema}.${name}`, o);
    if (o < FIRST_NORMAL_OID) continue;
    if (cat.versions.get(o) !== (version ?? '')) return true;
  }
  return relations.some((r) => byName.get(r) !== cat.relations.get(r)) || functions.some((f) => !called.has(f));
}

/** How the door reads, refreshes and checks its upstream's relation catalog. */
export interface RelationCatalogAccess {
  /** The catalog in force; null when none could be loaded. */
  current(): RelationCatalog | null;
  /** Resolves once a load that started at or after `since` (ms epoch) has ended: true if it succeeded. */
  refresh(since: number): Promise<boolean>;
  /** Whether any of `relations` (or `functions`) changed since the catalog in force was loaded; rejects when it cannot tell. */
  changed(relations: readonly string[], functions?: readonly string[]): Promise<boolean>;
}

/** A version checker: `changed` as in RelationCatalogAccess, and `close` for shutdown. */
export interface VersionChecker {
  changed(relations: readonly string[], functions?: readonly string[]): Promise<boolean>;
  /** Ends the checker's connection; later checks open a new one. */
  close(): void;
}

/**
 * Checks relation versions over connections of the gateway's own (up to `lanes`, each opened on first use and
 * again after a failure). Checks are coalesced: every caller waits for a query that began after it asked (so a
 * change committed before a statement arrived is seen), each query covering every relation asked for meanwhile,
 * one query at a time per connection.
 *
 * Why lanes: a statement's answer is held until its check has passed, so with one connection a check asked for
 * while another runs waits for that one to end and then for its own — two round trips, during which the
 * client waits. Under pgbench -S -M prepared through a standalone gateway (8 clients) that wait capped throughput
 * as much as CPU did: 2,081 TPS with the check, 3,820 with it off, and more with more clients (4,651 at 32). A second
 * connection starts the next check while one runs: median of six interleaved runs 2,490 TPS with one
 * connection, 2,770 with two, 2,730 with four (so two). Checks begin after the event loop's current turn, so
 * the statements that arrived together share one.
 *
 * @example
 * A check that takes longer than `timeoutMs` rejects (and its connection is opened anew).
 *
 * @example
 * const check = versionChecker(() => connectUpstream(target), () => relationCatalog);
 * if (await check.changed(['public.patient_view'])) await refresh(Date.now());
 */
export function versionChecker(connect: () => Promise<UpstreamConnection>, current: () => RelationCatalog | null, timeoutMs = 5_000, lanes = 2): VersionChecker {
  interface Lane {
    conn: Promise<UpstreamConnection> | null;
    running: boolean;
  }
  const pool: Lane[] = Array.from({ length: Math.max(1, lanes) }, () => ({ conn: null, running: false }));
  let waiting: { relations: readonly string[]; functions: readonly string[]; resolve: (changed: boolean) => void; reject: (err: Error) => void }[] = [];
  let scheduled = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      for (const lane of pool) if (!lane.running && waiting.length > 0) void run(lane);
    });
  };
  const open = (lane: Lane): Promise<UpstreamConnection> => {
    if (lane.conn) return lane.conn;
    const opening = connect().then((c) => {
      // Idle between checks: a connection the server ends is opened again on the next check.
      c.socket.on('error', () => undefined);
      c.socket.unref();
      c.socket.on('close', () => {
        if (lane.conn === opening) lane.conn = null;
      });
      return c;
    });
    lane.conn = opening;
    return opening;
  };
  const run = async (lane: Lane): Promise<void> => {
    lane.running = true;
    const batch = waiting;
    waiting = [];
    const names = [...new Set(batch.flatMap((w) => w.relations))];
    const fns = [...new Set(batch.flatMap((w) => w.functions))];
    try {
      const c = await open(lane);
      const cat = current();
      let timer: NodeJS.Timeout | undefined;
      // Tables without rules (most of what statements read) have nothing to follow: their version is their
      // pg_class row's, read by OID through to_regclass (0.02 ms of server time, against 0.2 ms for the
      // recursive check; under load on 2 cores 1.3 ms a round, which capped bench:gateway's throughput).
      const plain = cat !== null && fns.length === 0 && names.every((r) => isPlainTable(cat, r));
      const rows = await Promise.race([
        plain ? preparedQuery(c, 'verdict_table_versions', TABLE_VERSIONS_CHECK, [arrayLiteral(names.map(qualifiedName))]).then((found) => tableRows(names, found)) : preparedQuery(c, 'verdict_versions', VERSIONS_CHECK, versionsParams(names, fns)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`the catalog check took longer than ${timeoutMs} ms`)), timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
      for (const w of batch) w.resolve(cat === null || relationsChanged(cat, w.relations, rows, w.functions));
    } catch (err) {
      const failed = lane.conn;
      lane.conn = null;
      void failed?.then((c) => c.close(), () => undefined);
      for (const w of batch) w.reject(err as Error);
    } finally {
      lane.running = false;
      if (waiting.length > 0) schedule();
    }
  };
  return {
    changed: (relations, functions = []) =>
      new Promise<boolean>((resolve, reject) => {
        waiting.push({ relations, functions, resolve, reject });
        schedule();
      }),
    close() {
      for (const lane of pool) {
        const c = lane.conn;
        lane.conn = null;
        void c?.then((conn) => conn.close(), () => undefined);
      }
    },
  };
}

/** A SQL string literal (standard_conforming_strings on, as on the gateway's own connections). */
function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
