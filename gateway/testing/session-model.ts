// The session-model property of the CI test and the bench: random frontend message sequences, drawn with a light
// model of the names that exist, run directly on PostgreSQL and through the gateway, and their answers compared.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import YAML from 'yaml';
import { policiesDir } from '../policy/paths.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startStack, type TestStack } from './stack.ts';
import {
  Backend,
  connectDirect,
  connectGateway,
  describeFrame,
  frontend,
  type BackendFrame,
  type WaitOutcome,
  type WireClient,
} from './wire-client.ts';

/** Raw values seeded by gateway/demo/clinic.sql that a masked identity must never receive (as in bypass.test.ts). */
export const SECRETS = [
  '123-45-6789', '234-56-7890', '345-67-8901', '456-78-9012', '567-89-0123', '678-90-1234',
  '123456789', '234567890',
  'Ada Lovelace', 'Alan Turing', 'Grace Hopper', 'Lovelace',
  'ada@example.org', 'alan@example.org',
  'J45.909', 'asthma', 'E11.9', 'diabetes', 'hypertension',
  '1815-12-10', '1912-06-23', '1906-12-09',
];

/** A table every identity may write, so COPY FROM STDIN and INSERT have somewhere to go. */
export const SCRATCH_SEED = 'CREATE TABLE scratch(a int, b text); GRANT ALL ON scratch TO PUBLIC;';

/** The value the last statement of every sequence selects: its ReadyForQuery says "everything before was answered". */
export const MARKER = 'verdict-diff-end';
/** The marker's column name: found by RowDescription, which masking never rewrites, even if its value were. */
const MARKER_COLUMN = 'verdict_diff_end';
/** ROLLBACK first, so the marker is answered in a failed transaction block too (outside one it only warns). */
const MARKER_QUERY = `ROLLBACK; SELECT '${MARKER}' AS ${MARKER_COLUMN}`;
/** How long to wait for the marker; when something swallows it (an open COPY), this is how long a run takes. */
const MARKER_WAIT_MS = 3000;

const SQL = {
  patients: 'SELECT id, name, ssn FROM patients',
  byId: 'SELECT ssn, name FROM patients WHERE id = $1',
  literals: "SELECT 'a'::text, 'b'::text",
  divZero: 'SELECT 1/0',
  visits: 'SELECT id FROM visits',
  scratch: 'SELECT a, b FROM scratch',
  insert: "INSERT INTO scratch VALUES (1,'x')",
  copyOut: 'COPY (SELECT id, name, ssn FROM patients) TO STDOUT',
  copyOutScratch: 'COPY (SELECT a, b FROM scratch) TO STDOUT',
  copyIn: 'COPY scratch FROM STDIN',
  /** No statement at all: the server answers EmptyQueryResponse (JDBC's isValid() sends it). */
  empty: '',
  comment: '/* nothing */',
} as const;

// ---- the model and the commands --------------------------------------------------------------------

/** What the generator believes the server holds: it steers names and parameter counts, not the verdict. */
export interface Model {
  /** Prepared statements by name and SQL (protocol Parse and SQL PREPARE share one namespace). */
  statements: Map<string, string>;
  /** Portals by name (bound by Bind or declared as SQL cursors, one namespace); `hold` outlives the transaction. */
  portals: Map<string, { hold: boolean }>;
  terminated: boolean;
}

/** The frontend messages a sequence sends, with one readable line per message. */
export interface Batch {
  messages: Buffer[];
  lines: string[];
  terminated: boolean;
}

type Step = fc.Command<Model, Batch>;

/**
 * A name a command refers to: a fixed one from the pool (existing or not, duplicates included), or "one that
 * the model says exists" — the `pick`-th of them, falling back to `name` when there is none.
 */
interface NameRef {
  name: string;
  pick: number | null;
}

function resolve(ref: NameRef, existing: Iterable<string>): string {
  if (ref.pick === null) return ref.name;
  const names = [...existing];
  return names.length ? names[ref.pick % names.length]! : ref.name;
}

function add(b: Batch, message: Buffer, line: string): void {
  b.messages.push(message);
  b.lines.push(line);
}

const q = (s: string) => JSON.stringify(s);
const shown = (name: string) => (name === '' ? '""' : name);
const refShown = (r: NameRef) => (r.pick === null ? shown(r.name) : `<existing #${r.pick}>`);

/** Every command checks only that the session is still open; the rest of the model shapes what it sends. */
abstract class Live implements Step {
  /** The messages as last sent, for reports (names resolved against the model). */
  protected line: string | null = null;
  check(m: Readonly<Model>): boolean {
    return !m.terminated;
  }
  abstract run(m: Model, b: Batch): void;
  abstract toString(): string;
}

