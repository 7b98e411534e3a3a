// A real PostgreSQL server for integration tests: a private throw-away cluster (initdb + pg_ctl on a
// free loopback port, optionally with password auth and TLS), or the server named by
// VERDICT_TEST_PG_URL / PG_TEST_URL (e.g. a CI service container).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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
  /** The superuser's password (also inside `url`), when the cluster has one. */
  password?: string;
  /** PEM path of the throw-away CA that signed the server certificate (only with `ssl: true`). */
  ca?: string;
  /** Runs SQL (several statements allowed) on the test database. */
  exec(sql: string): Promise<void>;
  stop(): Promise<void>;
}

export interface TestPostgresOptions {
  /**
   * pg_hba method for loopback TCP connections; the Unix socket stays `trust`. Default `trust`.
   * `password` is the cleartext method (for testing clients that must refuse it off loopback).
   */
  auth?: 'trust' | 'scram-sha-256' | 'md5' | 'password';
  /** Superuser password; a random one is made when `auth` needs a password and none is given. */
  password?: string;
  /** Serve TLS with a certificate for localhost/127.0.0.1/::1 signed by a throw-away CA (`ca`). */
  ssl?: boolean;
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

function pgUrl(host: string, port: number, user: string, password: string | undefined, database: string): string {
  const auth = encodeURIComponent(user) + (password === undefined ? '' : `:${encodeURIComponent(password)}`);
  return `postgres://${auth}@${host}:${port}/${database}`;
}

function handle(host: string, port: number, user: string, database: string, stopServer: () => Promise<void>, password?: string): TestPostgres {
  const url = pgUrl(host, port, user, password, database);
  return {
    url,
    host,
    port,
    user,
    database,
    ...(password === undefined ? {} : { password }),
    exec: (sql) => withClient(url, async (c) => void (await c.query(sql))),
    stop: stopServer,
  };
}

/** PostgreSQL string literal (ALTER ROLE ... PASSWORD takes no bind parameters). */
function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

// One config for both certificates; EC P-256 keys keep generation to a few milliseconds.
const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = Verdict test CA
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
authorityKeyIdentifier = keyid
`;

/** Writes ca.crt and server.{crt,key} into `dir`; returns their paths. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const cnf = join(dir, 'openssl.cnf');
  writeFileSync(cnf, OPENSSL_CNF);
  const f = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const openssl = (args: string[]) => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new Error(`openssl ${args[0]} failed (is openssl installed?): ${r.error?.message ?? r.stderr}`);
  };
  openssl(['req', '-x509', '-new', '-config', cnf, '-extensions', 'ca', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2']);
  openssl(['req', '-new', '-config', cnf, '-subj', '/CN=localhost', ...ec, '-keyout', f('server.key'), '-out', f('server.csr')]);
  openssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', '1',
    '-days', '2', '-extfile', cnf, '-extensions', 'server', '-out', f('server.crt')]);
  // PostgreSQL refuses a key readable by others.
  chmodSync(f('server.key'), 0o600);
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
}

/**
 * Starts a PostgreSQL for one test file and returns a fresh database on it.
 *
 * @example
 * const pgsrv = await startTestPostgres(); afterAll(() => pgsrv.stop());
 * const secured = await startTestPostgres({ auth: 'scram-sha-256', ssl: true }); // secured.password, secured.ca
 */
export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres> {
  const database = `verdict_test_${process.pid}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const auth = options.auth ?? 'trust';
  const password = options.password ?? (auth === 'trust' ? undefined : randomBytes(12).toString('base64url'));
  // An external server's auth method and TLS are whatever they are, so tests that ask for specific
  // ones get a private cluster even when an external server is configured.
  const wantsPrivate = auth !== 'trust' || options.password !== undefined || options.ssl === true;
  const external = process.env.VERDICT_TEST_PG_URL || process.env.PG_TEST_URL;
  const bin = findPgBin();
  if (external && (!wantsPrivate || !bin)) {
    if (wantsPrivate) {
      throw new Error(
        `this test needs its own PostgreSQL (auth=${auth}${options.ssl ? ', ssl' : ''}) but initdb was not found; ` +
          'run `npm run bootstrap` or set VERDICT_PG_BIN (an external VERDICT_TEST_PG_URL/PG_TEST_URL cannot be reconfigured).',
      );
    }
    const u = new URL(external);
    await withClient(external, (c) => c.query(`CREATE DATABASE ${database}`));
    const user = decodeURIComponent(u.username || 'postgres');
    const pass = u.password ? decodeURIComponent(u.password) : undefined;
    return handle(u.hostname, Number(u.port || 5432), user, database, async () => {
      await withClient(external, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
    }, pass);
  }

  if (!bin) {
    throw new Error(
      'PostgreSQL server binaries (initdb, pg_ctl) were not found. Run `npm run bootstrap` (installs them with apt-get), ' +
        'set VERDICT_PG_BIN to their folder, or set VERDICT_TEST_PG_URL (or PG_TEST_URL) to a server to use.',
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'verdict-pg-'));
  const data = join(dir, 'data');
  // As root, the cluster and every file the server reads belong to the `postgres` system user.
  const owner =
    process.getuid?.() === 0
      ? { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) }
      : null;
  const give = (path: string) => owner && chownSync(path, owner.uid, owner.gid);
  give(dir);
  chmodSync(dir, 0o700);
  const run = (tool: string, args: string[]) => {
    const { cmd, args: full } = asClusterOwner(join(bin, tool), args);
    const r = spawnSync(cmd, full, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${tool} failed: ${r.stderr || r.stdout}`);
  };
  const stopped = async () => {
    try {
      run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const initdb = ['-D', data, '-U', 'postgres', '--auth-local=trust', `--auth-host=${auth}`, '--no-sync', '-E', 'UTF8', '--locale=C'];
  if (password !== undefined) {
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    give(pwfile);
    initdb.push(`--pwfile=${pwfile}`);
  }
  try {
    run('initdb', initdb);
  } finally {
    rmSync(join(dir, 'pwfile'), { force: true });
  }
  let ca: string | undefined;
  // Loopback TCP only; the Unix socket lives in the private cluster folder.
  let opts = `-c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=200 -c shared_buffers=64MB`;
  if (auth === 'md5' || auth === 'scram-sha-256') opts += ` -c password_encryption=${auth}`;
  if (options.ssl) {
    const certs = makeCertificates(dir);
    give(certs.cert);
    give(certs.key);
    ca = certs.ca;
    opts += ` -c ssl=on -c ssl_cert_file=${certs.cert} -c ssl_key_file=${certs.key}`;
  }
  const port = await freePort();
  run('pg_ctl', ['-D', data, '-o', `-p ${port} ${opts}`, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  try {
    const admin = pgUrl('127.0.0.1', port, 'postgres', password, 'postgres');
    await withClient(admin, async (c) => {
      // initdb always stores the --pwfile password as SCRAM; an md5 test needs an md5 verifier, else the
      // server silently upgrades the exchange to SCRAM.
      if (auth === 'md5' && password !== undefined) await c.query(`SET password_encryption = 'md5'; ALTER ROLE postgres PASSWORD ${literal(password)}`);
      await c.query(`CREATE DATABASE ${database}`);
    });
  } catch (err) {
    await stopped();
    throw err;
  }
  return { ...handle('127.0.0.1', port, 'postgres', database, stopped, password), ...(ca === undefined ? {} : { ca }) };
}
