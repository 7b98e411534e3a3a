// Runs the real gosnowflake driver from tests: builds goclient/ (a small database/sql program) once per
// go.mod/go.sum/main.go content into the OS temp dir, then feeds it a JSON script and reads its JSON report.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the Go program lives. */
export const GO_CLIENT_DIR = fileURLToPath(new URL('./goclient/', import.meta.url));

/** How the Go client logs in: gosnowflake Config fields. `host`/`port`/`protocol` point it at the emulator (or Verdict). */
export interface GoClientConfig {
  account: string;
  user: string;
  authenticator: 'snowflake' | 'jwt' | 'oauth';
  password?: string;
  /** PKCS#8 PEM of the RSA key for `jwt`. */
  privateKeyPem?: string;
  /** OAuth access token for `oauth`. */
  token?: string;
  host: string;
  port: number;
  protocol: 'http' | 'https';
  database?: string;
  schema?: string;
  warehouse?: string;
  role?: string;
}

/** One bind value (exactly one field), optionally named (`sql.Named`). Arrays bind as array binds. */
export interface GoArg {
  name?: string;
  int?: number;
  string?: string;
  float?: number;
  bool?: boolean;
  null?: true;
  /** RFC 3339; binds as time.Time (TIMESTAMP_NTZ). */
  timestamp?: string;
  ints?: number[];
  strings?: string[];
  floats?: number[];
}

export type GoStep =
  | { op: 'ping' }
  | { op: 'query' | 'describe' | 'exec'; sql: string; args?: GoArg[] }
  /** `WithAsyncMode`: QueryContext returns at once; `pollStatus` asks /monitoring/queries before reading rows. */
  | { op: 'async'; sql: string; args?: GoArg[]; pollStatus?: boolean }
  /** QueryContext under a context that times out after `afterMs`: the driver sends abort-request. */
  | { op: 'cancel'; sql: string; args?: GoArg[]; afterMs: number };

export interface GoError {
  number: number;
  sqlState: string;
  message: string;
  queryId: string;
  text: string;
}

export interface GoOutcome {
  op: string;
  /** Column names and gosnowflake's DatabaseTypeName (FIXED, TEXT, DATE, TIMESTAMP_NTZ…). */
  columns?: Array<{ name: string; type: string }>;
  /** Values as scanned into `any` and printed (times as RFC 3339 UTC, binary as hex); null for NULL. Null when no rows were read. */
  rows: Array<Array<string | null>> | null;
  rowsAffected?: number;
  queryId?: string;
  /** For `async` with pollStatus: RUNNING or DONE (or the error text). */
  status?: string;
  error?: GoError;
  elapsedMs: number;
  /** For `async`: how long QueryContext took to return. */
  returnMs?: number;
}

export interface GoReport {
  steps: GoOutcome[];
  /** The script could not start (bad key, bad config). */
  fatal?: string;
  /** db.Close() failed (logout). */
  close?: GoError;
}

function findGo(): string {
  if (process.env.GO_BIN && existsSync(process.env.GO_BIN)) return process.env.GO_BIN;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, 'go'))) return join(dir, 'go');
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('go-client: no Go toolchain (set GO_BIN or put `go` on PATH)');
}

/**
 * Builds the Go client (cached by the hash of go.mod, go.sum and main.go) and returns the binary's path.
 *
 * @example
 * const bin = await buildGoClient();
 * const report = await runGoClient(bin, { config, steps: [{ op: 'ping' }] });
 */
export async function buildGoClient(): Promise<string> {
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(readFileSync(join(GO_CLIENT_DIR, f)));
  const dir = join(tmpdir(), `verdict-sf-goclient-${hash.digest('hex').slice(0, 16)}`);
  const bin = join(dir, 'goclient');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const partial = `${bin}.${process.pid}.tmp`;
  await new Promise<void>((resolve, reject) => {
    execFile(
      findGo(),
      ['build', '-o', partial, '.'],
      { cwd: GO_CLIENT_DIR, env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' }, timeout: 170_000, maxBuffer: 16 << 20 },
      (err, _stdout, stderr) => (err ? reject(new Error(`go build of ${GO_CLIENT_DIR} failed: ${stderr || err.message}`)) : resolve()),
    );
  });
  renameSync(partial, bin);
  return bin;
}

/** Runs one script (one gosnowflake connection, steps in order, logout at the end). */
export function runGoClient(bin: string, script: { config: GoClientConfig; steps: GoStep[] }, timeoutMs = 60_000): Promise<GoReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as GoReport);
      } catch {
        reject(new Error(`go client exited ${code} without a report.\nstdout: ${stdout}\nstderr: ${stderr}`));
      }
    });
    child.stdin.end(JSON.stringify(script));
  });
}