class Parse extends Live {
  constructor(readonly name: string, readonly sql: string) {
    super();
  }
  run(m: Model, b: Batch): void {
    if (this.name === '' || !m.statements.has(this.name)) m.statements.set(this.name, this.sql);
    add(b, frontend.parse(this.name, this.sql), this.toString());
  }
  toString(): string {
    return `Parse ${shown(this.name)} ${q(this.sql)}`;
  }
}

/** How many parameters a Bind supplies: what the statement needs (as the model knows it), none, or one too many. */
type Arity = 'model' | 'none' | 'extra';

class Bind extends Live {
  constructor(
    readonly portal: string,
    readonly statement: NameRef,
    readonly value: string | null,
    readonly formats: number[],
    readonly arity: Arity,
  ) {
    super();
  }
  run(m: Model, b: Batch): void {
    const statement = resolve(this.statement, m.statements.keys());
    const wants = /\$1\b/.test(m.statements.get(statement) ?? '') ? 1 : 0;
    const count = this.arity === 'model' ? wants : this.arity === 'none' ? 0 : wants + 1;
    const params = Array.from({ length: count }, () => this.value);
    if (this.portal === '' || !m.portals.has(this.portal)) m.portals.set(this.portal, { hold: false });
    this.line = `Bind ${shown(this.portal)} <- ${shown(statement)} params=[${params.map((p) => (p === null ? 'NULL' : q(p))).join(', ')}] formats=[${this.formats.join(',')}]`;
    add(b, frontend.bind(this.portal, statement, params, this.formats), this.line);
  }
  toString(): string {
    return this.line ?? `Bind ${shown(this.portal)} <- ${refShown(this.statement)} params=${this.arity}(${this.value === null ? 'NULL' : q(this.value)}) formats=[${this.formats.join(',')}]`;
  }
}

class Describe extends Live {
  constructor(readonly target: 'S' | 'P', readonly name: NameRef) {
    super();
  }
  run(m: Model, b: Batch): void {
    const name = resolve(this.name, this.target === 'S' ? m.statements.keys() : m.portals.keys());
    this.line = `Describe ${this.target} ${shown(name)}`;
    add(b, frontend.describe(this.target, name), this.line);
  }
  toString(): string {
    return this.line ?? `Describe ${this.target} ${refShown(this.name)}`;
  }
}

class Execute extends Live {
  constructor(readonly portal: NameRef, readonly maxRows: number) {
    super();
  }
  run(m: Model, b: Batch): void {
    const portal = resolve(this.portal, m.portals.keys());
    this.line = `Execute ${shown(portal)}${this.maxRows ? ` max=${this.maxRows}` : ''}`;
    add(b, frontend.execute(portal, this.maxRows), this.line);
  }
  toString(): string {
    return this.line ?? `Execute ${refShown(this.portal)}${this.maxRows ? ` max=${this.maxRows}` : ''}`;
  }
}

class Close extends Live {
  constructor(readonly target: 'S' | 'P', readonly name: NameRef) {
    super();
  }
  run(m: Model, b: Batch): void {
    const name = resolve(this.name, this.target === 'S' ? m.statements.keys() : m.portals.keys());
    if (this.target === 'S') m.statements.delete(name);
    else m.portals.delete(name);
    this.line = `Close ${this.target} ${shown(name)}`;
    add(b, frontend.close(this.target, name), this.line);
  }
  toString(): string {
    return this.line ?? `Close ${this.target} ${refShown(this.name)}`;
  }
}

class Sync extends Live {
  run(_m: Model, b: Batch): void {
    add(b, frontend.sync(), 'Sync');
  }
  toString(): string {
    return 'Sync';
  }
}

class Flush extends Live {
  run(_m: Model, b: Batch): void {
    add(b, frontend.flush(), 'Flush');
  }
  toString(): string {
    return 'Flush';
  }
}

/**
 * A simple Query of one or more statements. A name written `?c1#3` in a statement is resolved when the
 * command runs: the 3rd (mod count) cursor or prepared statement the model says exists, else `c1`.
 */
