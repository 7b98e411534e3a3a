// The Snowflake door's catalog: loading INFORMATION_SCHEMA from the local Snowflake (views' CREATE text, secure
// views hidden from a role that does not own them), what statements read that it cannot account for, and
// coalesced refreshes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snowflake } from '../../engine/sql/snowflake/dialect.ts';
import { startSnowflakeEmulator, type SnowflakeEmulator } from '../emulators/snowflake/emulator.ts';
import { catalogGaps, coalescedRefresh, loadSnowflakeCatalog, relationsChanged, relationsRead, type CatalogSession, type SnowflakeCatalog } from './catalog.ts';

let sf: SnowflakeEmulator;
/** A catalog session on the emulator's own engine session, as role `role`. */
const as = (role: string): CatalogSession => ({
  async execute(sql: string, binds: readonly unknown[] = []) {
    const r = await sf.exec(`USE ROLE ${role}; ${sql}`, binds.length ? Object.fromEntries(binds.map((b, i) => [String(i + 1), { type: 'TEXT', value: String(b) }])) : undefined);
    return { queryId: '', columns: [], rows: r.rows.map((row) => row.map((c) => (c === null ? null : String(c)))), rowsAffected: null };
  },
});

beforeAll(async () => {
  sf = await startSnowflakeEmulator({ clinic: true });
  await sf.exec('CREATE VIEW CLINIC.PUBLIC.PV (A, B) AS SELECT ID, SSN FROM PATIENTS');
  await sf.exec('USE ROLE ANALYST; CREATE SECURE VIEW CLINIC.PUBLIC.MINE AS SELECT ID FROM CLINIC.PUBLIC.PATIENTS; USE ROLE ACCOUNTADMIN');
  await sf.exec('CREATE SECURE VIEW CLINIC.PUBLIC.THEIRS AS SELECT SSN FROM CLINIC.PUBLIC.PATIENTS');
}, 120_000);
afterAll(async () => sf?.close());

describe('loadSnowflakeCatalog', () => {
  it('reads columns, every object, and view definitions as submitted; a secure view shows its text to its owner only', async () => {
    const c = await loadSnowflakeCatalog(as('ANALYST'), 'clinic');
    expect(c.database).toBe('CLINIC');
    expect(c.catalog.tables['CLINIC.PUBLIC.PATIENTS']).toEqual(['ID', 'NAME', 'SSN', 'DOB', 'EMAIL', 'DIAGNOSIS', 'CREATED_AT']);
    expect(c.catalog.tables['CLINIC.PUBLIC.PV']).toEqual(['A', 'B']);
    expect(c.catalog.views?.['CLINIC.PUBLIC.PV']).toBe('CREATE VIEW CLINIC.PUBLIC.PV (A, B) AS SELECT ID, SSN FROM PATIENTS');
    expect(c.catalog.views?.['CLINIC.PUBLIC.MINE']).toMatch(/^CREATE SECURE VIEW CLINIC\.PUBLIC\.MINE AS/);
    expect([...c.hiddenViews]).toEqual(['CLINIC.PUBLIC.THEIRS']);
    expect(c.objects.has('CLINIC.PUBLIC.VISITS')).toBe(true);
    // Its owner sees it.
    const owner = await loadSnowflakeCatalog(as('ACCOUNTADMIN'), 'CLINIC');
    expect(owner.hiddenViews.size).toBe(1); // MINE, owned by ANALYST
    expect(owner.catalog.views?.['CLINIC.PUBLIC.THEIRS']).toMatch(/SELECT SSN FROM CLINIC\.PUBLIC\.PATIENTS$/);
  });

  it('rejects when INFORMATION_SCHEMA cannot be read', async () => {
    await expect(loadSnowflakeCatalog(as('ANALYST'), 'NO_SUCH_DB')).rejects.toThrow(/does not exist/);
  });
});

describe('catalogGaps', () => {
  let cat: SnowflakeCatalog;
  beforeAll(async () => {
    await snowflake.load();
    cat = await loadSnowflakeCatalog(as('ANALYST'), 'CLINIC');
  });
  const gaps = (sql: string, c: SnowflakeCatalog | null = cat) =>
    catalogGaps(snowflake.analyze(sql, { database: 'CLINIC', schema: 'PUBLIC', ...(c ? { catalog: c.catalog } : {}) }), c);

  it('passes known tables, followed views, stages and INFORMATION_SCHEMA', () => {
    expect(gaps('SELECT A, B FROM PV JOIN VISITS ON VISITS.PATIENT_ID = PV.A')).toEqual([]);
    expect(gaps('SELECT * FROM MINE')).toEqual([]);
    expect(gaps('SELECT $1 FROM @STAGE1')).toEqual([]);
    expect(gaps('SELECT VIEW_DEFINITION FROM INFORMATION_SCHEMA.VIEWS')).toEqual([]);
  });

  it('names unknown objects, hidden views, views it cannot follow, and everything when there is no catalog', () => {
    expect(gaps('SELECT * FROM NEW_VIEW')).toEqual([{ relation: 'CLINIC.PUBLIC.NEW_VIEW', reason: 'unknown' }]);
    expect(gaps('SELECT * FROM OTHER.PUBLIC.PATIENTS')).toEqual([{ relation: 'OTHER.PUBLIC.PATIENTS', reason: 'unknown' }]);
    expect(gaps('SELECT COUNT(*) FROM THEIRS')).toEqual([{ relation: 'CLINIC.PUBLIC.THEIRS', reason: 'hidden_view' }]);
    // Inside a CTAS and a subquery alike.
    expect(gaps('CREATE TABLE T2 AS SELECT * FROM (SELECT * FROM THEIRS)')).toEqual([{ relation: 'CLINIC.PUBLIC.THEIRS', reason: 'hidden_view' }]);
    const broken: SnowflakeCatalog = { ...cat, catalog: { ...cat.catalog, views: { ...cat.catalog.views, 'CLINIC.PUBLIC.PV': 'CREATE VIEW PV AS this is not sql' } } };
    expect(gaps('SELECT * FROM PV', broken)).toEqual([{ relation: 'CLINIC.PUBLIC.PV', reason: 'view_not_followed' }]);
    expect(gaps('SELECT * FROM PATIENTS', null)).toEqual([{ relation: 'CLINIC.PUBLIC.PATIENTS', reason: 'no_catalog' }]);
  });
});

