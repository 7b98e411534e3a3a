// A real PostgreSQL server for integration tests: a private throw-away cluster (initdb + pg_ctl on a
// free loopback port), or the server named by VERDICT_TEST_PG_URL (e.g. a CI service container).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface TestPostgres {
  /** Connection string of a superuser on a fresh database. */
  url: string;
  host: string;
  port: number;
  user: string;
  database: string;
  /** Runs SQL (several statements allowed) on the test database. */
  exec(sql: string): Promise<void>;
  stop(): Promise<void>;
}

/** Finds the newest installed PostgreSQL server binaries (Debian's /usr/lib/postgresql/<v>/bin). */
export function findPgBin(): string | null {
  const fromEnv = process.env.VERDICT_PG_BIN;
  if (fromEnv && existsSync(join(fromEnv, 'initdb'))) return fromEnv;
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user. */
function asClusterOwner(bin: string, args: string[]): { cmd: string; args: string[] } {
  if (process.getuid?.() === 0) return { cmd: 'runuser', args: ['-u', 'postgres', '--', bin, ...args] };
  return { cmd: bin, args };
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function handle(host: string, port: number, user: string, database: string, stopServer: () => Promise<void>): TestPostgres {
  const url = `postgres://${encodeURIComponent(user)}@${host}:${port}/${database}`;
  return {
    url,
    host,
    port,
    user,
    database,
    exec: (sql) => withClient(url, async (c) => void (await c.query(sql))),
    stop: stopServer,
  };
}

/**
 * Starts a PostgreSQL for one test file and returns a fresh database on it.
 *
 * @example
 * const pgsrv = await startTestPostgres(); afterAll(() => pgsrv.stop());
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  const database = `verdict_test_${process.pid}_${Date.now().toString(36)}`;
  const external = process.env.VERDICT_TEST_PG_URL;
  if (external) {
    const u = new URL(external);
    await withClient(external, (c) => c.query(`CREATE DATABASE ${database}`));
    const user = decodeURIComponent(u.username || 'postgres');
    const pass = u.password ? `:${u.password}` : '';
    const url = `postgres://${encodeURIComponent(user)}${pass}@${u.hostname}:${u.port || 5432}/${database}`;
    return {
      ...handle(u.hostname, Number(u.port || 5432), user, database, async () => {
        await withClient(external, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
      }),
      url,
      exec: (sql) => withClient(url, async (c) => void (await c.query(sql))),
    };
  }

  const bin = findPgBin();
  if (!bin) {
    throw new Error(
      'PostgreSQL server binaries (initdb, pg_ctl) were not found. Run `npm run bootstrap` (installs them with apt-get), ' +
        'set VERDICT_PG_BIN to their folder, or set VERDICT_TEST_PG_URL to a server to use.',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'verdict-pg-'));
  const data = join(dir, 'data');
  if (process.getuid?.() === 0) {
    chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })));
    chmodSync(dir, 0o700);
  }
  const run = (tool: string, args: string[]) => {
    const { cmd, args: full } = asClusterOwner(join(bin, tool), args);
    const r = spawnSync(cmd, full, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${tool} failed: ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=200 -c shared_buffers=64MB`;
  run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await withClient(admin, (c) => c.query(`CREATE DATABASE ${database}`));
  return handle('127.0.0.1', port, 'postgres', database, async () => {
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