class Query extends Live {
  constructor(readonly parts: string[]) {
    super();
  }
  run(m: Model, b: Batch): void {
    const sent: string[] = [];
    for (const template of this.parts) {
      const part = template.replace(/\?(\w+)#(\d+)/g, (_all, name: string, pick: string) => {
        const pool = /^s\d$/.test(name) ? m.statements.keys() : m.portals.keys();
        return resolve({ name, pick: Number(pick) }, [...pool].filter((n) => n !== ''));
      });
      sent.push(part);
      const prepare = /^PREPARE (\w+) AS (.*)$/.exec(part);
      if (prepare && !m.statements.has(prepare[1]!)) m.statements.set(prepare[1]!, prepare[2]!);
      const deallocate = /^DEALLOCATE (\w+)$/.exec(part);
      if (deallocate?.[1] === 'ALL') m.statements.clear();
      else if (deallocate) m.statements.delete(deallocate[1]!);
      const declare = /^DECLARE (\w+) .*CURSOR (WITH HOLD )?FOR /.exec(part);
      if (declare && !m.portals.has(declare[1]!)) m.portals.set(declare[1]!, { hold: declare[2] !== undefined });
      const close = /^CLOSE (\w+)$/.exec(part);
      if (close?.[1] === 'ALL') m.portals.clear();
      else if (close) m.portals.delete(close[1]!);
      if (part === 'COMMIT' || part === 'ROLLBACK') for (const [name, p] of m.portals) if (!p.hold) m.portals.delete(name);
    }
    const sql = sent.join('; ');
    this.line = `Query ${q(sql)}`;
    add(b, frontend.query(sql), this.line);
  }
  toString(): string {
    return this.line ?? `Query ${q(this.parts.join('; '))}`;
  }
}

/** COPY scratch FROM STDIN as psql (simple Query) or libpq's PQexecParams (Parse/Bind/Describe/Execute/Sync) sends it. */
class CopyIn extends Live {
  constructor(readonly via: 'simple' | 'extended', readonly rows: string[], readonly end: 'done' | 'fail' | 'open') {
    super();
  }
  run(m: Model, b: Batch): void {
    if (this.via === 'simple') add(b, frontend.query(SQL.copyIn), `Query ${q(SQL.copyIn)}`);
    else {
      m.statements.set('', SQL.copyIn);
      add(b, frontend.parse('', SQL.copyIn), `Parse "" ${q(SQL.copyIn)}`);
      add(b, frontend.bind('', '', [], []), 'Bind "" <- "" params=[] formats=[]');
      add(b, frontend.describe('P', ''), 'Describe P ""');
      add(b, frontend.execute('', 0), 'Execute ""');
      add(b, frontend.sync(), 'Sync');
    }
    for (const row of this.rows) add(b, frontend.copyData(row), `CopyData ${q(row)}`);
    if (this.end === 'done') add(b, frontend.copyDone(), 'CopyDone');
    if (this.end === 'fail') add(b, frontend.copyFail('client gave up'), 'CopyFail "client gave up"');
    if (this.via === 'extended' && this.end !== 'open') add(b, frontend.sync(), 'Sync');
  }
  toString(): string {
    return `CopyIn(${this.via}, ${this.rows.length} rows, ${this.end})`;
  }
}

class Terminate extends Live {
  run(m: Model, b: Batch): void {
    m.terminated = true;
    b.terminated = true;
    add(b, frontend.terminate(), 'Terminate');
  }
  toString(): string {
    return 'Terminate';
  }
}

// ---- the grammar -----------------------------------------------------------------------------------

const statementName = fc.constantFrom('', 's1', 's2');
const sqlStatementName = sqlName(fc.constantFrom('s1', 's2'));
/** Portals a Bind creates; `c1` collides with a SQL cursor of that name (one namespace in PostgreSQL). */
const bindPortal = fc.constantFrom('', 'p1', 'c1');
const portalName = fc.constantFrom('', 'p1', 'c1', 'c2');
const cursorName = sqlName(fc.constantFrom('c1', 'c2'));

/** In SQL text: half the time a name the model says exists (`?c1#3`, see Query), else one from the pool. */
function sqlName(pool: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof({ weight: 1, arbitrary: pool }, { weight: 2, arbitrary: fc.tuple(pool, fc.nat(5)).map(([name, pick]) => `?${name}#${pick}`) });
}

/** Half the time a name the model says exists, else one from the pool (which may or may not exist). */
function nameRef(pool: fc.Arbitrary<string>): fc.Arbitrary<NameRef> {
  return fc.oneof(
    pool.map((name) => ({ name, pick: null })),
    fc.tuple(pool, fc.nat(5)).map(([name, pick]) => ({ name, pick })),
  );
}

