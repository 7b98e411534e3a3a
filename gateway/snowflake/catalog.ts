// What the Snowflake door knows of its upstream's objects (INFORMATION_SCHEMA: columns, views' definitions, every
// table and view), and the rule that keeps it honest: a statement that reads an object the catalog does not know,
// or a view whose definition Verdict cannot read or follow, is refused — an object made behind Verdict's back is
// never taken for an unclassified, harmless table.
import type { Catalog, StatementAnalysis } from '../../engine/sql/types.ts';
import type { SnowflakeSession } from '../upstream/snowflake/connection.ts';

/** An upstream database's catalog as loaded. Keys are 'DATABASE.SCHEMA.NAME', as the Snowflake analysis names objects. */
export interface SnowflakeCatalog {
  /** Columns of tables and views (in ordinal order) and the views' definitions, for the analysis. */
  catalog: Catalog;
  /** Every table and view of the database (INFORMATION_SCHEMA.TABLES), with or without columns. */
  objects: ReadonlySet<string>;
  /**
   * Views whose definition Verdict's role cannot read (a secure view it does not own: Snowflake shows its
   * VIEW_DEFINITION to the owner role only). What they derive from is unknown.
   */
  hiddenViews: ReadonlySet<string>;
  /** Each view's LAST_ALTERED as loaded (text): a view replaced since shows another, even to a role that cannot read its text. */
  viewVersions: ReadonlyMap<string, string | null>;
  /** The database loaded (upper case). */
  database: string;
}

/** The part of an upstream session the loader needs. */
export type CatalogSession = Pick<SnowflakeSession, 'execute'>;

/**
 * Loads `database`'s catalog through INFORMATION_SCHEMA: COLUMNS, TABLES and VIEWS (VIEW_DEFINITION is the
 * CREATE VIEW statement as submitted; the analysis follows it). Rejects when any of the three cannot be read.
 *
 * @example
 * const c = await loadSnowflakeCatalog(session, 'clinic');
 * c.catalog.views?.['CLINIC.PUBLIC.PATIENT_VIEW'] // 'CREATE VIEW PATIENT_VIEW AS SELECT …'
 */
export async function loadSnowflakeCatalog(session: CatalogSession, database: string): Promise<SnowflakeCatalog> {
  const db = database.toUpperCase();
  const from = (view: string) => `${quoted(db)}.INFORMATION_SCHEMA.${view} WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA'`;
  const columns = await session.execute(`SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM ${from('COLUMNS')} ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`);
  // LAST_ALTERED from TABLES, the view relationsChanged reads it from again.
  const objects = await session.execute(`SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, LAST_ALTERED FROM ${from('TABLES')}`);
  const views = await session.execute(`SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM ${from('VIEWS')}`);

  const tables: Record<string, string[]> = {};
  for (const [schema, table, column] of columns.rows) {
    if (!schema || !table || !column) continue;
    (tables[`${db}.${schema}.${table}`] ??= []).push(column);
  }
  const known = new Set<string>(Object.keys(tables));
  const viewLike = new Set<string>();
  const versions = new Map<string, string | null>();
  for (const [schema, table, type, altered] of objects.rows) {
    if (!schema || !table) continue;
    const key = `${db}.${schema}.${table}`;
    known.add(key);
    if (!/VIEW/i.test(type ?? '')) continue;
    viewLike.add(key);
    versions.set(key, altered ?? null);
  }
  const definitions: Record<string, string> = {};
  const hidden = new Set<string>();
  for (const [schema, table, definition] of views.rows) {
    if (!schema || !table) continue;
    const key = `${db}.${schema}.${table}`;
    known.add(key);
    if (!versions.has(key)) versions.set(key, null);
    if (definition) definitions[key] = definition;
    else hidden.add(key);
  }
  // A view TABLES lists but VIEWS does not describe (a materialized view, say) is as opaque as a hidden one.
  for (const key of viewLike) if (definitions[key] === undefined) hidden.add(key);
  return { catalog: { tables, views: definitions }, objects: known, hiddenViews: hidden, viewVersions: versions, database: db };
}

/** The catalog's tables and views that the statements read: 'DATABASE.SCHEMA.NAME'. */
export function relationsRead(statements: readonly StatementAnalysis[], cat: SnowflakeCatalog): string[] {
  const out = new Set<string>();
  for (const s of statements) {
    for (const x of [s, ...s.nested]) for (const r of x.reads) if (cat.objects.has(`${r.schema}.${r.table}`)) out.add(`${r.schema}.${r.table}`);
  }
  return [...out];
}

/**
 * Whether any of `relations` changed since `cat` was loaded in a way that changes what it shows: dropped, a table
 * that is now a view (or the reverse), a view replaced or altered (its LAST_ALTERED, which Snowflake shows even to
 * a role that cannot read the view's text). Read now through `session` from INFORMATION_SCHEMA.TABLES. A statement
 * is judged by the catalog as loaded, so one that reads a view made over SSN in place of a view over ID (or of a
 * table) must not be judged by the old object.
 *
 * @example
 * if (await relationsChanged(upstream, cat, ['CLINIC.PUBLIC.PATIENT_VIEW'])) await access.refresh(Date.now());
 */
