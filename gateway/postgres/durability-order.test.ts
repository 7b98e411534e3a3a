// The evidence rule on the data path, under fault injection (a spool whose group writes are held back or fail):
// no result byte reaches a client before its decision is durable, and no write, DDL or other side-effecting
// statement reaches the upstream before its decision is durable. A plain read may travel upstream meanwhile
// (side-effects.ts); its answer waits. Failing writes refuse the statement (58030) and lose nothing else.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../config/load.ts';
import { createEvidenceWriter, type EvidenceWriter } from '../evidence/writer.ts';
import { startDevIssuer, type DevIssuer } from '../identity/dev-issuer.ts';
import { createLogger } from '../ops/log.ts';
import { startGateway, type Gateway } from '../server.ts';
import { testBundle } from '../testing/bundle.ts';
import { startTestPostgres, type TestPostgres } from '../testing/postgres.ts';
import { CLINIC_SQL } from '../testing/stack.ts';
import { Backend, connectGateway, errorsIn, exchange, frontend, rowsIn, type WireClient } from '../testing/wire-client.ts';

let dir: string;
let server: TestPostgres;
let issuer: DevIssuer;
let gateway: Gateway;
let evidence: EvidenceWriter;
let direct: pg.Client;

/** The spool's group writes: held back until `release()`, or failing while `failing`. */
let held: Promise<void> | null = null;
let release: () => void = () => undefined;
let failing = false;
let groupWrites = 0;

function holdWrites(): void {
  held = new Promise((resolve) => {
    release = () => {
      held = null;
      resolve();
    };
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-durability-'));
  server = await startTestPostgres({ auth: 'trust' });
  await server.exec(CLINIC_SQL);
  issuer = await startDevIssuer({ audience: 'verdict' });
  const config = validateConfig({
    listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: null },
    identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
    upstreams: { clinic: { host: '127.0.0.1', port: server.port, database: server.database, user: server.user, tls: { mode: 'disable' } } },
    policy: { bundle: testBundle(dir, 'durability') },
    approvals: { state_dir: join(dir, 'approvals') },
    masking: { hash_key: { value: 'test-hash-key' } },
    log: { level: 'error' },
  });
  config.policy.state_file = join(dir, 'policy-state.json');
  evidence = await createEvidenceWriter({
    stream: 'durability-1',
    spoolDir: join(dir, 'spool'),
    requireDurable: true,
    batchMaxLines: 1000,
    batchMaxAgeMs: 60_000,
    io: {
      async writeAndSync(fh, data) {
        groupWrites++;
        if (held) await held;
        if (failing) throw new Error('EIO: simulated spool failure');
        await fh.write(data);
      },
    },
  });
  gateway = await startGateway(config, { log: createLogger('error'), evidence });
  direct = new pg.Client({ host: '127.0.0.1', port: server.port, user: server.user, database: server.database });
  await direct.connect();
}, 180_000);

afterAll(async () => {
  release();
  failing = false;
  await direct?.end();
  await gateway?.close();
  await issuer?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  release();
  failing = false;
});

async function session(user: string): Promise<WireClient> {
  return connectGateway({ host: '127.0.0.1', port: gateway.address.port, user, database: 'clinic', password: await issuer.mint(user) });
}