const selectSql = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(SQL.patients, 'SELECT ssn, name FROM patients WHERE id = 2') },
  { weight: 3, arbitrary: fc.constantFrom(SQL.literals, SQL.divZero, SQL.visits, SQL.scratch) },
);
const parseSql = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(SQL.patients, SQL.byId, SQL.literals, SQL.divZero, SQL.visits, SQL.scratch) },
  { weight: 2, arbitrary: fc.constantFrom(SQL.insert, SQL.copyOut) },
  { weight: 1, arbitrary: fc.constantFrom('FETCH 2 FROM c1', 'DECLARE c2 CURSOR WITH HOLD FOR SELECT id, name, ssn FROM patients', 'BEGIN', 'COMMIT') },
  { weight: 1, arbitrary: fc.constantFrom(SQL.empty, SQL.comment) },
);
const preparableSql = fc.constantFrom(SQL.patients, SQL.byId, SQL.literals, SQL.divZero, SQL.visits, SQL.scratch, SQL.insert);

/** One SQL statement of a simple Query. */
const statement: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: selectSql },
  { weight: 1, arbitrary: fc.constantFrom(SQL.insert, SQL.copyOut, SQL.copyOutScratch) },
  { weight: 1, arbitrary: fc.constant(SQL.comment) },
  { weight: 4, arbitrary: fc.tuple(sqlStatementName, preparableSql).map(([n, s]) => `PREPARE ${n} AS ${s}`) },
  { weight: 4, arbitrary: fc.tuple(sqlStatementName, fc.constantFrom('', '(1)', '(2)')).map(([n, a]) => `EXECUTE ${n}${a}`) },
  { weight: 1, arbitrary: fc.oneof(sqlStatementName.map((n) => `DEALLOCATE ${n}`), fc.constant('DEALLOCATE ALL')) },
  {
    weight: 6,
    arbitrary: fc
      .tuple(cursorName, fc.boolean(), fc.constantFrom(true, true, true, false), selectSql)
      .map(([c, binary, hold, s]) => `DECLARE ${c} ${binary ? 'BINARY ' : ''}CURSOR ${hold ? 'WITH HOLD ' : ''}FOR ${s}`),
  },
  {
    weight: 5,
    arbitrary: fc
      .tuple(fc.constantFrom('FETCH', 'FETCH', 'MOVE'), fc.constantFrom('1', '2', 'ALL'), cursorName)
      .map(([verb, n, c]) => `${verb} ${n} ${verb === 'MOVE' ? 'IN' : 'FROM'} ${c}`),
  },
  { weight: 1, arbitrary: fc.oneof(cursorName.map((c) => `CLOSE ${c}`), fc.constant('CLOSE ALL')) },
  { weight: 2, arbitrary: fc.constantFrom('BEGIN', 'COMMIT', 'ROLLBACK') },
  { weight: 1, arbitrary: fc.constant('DISCARD PLANS') },
);

const resultFormats = fc.constantFrom<number[]>([], [], [1], [0, 1]);
const arity = fc.constantFrom<Arity>('model', 'model', 'model', 'model', 'model', 'model', 'none', 'extra');
const bind = fc
  .tuple(bindPortal, nameRef(statementName), fc.constantFrom('1', '2', '99', null), resultFormats, arity)
  .map(([p, s, v, f, a]) => new Bind(p, s, v, f, a));
const execute = fc.tuple(nameRef(portalName), fc.constantFrom(0, 0, 1, 2)).map(([p, r]) => new Execute(p, r));

const copyIn = fc
  .tuple(
    fc.constantFrom<'simple' | 'extended'>('simple', 'extended'),
    fc.array(fc.constantFrom('1\tx\n', '2\ty\n', 'oops\tz\n'), { maxLength: 3 }),
    fc.constantFrom<'done' | 'fail' | 'open'>('done', 'done', 'done', 'done', 'fail', 'fail', 'open'),
  )
  .map(([via, rows, end]) => new CopyIn(via, rows, end));

/** Every command the sequences are made of, weighted. */
export const command: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(statementName, parseSql).map(([n, s]) => new Parse(n, s)) },
  { weight: 8, arbitrary: bind },
  { weight: 4, arbitrary: fc.oneof(nameRef(statementName).map((n) => new Describe('S', n)), nameRef(portalName).map((n) => new Describe('P', n))) },
  { weight: 8, arbitrary: execute },
  { weight: 4, arbitrary: fc.oneof(nameRef(statementName).map((n) => new Close('S', n)), nameRef(portalName).map((n) => new Close('P', n))) },
  { weight: 6, arbitrary: fc.constant(new Sync()) },
  { weight: 2, arbitrary: fc.constant(new Flush()) },
  { weight: 12, arbitrary: statement.map((s) => new Query([s])) },
  { weight: 4, arbitrary: fc.array(statement, { minLength: 2, maxLength: 3 }).map((parts) => new Query(parts)) },
  { weight: 3, arbitrary: copyIn },
  { weight: 1, arbitrary: fc.constant(new Terminate()) },
);

