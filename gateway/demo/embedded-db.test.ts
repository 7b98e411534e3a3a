// The demo's embedded upstream runs as a least-privilege role: the clinic tables, nothing of the server.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GATEWAY_ROLE, startEmbeddedDb, type EmbeddedDb } from './embedded-db.ts';

let db: EmbeddedDb;
let c: pg.Client;
beforeAll(async () => {
  db = await startEmbeddedDb({ port: 0 });
  c = new pg.Client({ host: db.host, port: db.port, user: db.user, database: db.database });
  await c.connect();
}, 120_000);
afterAll(async () => {
  await c?.end();
  await db?.stop();
});

it('is not a superuser and cannot reach server files', async () => {
  const me = (await c.query('SELECT current_user AS who, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser')).rows[0];
  expect(me).toEqual({ who: GATEWAY_ROLE, superuser: false });
  expect(db.user).toBe(GATEWAY_ROLE);
  const err = (await c.query("SELECT pg_read_file('/etc/hostname')").catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
  expect(err.code).toBe('42501');
  await expect(c.query('CREATE ROLE intruder SUPERUSER')).rejects.toMatchObject({ code: '42501' });
});

it('reads and writes the clinic tables', async () => {
  expect((await c.query('SELECT count(*)::int AS n FROM patients')).rows[0].n).toBeGreaterThan(0);
  await c.query('BEGIN');
  await c.query("UPDATE visits SET reason = reason WHERE id = 1");
  await c.query('ROLLBACK');
});