/** Whether the upstream has seen a statement carrying `marker` (running or done, on any session). */
async function upstreamSaw(marker: string): Promise<boolean> {
  const r = await direct.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()", [marker]);
  return r.rows[0].n > 0;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const marker = () => `m${process.pid}x${++seq}`;

/** Sends `sql` with its decision's evidence held back; returns what arrived before and after the release. */
async function withHeldEvidence(c: WireClient, sql: string): Promise<{ before: number; sawUpstream: boolean; after: ReturnType<typeof rowsIn>; errors: (string | undefined)[] }> {
  await settle(50); // earlier groups (session start, last results) written
  holdWrites();
  const bytesBefore = c.received.reduce((n, b) => n + b.length, 0);
  const seen = c.messages.length;
  c.write(frontend.query(sql));
  await settle(400);
  const before = c.received.reduce((n, b) => n + b.length, 0) - bytesBefore;
  const m = /\/\* (m\d+x\d+) \*\//.exec(sql)![1]!;
  const sawUpstream = await upstreamSaw(m);
  release();
  await c.until((f, all) => f.type === Backend.ReadyForQuery && all.length > seen, 10_000);
  const frames = c.messages.slice(seen);
  return { before, sawUpstream, after: rowsIn(frames), errors: errorsIn(frames) };
}

describe('no result byte before the decision is durable; no side effect before it either', () => {
  it('a read may run upstream meanwhile, but its answer (rows included) waits for the durable decision', async () => {
    const c = await session('alice');
    try {
      const m = marker();
      const r = await withHeldEvidence(c, `/* ${m} */ SELECT id, name FROM patients ORDER BY id`);
      expect(r.before).toBe(0);
      expect(r.sawUpstream).toBe(true); // the latitude: it travelled while the decision was made durable
      expect(r.errors).toEqual([]);
      expect(r.after.length).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });

  it('a masked read: nothing (masked or not) before durability, masked after', async () => {
    const c = await session('bob');
    try {
      const m = marker();
      const r = await withHeldEvidence(c, `/* ${m} */ SELECT name, ssn FROM patients ORDER BY id`);
      expect(r.before).toBe(0);
      expect(r.errors).toEqual([]);
      const ssns = (await direct.query('SELECT ssn FROM patients')).rows.map((x: { ssn: string }) => x.ssn);
      for (const row of r.after) expect(ssns).not.toContain(row[1]);
    } finally {
      c.close();
    }
  });

  // Each of these changes the server's state, and the default policy lets alice run it at once: none may reach
  // the upstream while its decision is not durable. (DDL and unfiltered writes wait for an approval first, and
  // the approved statement then waits for its durable decision like these; refusals run nothing.)
  const sideEffects: [string, (m: string) => string][] = [
    ['INSERT', (m) => `/* ${m} */ INSERT INTO visits (patient_id, visit_date, reason) VALUES (1, '2026-01-01', '${m}')`],
    ['UPDATE', (m) => `/* ${m} */ UPDATE visits SET notes = '${m}' WHERE id = 1`],
    ['a volatile function in a SELECT (nextval)', (m) => `/* ${m} */ SELECT nextval('visits_id_seq')`],
    ['an advisory lock (a volatile builtin)', (m) => `/* ${m} */ SELECT pg_advisory_xact_lock(42)`],
    ['a stable builtin that assigns a transaction id', (m) => `/* ${m} */ SELECT txid_current()`],
    ['SELECT … FOR UPDATE (row locks)', (m) => `/* ${m} */ SELECT id FROM visits WHERE id = 1 FOR UPDATE`],
    ['a read then an INSERT in one Query', (m) => `/* ${m} */ SELECT 1 FROM visits LIMIT 1; INSERT INTO visits (patient_id, visit_date, reason) VALUES (1, '2026-01-02', '${m}')`],
  ];
  for (const [kind, sqlFor] of sideEffects) {
    it(`${kind}: not sent upstream before its decision is durable`, async () => {
      const c = await session('alice');
      try {
        const m = marker();
        const r = await withHeldEvidence(c, sqlFor(m));
        expect(r.sawUpstream, `${kind} reached the upstream before its decision was durable`).toBe(false);
        expect(r.before).toBe(0);
        expect(r.errors).toEqual([]);
      } finally {
        c.close();
      }
    });
  }

  it('the extended protocol: a parameterized read sends nothing back before its decision is durable', async () => {
    const c = await session('alice');
    try {
      await settle(50);
      holdWrites();
      const seen = c.messages.length;
      c.write(frontend.parse('', 'SELECT name FROM patients WHERE id = $1'), frontend.bind('', '', ['1'], []), frontend.execute('', 0), frontend.sync());
      await settle(400);
      expect(c.messages.length).toBe(seen);
      release();
      await c.until((f, all) => f.type === Backend.ReadyForQuery && all.length > seen, 10_000);
      expect(rowsIn(c.messages.slice(seen))).toHaveLength(1);
    } finally {
      c.close();
    }
  });
});

describe('a spool that cannot write refuses the statement (58030) and nothing else is lost', () => {
  it('a read gets 58030 and no row; a write gets 58030 and does not happen; the session goes on', async () => {
    const c = await session('alice');
    try {
      await settle(50);
      failing = true;
      const read = await exchange(c, [frontend.query('SELECT id, name, ssn FROM patients')]);
      expect(errorsIn(read)).toEqual(['58030']);
      expect(read.some((f) => f.type === Backend.DataRow || f.type === Backend.RowDescription)).toBe(false);
      const m = marker();
      const write = await exchange(c, [frontend.query(`INSERT INTO visits (patient_id, visit_date, reason) VALUES (1, '2026-01-01', '${m}')`)]);
      expect(errorsIn(write)).toEqual(['58030']);
      expect((await direct.query('SELECT count(*)::int AS n FROM visits WHERE reason = $1', [m])).rows[0].n).toBe(0);
      failing = false;
      await settle(1_100); // the spool tries the disk again at most once a second
      const again = await exchange(c, [frontend.query('SELECT count(*) FROM patients')]);
      expect(errorsIn(again)).toEqual([]);
      expect(rowsIn(again)).toHaveLength(1);
    } finally {
      c.close();
    }
  });

  it('inside a transaction block the refused read fails the transaction, as an error there would', async () => {
    const c = await session('alice');
    try {
      expect(errorsIn(await exchange(c, [frontend.query('BEGIN')]))).toEqual([]);
      await settle(50);
      failing = true;
      const read = await exchange(c, [frontend.query('SELECT id FROM patients')]);
      expect(errorsIn(read)).toEqual(['58030']);
      expect(read.at(-1)?.status).toBe('E');
      failing = false;
      await settle(1_100);
      expect(errorsIn(await exchange(c, [frontend.query('SELECT 1')]))).toEqual(['25P02']);
      const end = await exchange(c, [frontend.query('ROLLBACK')]);
      expect(end.at(-1)?.status).toBe('I');
    } finally {
      c.close();
    }
  });

  it('group writes stay grouped: several sessions\' reads share a write', async () => {
    const clients = await Promise.all([session('alice'), session('alice'), session('alice')]);
    try {
      await settle(100);
      const before = groupWrites;
      holdWrites();
      const answers = clients.map((c) => exchange(c, [frontend.query('SELECT id FROM patients')]));
      await settle(200);
      release();
      for (const a of await Promise.all(answers)) expect(errorsIn(a)).toEqual([]);
      // One held group, then the decisions of all three in (at most) one or two more.
      expect(groupWrites - before).toBeLessThanOrEqual(4);
    } finally {
      for (const c of clients) c.close();
    }
  });
});