/** How sequences are drawn: their length, and the commands' own replay log when replaying a reported failure. */
export interface SequenceOptions {
  maxCommands?: number;
  /** The `replayPath` fast-check prints with a commands counterexample; needed with seed and path to replay it. */
  replayPath?: string;
}

/**
 * Sequences of at most `maxCommands` (default 12) commands.
 *
 * @example
 * fc.sample(sessionCommands(), 3).map((cmds) => toBatch(cmds).lines);
 */
export function sessionCommands(options: SequenceOptions = {}): fc.Arbitrary<Iterable<Step>> {
  return fc.commands([command], { maxCommands: options.maxCommands ?? 12, size: 'max', ...(options.replayPath ? { replayPath: options.replayPath } : {}) });
}

/**
 * Runs the commands through the model and returns what they send.
 *
 * @example
 * const [cmds] = fc.sample(sessionCommands(), 1); toBatch(cmds!).lines; // ['Parse s1 "SELECT 1/0"', 'Sync', …]
 */
export function toBatch(commands: Iterable<Step>): Batch {
  const batch: Batch = { messages: [], lines: [], terminated: false };
  fc.modelRun(() => ({ model: { statements: new Map(), portals: new Map(), terminated: false }, real: batch }), commands);
  return batch;
}

// ---- running a sequence ------------------------------------------------------------------------------

/** Everything one side answered to a sequence. */
export interface Trace {
  messages: BackendFrame[];
  received: Buffer[];
  /** matched: the marker's ReadyForQuery arrived; closed: the server ended the session; timeout: neither. */
  outcome: WaitOutcome;
}

/**
 * Writes the whole batch at once, then Sync + the marker, and reads until the marker is answered (or the
 * session ends, or MARKER_WAIT_MS passes); closes the client.
 *
 * @example
 * const trace = await play(await connectGateway(await stack.client('bob')), batch);
 */
export async function play(client: WireClient, batch: Batch): Promise<Trace> {
  const out = [...batch.messages];
  if (!batch.terminated) out.push(frontend.sync(), frontend.query(MARKER_QUERY));
  client.write(...out);
  let marked = false;
  const outcome = await client.until((m) => {
    if (isMarkerHeader(m)) marked = true;
    return marked && m.type === Backend.ReadyForQuery;
  }, MARKER_WAIT_MS);
  client.close();
  return { messages: client.messages, received: client.received, outcome };
}

/** A stack for the property: the scratch table, and a policy under which alice (clinicians) may see every PHI type. */
export interface ModelStack {
  stack: TestStack;
  admin: pg.Client;
  stop(): Promise<void>;
}

/**
 * Starts the stack. The demo policy masks SSNs even for clinicians; the differential needs one identity for
 * whom the gateway should be transparent, so a copy of policies/ grants the clinician role every PHI type.
 *
 * @example
 * const ms = await startModelStack(); await fc.check(sessionModelProperty(ms, 'alice', 'entitled'), { seed: 42 });
 */