describe('relationsChanged', () => {
  it('says whether a table or view read was replaced, dropped or swapped for the other kind since the catalog was loaded', async () => {
    await sf.exec('CREATE VIEW CLINIC.PUBLIC.LIVE AS SELECT ID FROM CLINIC.PUBLIC.PATIENTS');
    const cat = await loadSnowflakeCatalog(as('ANALYST'), 'CLINIC');
    await snowflake.load();
    const reads = relationsRead(snowflake.analyze('SELECT * FROM LIVE, THEIRS, PATIENTS, NOT_THERE', { database: 'CLINIC', schema: 'PUBLIC', catalog: cat.catalog }), cat);
    expect(reads.sort()).toEqual(['CLINIC.PUBLIC.LIVE', 'CLINIC.PUBLIC.PATIENTS', 'CLINIC.PUBLIC.THEIRS']);
    expect(await relationsChanged(as('ANALYST'), cat, reads)).toBe(false);
    await sf.exec('CREATE OR REPLACE VIEW CLINIC.PUBLIC.LIVE AS SELECT SSN AS ID FROM CLINIC.PUBLIC.PATIENTS');
    expect(await relationsChanged(as('ANALYST'), cat, ['CLINIC.PUBLIC.LIVE'])).toBe(true);
    expect(await relationsChanged(as('ANALYST'), cat, ['CLINIC.PUBLIC.THEIRS'])).toBe(false);
    await sf.exec('CREATE OR REPLACE SECURE VIEW CLINIC.PUBLIC.THEIRS AS SELECT NAME AS SSN FROM CLINIC.PUBLIC.PATIENTS');
    expect(await relationsChanged(as('ANALYST'), cat, ['CLINIC.PUBLIC.THEIRS'])).toBe(true);
    await sf.exec('DROP VIEW CLINIC.PUBLIC.LIVE');
    const fresh = await loadSnowflakeCatalog(as('ANALYST'), 'CLINIC');
    expect(fresh.objects.has('CLINIC.PUBLIC.LIVE')).toBe(false);
    expect(await relationsChanged(as('ANALYST'), cat, ['CLINIC.PUBLIC.LIVE'])).toBe(true);
    // A table dropped for a view of the same name.
    await sf.exec('CREATE TABLE CLINIC.PUBLIC.PLAIN (ID NUMBER)');
    const withTable = await loadSnowflakeCatalog(as('ANALYST'), 'CLINIC');
    expect(await relationsChanged(as('ANALYST'), withTable, ['CLINIC.PUBLIC.PLAIN', 'CLINIC.PUBLIC.PATIENTS'])).toBe(false);
    await sf.exec('DROP TABLE CLINIC.PUBLIC.PLAIN; CREATE VIEW CLINIC.PUBLIC.PLAIN AS SELECT SSN AS ID FROM CLINIC.PUBLIC.PATIENTS');
    expect(await relationsChanged(as('ANALYST'), withTable, ['CLINIC.PUBLIC.PLAIN'])).toBe(true);
  });
});

describe('coalescedRefresh', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  function counted(ms: number) {
    const starts: number[] = [];
    const state = { inFlight: 0, max: 0 };
    let started: () => void = () => undefined;
    const nextStart = () => new Promise<void>((r) => (started = r));
    const load = async () => {
      starts.push(Date.now());
      started();
      state.max = Math.max(state.max, ++state.inFlight);
      await sleep(ms);
      state.inFlight--;
      return true;
    };
    return { starts, state, load, nextStart };
  }

  it('callers share a load begun after they asked; one asking while an older load runs gets a new one; loads never overlap', async () => {
    const c = counted(40);
    const refresh = coalescedRefresh(c.load, 0);
    const t0 = Date.now();
    expect(await Promise.all([refresh(t0), refresh(t0), refresh(t0)])).toEqual([true, true, true]);
    expect(c.starts).toHaveLength(1);
    const running = c.nextStart();
    const first = refresh(Date.now());
    await running; // the load runs, begun before the next callers ask
    await sleep(2);
    const asked = Date.now();
    const [a, b] = [refresh(asked), refresh(asked)];
    expect(await Promise.all([first, a, b])).toEqual([true, true, true]);
    expect(c.starts).toHaveLength(3);
    expect(c.starts[2]!).toBeGreaterThanOrEqual(asked);
    expect(c.state.max).toBe(1);
  });

  it('starts loads at most once per interval', async () => {
    const c = counted(5);
    const refresh = coalescedRefresh(c.load, 150);
    await refresh(Date.now());
    await refresh(Date.now());
    expect(c.starts).toHaveLength(2);
    expect(c.starts[1]! - c.starts[0]!).toBeGreaterThanOrEqual(149);
  });

  it('a failing load resolves false', async () => {
    const refresh = coalescedRefresh(() => Promise.reject(new Error('down')), 0);
    expect(await refresh(Date.now())).toBe(false);
  });
});