export async function relationsChanged(session: CatalogSession, cat: SnowflakeCatalog, relations: readonly string[]): Promise<boolean> {
  if (relations.length === 0) return false;
  const names = [...new Set(relations.map((v) => v.split('.').pop()!))];
  const r = await session.execute(
    `SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, LAST_ALTERED FROM ${quoted(cat.database)}.INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME IN (${names.map(() => '?').join(', ')})`,
    names,
  );
  const now = new Map(r.rows.map(([schema, table, type, altered]) => [`${cat.database}.${schema}.${table}`, { view: /VIEW/i.test(type ?? ''), altered: altered ?? null }]));
  return relations.some((key) => {
    const o = now.get(key);
    if (!o) return true;
    const wasView = cat.viewVersions.has(key) || cat.hiddenViews.has(key);
    return o.view !== wasView || (o.view && o.altered !== (cat.viewVersions.get(key) ?? null));
  });
}

/** A relation a statement reads that the catalog cannot account for, and why. */
export interface CatalogGap {
  /** 'DATABASE.SCHEMA.NAME' */
  relation: string;
  reason: 'unknown' | 'hidden_view' | 'view_not_followed' | 'no_catalog';
}

/**
 * What the statements read that `cat` cannot account for: relations it does not know (made outside Verdict since
 * it was loaded, in another database, or not existing at all), views whose definition Verdict cannot read, views
 * the analysis could not follow. Stages (`@…`) and INFORMATION_SCHEMA are not classified objects and pass.
 *
 * @example
 * catalogGaps(verdict.statements, cat) // [{ relation: 'CLINIC.PUBLIC.NEW_VIEW', reason: 'unknown' }]
 */
export function catalogGaps(statements: readonly StatementAnalysis[], cat: SnowflakeCatalog | null): CatalogGap[] {
  const gaps = new Map<string, CatalogGap>();
  const visit = (s: StatementAnalysis) => {
    for (const r of s.reads) {
      if (r.table.startsWith('@')) continue;
      const schema = r.schema.split('.').pop() ?? '';
      if (schema === 'INFORMATION_SCHEMA') continue;
      const relation = `${r.schema}.${r.table}`;
      if (gaps.has(relation)) continue;
      if (!cat) gaps.set(relation, { relation, reason: 'no_catalog' });
      else if (cat.hiddenViews.has(relation)) gaps.set(relation, { relation, reason: 'hidden_view' });
      else if (!cat.objects.has(relation)) gaps.set(relation, { relation, reason: 'unknown' });
    }
    for (const u of s.unresolved) {
      const m = /^view: (?:the definition of )?(\S+)/.exec(u.reason);
      if (m && !gaps.has(m[1]!)) gaps.set(m[1]!, { relation: m[1]!, reason: 'view_not_followed' });
    }
  };
  for (const s of statements) {
    visit(s);
    for (const n of s.nested) visit(n);
  }
  return [...gaps.values()];
}

/**
 * The refusal's text for the first gap.
 *
 * @example
 * gapMessage({ relation: 'CLINIC.PUBLIC.V2', reason: 'unknown' })
 */
export function gapMessage(g: CatalogGap): string {
  switch (g.reason) {
    case 'hidden_view':
      return `${g.relation} is a secure view whose definition Verdict's role on the upstream cannot read, so what it shows cannot be classified or masked`;
    case 'view_not_followed':
      return `the definition of view ${g.relation} cannot be analyzed, so what it shows cannot be classified or masked`;
    case 'no_catalog':
      return `Verdict could not read the upstream's catalog, so ${g.relation} cannot be classified; try again shortly`;
    default:
      return `${g.relation} is not in Verdict's catalog of the upstream, even re-read just now (it may not exist, or lie outside the database Verdict serves): what it holds cannot be classified`;
  }
}

/** How the door reads and refreshes its upstream's catalog. */
export interface CatalogAccess {
  /** The catalog in force; null when none could be loaded. */
  current(): SnowflakeCatalog | null;
  /** Resolves once a load that started at or after `since` (ms epoch) has ended: true if it succeeded. */
  refresh(since: number): Promise<boolean>;
}

/**
 * Coalesces catalog loads: a caller waits for a load that began no earlier than it asks for (so an object made a
 * moment ago is seen), loads never overlap, and they start at most once per `minIntervalMs` however many
 * statements name unknown objects.
 *
 * @example
 * const refresh = coalescedRefresh(() => reload('warehouse'), 1000);
 * await refresh(Date.now()); // true when the reload succeeded
 */
export function coalescedRefresh(load: () => Promise<boolean>, minIntervalMs: number): (since: number) => Promise<boolean> {
  let running: { startedAt: number; done: Promise<boolean> } | null = null;
  let queued: Promise<boolean> | null = null;
  let lastStart = -Infinity;
  const start = (): Promise<boolean> => {
    lastStart = Date.now();
    const done = load().catch(() => false);
    const mine = { startedAt: lastStart, done };
    running = mine;
    void done.then(() => {
      if (running === mine) running = null;
    });
    return done;
  };
  return (since) => {
    if (running && running.startedAt >= since) return running.done;
    if (queued) return queued;
    const before = running ? running.done : Promise.resolve(true);
    queued = before
      .then(() => new Promise<void>((r) => setTimeout(r, Math.max(0, lastStart + minIntervalMs - Date.now()))))
      .then(() => {
        queued = null;
        return start();
      });
    return queued;
  };
}

function quoted(name: string): string {
  return /^[A-Z_][A-Z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