export async function startModelStack(): Promise<ModelStack> {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-session-model-'));
  try {
    const bundle = entitledBundle(dir);
    const stack = await startStack({}, { seedSql: SCRATCH_SEED, bundle });
    const admin = new pg.Client({ connectionString: stack.pg.url });
    await admin.connect();
    await admin.query("SET lock_timeout = '20s'");
    return {
      stack,
      admin,
      async stop() {
        await admin.end().catch(() => undefined);
        await stack.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function entitledBundle(dir: string): string {
  const source = join(dir, 'policies');
  cpSync(policiesDir, source, { recursive: true });
  const accessFile = join(source, 'access', 'data.yaml');
  const access = YAML.parse(readFileSync(accessFile, 'utf8')) as { roles?: Record<string, { phi_types?: string[] }>; masking?: Record<string, unknown> };
  const clinician = access.roles?.clinician;
  if (!clinician || !Array.isArray(clinician.phi_types)) {
    throw new Error('policies/access/data.yaml has no roles.clinician.phi_types; the session-model test needs it to entitle alice');
  }
  const types = new Set<string>([...clinician.phi_types, ...Object.keys(access.masking ?? {})]);
  const classification = YAML.parse(readFileSync(join(source, 'classification', 'data.yaml'), 'utf8')) as { phi?: Record<string, Record<string, string>> };
  for (const columns of Object.values(classification.phi ?? {})) for (const t of Object.values(columns)) types.add(t);
  clinician.phi_types = [...types].sort();
  writeFileSync(accessFile, YAML.stringify(access));
  return policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'session-model', source }).path;
}

/**
 * Runs one sequence on fresh sessions, scratch emptied before each: directly as the database owner, then
 * through the gateway as `user`.
 *
 * @example
 * const { direct, gateway } = await runBoth(ms, 'alice', toBatch(cmds));
 */
export async function runBoth(ms: ModelStack, user: string, batch: Batch): Promise<{ direct: Trace; gateway: Trace }> {
  await ms.admin.query('TRUNCATE scratch');
  const d = ms.stack.pg;
  const direct = await play(await connectDirect({ host: d.host, port: d.port, user: d.user, database: d.database, ...(d.password === undefined ? {} : { password: d.password }) }), batch);
  await ms.admin.query('TRUNCATE scratch');
  const gateway = await play(await connectGateway(await ms.stack.client(user)), batch);
  return { direct, gateway };
}

// ---- the two properties ------------------------------------------------------------------------------

/** Which answers a property compares: `entitled` must match PostgreSQL exactly, `masked` must not leak. */
export type Identity = 'entitled' | 'masked';

const IGNORED = new Set<number>([Backend.NoticeResponse, Backend.ParameterStatus]);

function answers(t: Trace): BackendFrame[] {
  return t.messages.filter((m) => !IGNORED.has(m.type));
}

/** The gateway's refusal of a name it cannot vouch for, standing where PostgreSQL also failed. */
function isVerdictRefusal(m: BackendFrame): boolean {
  return m.type === Backend.ErrorResponse && m.sqlstate === '42501' && (m.message ?? '').startsWith('Verdict');
}

function isFatal(m: BackendFrame | undefined): boolean {
  return m?.type === Backend.ErrorResponse && (m.severity === 'FATAL' || m.severity === 'PANIC');
}

/** A problem found by a property, with the position in both answer streams where it shows. */
interface Finding {
  problem: string;
  at: number;
}

/**
 * Entitled: message for message the same as PostgreSQL (raw bytes; errors by SQLSTATE), except a Verdict refusal
 * where PostgreSQL also failed; notices and ParameterStatus are left out.
 *
 * @example
 * compareEntitled(direct, gateway)?.problem; // 'PostgreSQL sent C "PREPARE", Verdict sent E ERROR 42501 …'
 */
export function compareEntitled(direct: Trace, gateway: Trace): Finding | null {
  const d = answers(direct);
  const g = answers(gateway);
  const standIn = standInShown(g);
  if (standIn) return standIn;
  for (let i = 0; i < Math.max(d.length, g.length); i++) {
    const a = d[i];
    const b = g[i];
    if (!a) return { at: i, problem: `Verdict sent ${describeFrame(b!)} after everything PostgreSQL answered` };
    if (!b) return { at: i, problem: `Verdict ${gateway.outcome === 'closed' ? 'closed the session' : 'stopped answering'} where PostgreSQL sent ${describeFrame(a)}` };
    if (a.type === Backend.ErrorResponse && b.type === Backend.ErrorResponse) {
      if (a.sqlstate === b.sqlstate || isVerdictRefusal(b)) continue;
    } else if (a.type === b.type && a.raw.equals(b.raw)) continue;
    // One refused statement refuses its whole Query string before any of it runs (the decision contract), so a
    // refusal may stand where PostgreSQL ran the statements before it and then failed. The two sessions hold
    // different state from there on: the marker must still be answered intact.
    if (isVerdictRefusal(b) && failsBeforeReady(d, i)) return markerAnswered(direct, gateway, g, gateway.outcome === 'closed' && isFatal(g[g.length - 1]), i);
    return { at: i, problem: `PostgreSQL sent ${describeFrame(a)}, Verdict sent ${describeFrame(b)}` };
  }
  return null;
}

/**
 * Masked: no seeded raw value in any byte from the gateway; and until the first statement Verdict refused
 * where PostgreSQL answered (after which the two sessions hold different state) the answers line up with
 * PostgreSQL's — same messages, DataRows compared by column count only. Afterwards the session must still
 * answer the marker, unless it was ended with a FATAL error.
 *
 * @example
 * compareMasked(direct, gateway)?.problem; // 'raw value "123-45-6789" reached the client in D […]'
 */
export function compareMasked(direct: Trace, gateway: Trace): Finding | null {
  const g = answers(gateway);
  const leak = leakIn(gateway, g) ?? standInShown(g);
  if (leak) return leak;
  const d = answers(direct);
  const endedWithError = gateway.outcome === 'closed' && isFatal(g[g.length - 1]);
  for (let i = 0; i < Math.max(d.length, g.length); i++) {
    const a = d[i];
    const b = g[i];
    if (!b) {
      if (endedWithError) return null;
      return { at: i, problem: `Verdict ${gateway.outcome === 'closed' ? 'closed the session without an error' : 'stopped answering'} where PostgreSQL sent ${describeFrame(a!)}` };
    }
    if (isFatal(b)) {
      const after = g.slice(i + 1).findIndex((m) => !isFatal(m));
      return after < 0 ? null : { at: i + 1 + after, problem: `Verdict kept answering after a FATAL error` };
    }
    // Which error the server reports can differ once a stand-in ran instead of a refused statement (e.g. no
    // failed unnamed portal is left behind); the order of answers cannot.
    if (a?.type === Backend.ErrorResponse && b.type === Backend.ErrorResponse) continue;
    if (isVerdictRefusal(b)) {
      // A refusal where PostgreSQL answered (or, before a Terminate, sent nothing yet): the gateway's upstream
      // failed a stand-in instead and skips to the next Sync or ends the Query — the next answer must be
      // ReadyForQuery. The two sessions hold different state from here on.
      const next = g[i + 1];
      if (next && next.type !== Backend.ReadyForQuery && !isFatal(next)) {
        return { at: i + 1, problem: `after refusing a statement Verdict sent ${describeFrame(next)} instead of ReadyForQuery` };
      }
      return markerAnswered(direct, gateway, g, endedWithError, i);
    }
    if (!a) return { at: i, problem: `Verdict sent ${describeFrame(b)} after everything PostgreSQL answered` };
    if (b.type === Backend.ErrorResponse) return { at: i, problem: `PostgreSQL sent ${describeFrame(a)}, Verdict sent ${describeFrame(b)}` };
    if (a.type !== b.type) return { at: i, problem: `PostgreSQL sent ${describeFrame(a)}, Verdict sent ${describeFrame(b)}` };
    if (b.type === Backend.DataRow) {
      if (a.columns!.length !== b.columns!.length) return { at: i, problem: `row with ${b.columns!.length} columns where PostgreSQL sent ${a.columns!.length}` };
    } else if (b.type !== Backend.CopyData && !a.raw.equals(b.raw)) {
      return { at: i, problem: `PostgreSQL sent ${describeFrame(a)}, Verdict sent ${describeFrame(b)}` };
    }
  }
  return markerAnswered(direct, gateway, g, endedWithError, null);
}

/**
 * The marker must be answered (when PostgreSQL answered it), and intact: a changed value means the gateway
 * took its rows for another statement's. `refusedAt`: where the sessions diverged, if they did.
 */
function markerAnswered(direct: Trace, gateway: Trace, g: BackendFrame[], endedWithError: boolean, refusedAt: number | null): Finding | null {
  if (endedWithError || direct.outcome !== 'matched') return null;
  if (gateway.outcome !== 'matched') {
    const after = refusedAt === null ? '' : `after a refusal at answer #${refusedAt + 1} `;
    return { at: g.length, problem: `${after}Verdict ${gateway.outcome === 'closed' ? 'closed the session without an error' : 'stopped answering'} before the end marker` };
  }
  const header = g.findLastIndex(isMarkerHeader);
  const row = g[header + 1];
  if (row?.type !== Backend.DataRow || row.columns?.length !== 1 || row.columns[0]?.toString('utf8') !== MARKER) {
    return { at: header + 1, problem: `the end marker's row arrived as ${row ? describeFrame(row) : 'nothing'}: Verdict applied another statement's plan to it` };
  }
  return null;
}

/** PostgreSQL's answers from `i` up to the next ReadyForQuery include an error: it also failed that Query. */
function failsBeforeReady(d: BackendFrame[], i: number): boolean {
  for (let j = i; j < d.length; j++) {
    if (d[j]!.type === Backend.ErrorResponse) return true;
    if (d[j]!.type === Backend.ReadyForQuery) return false;
  }
  return false;
}

function isMarkerHeader(m: BackendFrame): boolean {
  return m.type === Backend.RowDescription && m.fields?.length === 1 && m.fields[0]!.name === MARKER_COLUMN;
}

/** The SQL the gateway sends upstream in place of a refused statement must never surface in an answer. */
function standInShown(g: BackendFrame[]): Finding | null {
  const at = g.findIndex((m) => m.type === Backend.ErrorResponse && (m.message ?? '').includes('verdict_denied'));
  return at < 0 ? null : { at, problem: `the upstream's error for a stand-in reached the client unreplaced: ${describeFrame(g[at]!)}` };
}

function leakIn(gateway: Trace, g: BackendFrame[]): Finding | null {
  const all = Buffer.concat(gateway.received).toString('latin1');
  const found = SECRETS.filter((s) => all.includes(s));
  if (found.length === 0) return null;
  const at = g.findIndex((m) => found.some((s) => m.raw.toString('latin1').includes(s)));
  const where = at >= 0 ? ` in ${describeFrame(g[at]!)}` : ' (outside the recorded answers: startup or a split message)';
  return { at: Math.max(at, 0), problem: `raw value${found.length > 1 ? 's' : ''} ${found.map((s) => q(s)).join(', ')} reached the client${where}` };
}

/**
 * The failure report: the sequence, what went wrong, and both answer streams side by side around it.
 *
 * @example
 * const f = compareMasked(direct, gateway); if (f) console.log(report('bob', 'masked', batch, direct, gateway, f));
 */
export function report(user: string, identity: Identity, batch: Batch, direct: Trace, gateway: Trace, finding: Finding): string {
  const lines = [
    `${user} (${identity}): ${finding.problem}`,
    'sequence:',
    ...batch.lines.map((l, i) => `  ${String(i + 1).padStart(2)}. ${l}`),
    ...(batch.terminated ? [] : [`      (then Sync, Query ${q(MARKER_QUERY)})`]),
    `answers (PostgreSQL ${direct.outcome} | Verdict ${gateway.outcome}; notices and ParameterStatus left out):`,
  ];
  const d = answers(direct);
  const g = answers(gateway);
  const from = Math.max(0, finding.at - 25);
  const to = Math.min(Math.max(d.length, g.length), finding.at + 6);
  if (from > 0) lines.push(`  … ${from} equal answers before`);
  for (let i = from; i < to; i++) {
    const left = d[i] ? describeFrame(d[i]!) : '—';
    const right = g[i] ? describeFrame(g[i]!) : '—';
    lines.push(`${i === finding.at ? '>>' : '  '}${String(i + 1).padStart(3)}  ${clip(left, 60).padEnd(60)} | ${clip(right, 70)}`);
  }
  return lines.join('\n');
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/**
 * Runs one sequence both ways and judges it; returns the failure report, or null when it holds.
 *
 * @example
 * const failure = await checkSequence(ms, 'bob', 'masked', cmds); if (failure) failures++;
 */
export async function checkSequence(ms: ModelStack, user: string, identity: Identity, commands: Iterable<Step>): Promise<string | null> {
  const batch = toBatch(commands);
  const { direct, gateway } = await runBoth(ms, user, batch);
  const finding = identity === 'entitled' ? compareEntitled(direct, gateway) : compareMasked(direct, gateway);
  return finding ? report(user, identity, batch, direct, gateway, finding) : null;
}

/**
 * The property for one user: throws an Error carrying the report when a sequence breaks it.
 *
 * @example
 * const details = await fc.check(sessionModelProperty(ms, 'bob', 'masked'), { seed: 42, numRuns: 40 });
 */
export function sessionModelProperty(ms: ModelStack, user: string, identity: Identity, options: SequenceOptions = {}) {
  return fc.asyncProperty(sessionCommands(options), async (commands) => {
    const failure = await checkSequence(ms, user, identity, commands);
    if (failure) throw new Error(failure);
  });
}

/**
 * The failure text: the shrunk sequence with both answer streams (the error the property threw for it), and
 * how to replay exactly that case. `envPrefix` names the variables the caller reads its seed and path from.
 *
 * @example
 * if (details.failed) expect.fail(describeRun(details, 'VERDICT_SESSION_MODEL'));
 */
export function describeRun(details: fc.RunDetails<unknown>, envPrefix: string): string {
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const how = details.interrupted ? 'shrinking cut short by the time budget' : `${details.numShrinks} shrink steps`;
  const replayPath = /replayPath="([^"]*)"/.exec(String((details.counterexample as unknown[] | null)?.[0] ?? ''))?.[1] ?? '';
  return [
    `session-model property failed on run ${details.numRuns} (seed ${details.seed}; ${how})`,
    error,
    `replay: ${envPrefix}_SEED=${details.seed} ${envPrefix}_PATH=${details.counterexamplePath ?? ''} ${envPrefix}_REPLAY=${replayPath}`,
  ].join('\n');
}

/** Who the property runs as: alice must see what PostgreSQL sends, bob must never see a raw value. */
export const IDENTITIES: { user: string; identity: Identity }[] = [
  { user: 'alice', identity: 'entitled' },
  { user: 'bob', identity: 'masked' },
];
