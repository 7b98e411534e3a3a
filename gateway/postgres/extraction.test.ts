// The extraction suite: for every masking method of the default policy, tries to rebuild raw values through
// the gateway by per-character and per-segment extraction and by every function PostgreSQL's catalog lists
// for the column's type (generated from pg_proc at test time), over the simple and the extended protocol, as
// bob (a contractor, who sees PHI masked). Every byte the client receives is scanned for the raw values and
// their encodings, each row is scanned joined (not column by column), and 1-character results per position
// are put back together. A control runs the same suite as alice under a policy copy entitling her to every
// PHI type: there the scan must find the raw values, so it is known to work.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policiesDir } from '../policy/paths.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startStack, type TestStack } from '../testing/stack.ts';
import { Backend, connectGateway, frontend, type BackendFrame, type WireClient } from '../testing/wire-client.ts';

/** PHI columns the demo table lacks, so that every method of the default policy has a column to attack. */
const SEED = `
ALTER TABLE patients ADD COLUMN phone text, ADD COLUMN mrn text, ADD COLUMN address text;
UPDATE patients SET
  phone = (ARRAY['202-555-0141','303-555-0152','404-555-0163','505-555-0174','606-555-0185','707-555-0196'])[id],
  mrn = 'MRN-' || (4417000 + id * 37)::text,
  address = (ARRAY['12 Crescent Lane','34 Harbor Road','56 Quarry Street','78 Juniper Court','90 Orchard Drive','11 Willow Bend'])[id];
`;

/** Letters a per-position `position(... in ALPHABET)` attempt reports as an index. */
const ALPHABET = "0123456789-@. abcdefghijklmnopqrstuvwxyz'";

interface Target {
  column: string;
  /** The expression the attempts extract from: the column, or its text form for non-text types. */
  text: string;
  type: string;
  method: string;
  /** Raw values by patient id. */
  raw: Map<number, string>;
}

interface Attempt {
  sql: string;
  /** Set for per-position / per-segment attempts: which piece of which target's value it extracts. */
  piece?: { target: string; family: string; index: number };
}

interface Outcome {
  attempt: Attempt;
  frames: BackendFrame[];
}

let stack: TestStack;
let dir: string;
let admin: pg.Client;
let targets: Target[] = [];
let generated: { type: string; count: number; functions: string[] }[] = [];
let attempts: Attempt[] = [];
const elapsed: Record<string, number> = {};
/** Per run: statements answered with rows, refused by the policy, failed upstream (text withheld or not). */
const stats: Record<string, { rows: number; refused: number; failed: number; catalog_rows: number }> = {};

function tally(run: string, outcomes: Outcome[]): void {
  const s = { rows: 0, refused: 0, failed: 0, catalog_rows: 0 };
  const from = catalogStart();
  for (const [i, o] of outcomes.entries()) {
    const err = o.frames.find((f) => f.type === Backend.ErrorResponse);
    if (o.frames.some((f) => f.type === Backend.DataRow)) {
      s.rows++;
      if (i >= from) s.catalog_rows++;
    } else if (err?.sqlstate === '42501' && err.message?.startsWith('Verdict denied')) s.refused++;
    else if (err) s.failed++;
  }
  stats[run] = s;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-extraction-'));
  stack = await startStack({}, { seedSql: SEED, bundle: entitledBundle(dir) });
  admin = new pg.Client({ connectionString: stack.pg.url });
  await admin.connect();
  targets = await loadTargets();
  const dangerous = new Set((YAML.parse(readFileSync(join(policiesDir, 'access', 'data.yaml'), 'utf8')) as { dangerous_functions: string[] }).dangerous_functions);
  const catalogAttempts: Attempt[] = [];
  for (const type of [...new Set(targets.map((t) => t.type))]) {
    const fns = await catalogCalls(type, dangerous);
    generated.push({ type, count: fns.length, functions: fns.map((f) => f.name) });
    for (const t of targets.filter((x) => x.type === type)) for (const f of fns) catalogAttempts.push({ sql: f.sql(t.column) });
  }
  attempts = [...handAttempts(targets), ...pieceAttempts(targets), ...catalogAttempts];
}, 180_000);

afterAll(async () => {
  await admin?.end().catch(() => undefined);
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a derived value never reveals more than its mask', () => {
  it('covers every masking method of the default policy with a seeded column', () => {
    const access = YAML.parse(readFileSync(join(policiesDir, 'access', 'data.yaml'), 'utf8')) as { masking: Record<string, { method: string }>; default_mask: { method: string } };
    const methods = new Set([...Object.values(access.masking).map((m) => m.method), access.default_mask.method]);
    expect(new Set(targets.map((t) => t.method))).toEqual(methods);
    // The catalog has hundreds of functions for text and dozens for date: the suite is generated, not a hand list.
    for (const g of generated) expect(g.count, g.type).toBeGreaterThan(g.type === 'text' ? 150 : 15);
  });

  for (const protocol of ['simple', 'extended'] as const) {
    it(`bob rebuilds no raw value (${protocol} protocol)`, async () => {
      const t0 = Date.now();
      const { outcomes, bytes } = await runAll('bob', protocol, attempts);
      elapsed[`bob_${protocol}`] = Date.now() - t0;
      tally(`bob_${protocol}`, outcomes);
      const findings = scan(outcomes, bytes);
      expect(findings.slice(0, 20)).toEqual([]);
      // The attempts ran: most were answered with rows (masked), not refused wholesale — the generated
      // catalog calls included (those the analysis cannot trace are refused, which is also no leak).
      const answered = (list: Outcome[]) => list.filter((o) => o.frames.some((f) => f.type === Backend.DataRow)).length;
      expect(answered(outcomes)).toBeGreaterThan(attempts.length / 2);
      expect(answered(outcomes.slice(catalogStart()))).toBeGreaterThan(300);
    });

    it(`control: alice, entitled to every PHI type, does rebuild them (${protocol} protocol)`, async () => {
      const t0 = Date.now();
      const { outcomes, bytes } = await runAll('alice', protocol, attempts);
      elapsed[`alice_${protocol}`] = Date.now() - t0;
      tally(`alice_${protocol}`, outcomes);
      const findings = scan(outcomes, bytes);
      // Every raw value of every target is found in the bytes, rebuilt per position, and per segment.
      for (const t of targets) {
        for (const id of t.raw.keys()) {
          expect(findings, `${t.column} ${id} raw`).toContain(`bytes: ${t.column}#${id}`);
          expect(findings, `${t.column} ${id} row`).toContain(`row: ${t.column}#${id}`);
          for (const family of PIECE_FAMILIES) expect(findings, `${t.column} ${id} ${family}`).toContain(`pieces ${family}: ${t.column}#${id}`);
        }
      }
      // The generated catalog calls alone expose values too (e.g. btrim, lower, md5 of the column).
      const catalogOnly = scan(outcomes.slice(catalogStart()), Buffer.alloc(0));
      expect(catalogOnly).toEqual(targets.flatMap((t) => [...t.raw.keys()].map((id) => `row: ${t.column}#${id}`)).sort());
    });
  }

  afterAll(() => {
    const fns = generated.map((g) => `${g.type}: ${g.count}`).join(', ');
    console.log(JSON.stringify({ attempts: attempts.length, catalog_functions: fns, targets: targets.map((t) => `${t.column}:${t.method}`), elapsed_ms: elapsed, outcomes: stats }));
  });
});

// ---- targets and attempts -------------------------------------------------------------------------

/** Index of the first generated catalog call in `attempts` (they come last). */
function catalogStart(): number {
  return attempts.length - generated.reduce((n, g) => n + g.count * targets.filter((t) => t.type === g.type).length, 0);
}

/** Masked columns of patients for bob, one per masking method (first by column order), with their raw values. */
async function loadTargets(): Promise<Target[]> {
  const classification = YAML.parse(readFileSync(join(policiesDir, 'classification', 'data.yaml'), 'utf8')) as { phi: Record<string, Record<string, string>> };
  const access = YAML.parse(readFileSync(join(policiesDir, 'access', 'data.yaml'), 'utf8')) as { masking: Record<string, { method: string }>; default_mask: { method: string } };
  const phi = classification.phi['public.patients']!;
  const cols = await admin.query<{ column_name: string; data_type: string }>(
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'patients' ORDER BY ordinal_position",
  );
  const byMethod = new Map<string, Target>();
  for (const c of cols.rows) {
    const type = phi[c.column_name];
    if (!type) continue;
    const method = (access.masking[type] ?? access.default_mask).method;
    if (byMethod.has(method)) continue;
    const pgType = c.data_type === 'text' ? 'text' : c.data_type;
    const text = pgType === 'text' ? c.column_name : `${c.column_name}::text`;
    const rows = await admin.query<{ id: number; v: string }>(`SELECT id, ${text} AS v FROM patients ORDER BY id`);
    byMethod.set(method, { column: c.column_name, text, type: pgType, method, raw: new Map(rows.rows.map((r) => [r.id, r.v])) });
  }
  return [...byMethod.values()];
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
const maxLen = (t: Target) => Math.max(...[...t.raw.values()].map((v) => v.length));

/** Per-character extractions: SQL for the character at 1-based position k of `c`, and how to read its result back. */
const PER_CHAR: Record<string, (c: string, k: number) => string> = {
  substr: (c, k) => `substr(${c}, ${k}, 1)`,
  substring: (c, k) => `substring(${c} from ${k} for 1)`,
  left_right: (c, k) => `right(left(${c}, ${k}), 1)`,
  regexp_replace: (c, k) => `regexp_replace(${c}, ${lit(`^.{${k - 1}}(.).*$`)}, '\\1')`,
  regexp_match: (c, k) => `(regexp_match(${c}, ${lit(`^.{${k - 1}}(.)`)}))[1]`,
  overlay: (c, k) => `left(overlay(${c} placing '' from 1 for ${k - 1}), 1)`,
  ascii: (c, k) => `ascii(substr(${c}, ${k}, 1))`,
  chr: (c, k) => `chr(nullif(ascii(substr(${c}, ${k}, 1)), 0))`, // chr(0) is an error past the end
  to_hex: (c, k) => `to_hex(ascii(substr(${c}, ${k}, 1)))`,
  position: (c, k) => `position(lower(substr(${c}, ${k}, 1)) in ${lit(ALPHABET)})`,
  md5: (c, k) => `md5(substr(${c}, ${k}, 1))`,
  sha256: (c, k) => `encode(sha256(convert_to(substr(${c}, ${k}, 1), 'UTF8')), 'hex')`,
  encode_hex: (c, k) => `encode(convert_to(substr(${c}, ${k}, 1), 'UTF8'), 'hex')`,
  encode_base64: (c, k) => `encode(convert_to(substr(${c}, ${k}, 1), 'UTF8'), 'base64')`,
};
const SEGMENT = 3;
const PIECE_FAMILIES = [...Object.keys(PER_CHAR), 'segment'];

/** One statement per position (and per 3-character segment): the pieces are put back together per patient. */
function pieceAttempts(ts: Target[]): Attempt[] {
  const out: Attempt[] = [];
  for (const t of ts) {
    const n = maxLen(t);
    for (const [family, f] of Object.entries(PER_CHAR)) {
      for (let k = 1; k <= n; k++) out.push({ sql: `SELECT id, ${f(t.text, k)} AS v FROM patients ORDER BY id`, piece: { target: t.column, family, index: k } });
      // The same positions as several columns of one row, and concatenated in SQL.
      const all = Array.from({ length: n }, (_, i) => f(t.text, i + 1));
      out.push({ sql: `SELECT id, ${all.join(', ')} FROM patients ORDER BY id` });
      if (family === 'substr' || family === 'chr') out.push({ sql: `SELECT id, ${all.join(' || ')} AS v FROM patients ORDER BY id` });
    }
    for (let s = 0, i = 1; s < n; s += SEGMENT, i++) {
      out.push({ sql: `SELECT id, substr(${t.text}, ${s + 1}, ${SEGMENT}) AS v FROM patients ORDER BY id`, piece: { target: t.column, family: 'segment', index: i } });
    }
    const segs = Array.from({ length: Math.ceil(n / SEGMENT) }, (_, i) => `substr(${t.text}, ${i * SEGMENT + 1}, ${SEGMENT})`);
    out.push({ sql: `SELECT id, ${segs.join(', ')} FROM patients ORDER BY id` });
  }
  return out;
}

/** Whole-value derivations the issue names, and every target's value in one row through several functions. */
function handAttempts(ts: Target[]): Attempt[] {
  const out: Attempt[] = [];
  const each = (c: string, t: Target) => [
    c, `reverse(${c})`, `upper(${c})`, `lower(${c})`, `${c} || ''`, `md5(${c})`, `encode(sha256(convert_to(${c}, 'UTF8')), 'hex')`,
    `encode(convert_to(${c}, 'UTF8'), 'hex')`, `encode(convert_to(${c}, 'UTF8'), 'base64')`, `replace(${c}, '-', '')`, `translate(${c}, '-', '')`,
    `regexp_replace(${c}, '[^0-9a-zA-Z]', '', 'g')`, `btrim(${c})`, `format('%s', ${c})`, `concat(${c})`, `quote_literal(${c})`, `to_json(${c})::text`,
    `length(${c})`, `position('-' in ${c})`, `strpos(${c}, '@')`, `split_part(${c}, '-', 1)`, `split_part(${c}, '-', 2)`, `split_part(${c}, '-', 3)`,
    `split_part(${c}, '@', 1)`, `lpad(${c}, 40, '*')`, `rpad(${c}, 40, '*')`, `repeat(${c}, 2)`, `initcap(${c})`, `ltrim(${c}, '*')`,
    `(SELECT x FROM (SELECT ${c} AS x) s)`, `CASE WHEN true THEN ${c} END`, `coalesce(${c}, '')`, `nullif(${c}, '')`, `greatest(${c}, '')`,
    ...(t.type === 'date' ? [`to_char(${t.column}, 'YYYYMMDD')`, `to_char(${t.column}, 'MM-DD')`, `extract(day FROM ${t.column})`, `extract(month FROM ${t.column})`, `${t.column} - date '2000-01-01'`, `${t.column} + 1`, `to_char(${t.column}, 'J')`, `extract(epoch FROM ${t.column})`, `date_trunc('day', ${t.column})::date`, `${t.column} + interval '0 days'`] : []),
  ];
  for (const t of ts) {
    const list = each(t.text, t);
    for (const e of list) out.push({ sql: `SELECT id, ${e} AS v FROM patients ORDER BY id` });
    out.push({ sql: `SELECT id, ${list.join(', ')} FROM patients ORDER BY id` });
    // Value-returning aggregates (no rows to align: matched against every patient).
    for (const a of [`min(${t.text})`, `max(${t.text})`, `string_agg(${t.text}, ',')`, `array_agg(${t.text})::text`, `json_agg(${t.text})::text`, `jsonb_agg(${t.text})::text`, `mode() WITHIN GROUP (ORDER BY ${t.text})`, `count(${t.text})`, `count(DISTINCT ${t.text})`]) {
      out.push({ sql: `SELECT 0 AS id, ${a} AS v FROM patients` });
    }
  }
  // Every target in one row, in pieces and whole.
  out.push({ sql: `SELECT id, ${ts.map((t) => `substr(${t.text}, 1, 4), substr(${t.text}, 5)`).join(', ')} FROM patients ORDER BY id` });
  out.push({ sql: `SELECT id, ${ts.map((t) => `reverse(${t.text})`).join(' || ')} AS v FROM patients ORDER BY id` });
  return out;
}

/** Sample values for the other arguments of a generated call, by argument type; a type without one skips the function. */
const SAMPLES: Record<string, string> = {
  text: "'x'::text", 'character varying': "'x'::varchar", name: "'x'::name", '"char"': "'x'::\"char\"", character: "'x'::bpchar",
  integer: '1', bigint: '1::bigint', smallint: '1::smallint', numeric: '1::numeric', 'double precision': '1::float8', real: '1::float4',
  boolean: 'true', date: "'2000-01-01'::date", 'timestamp without time zone': "'2000-01-01'::timestamp", 'timestamp with time zone': "'2000-01-01'::timestamptz",
  interval: "'1 day'::interval", 'time without time zone': "'00:00'::time", bytea: "'\\x78'::bytea", 'text[]': "'{x}'::text[]", regconfig: "'simple'::regconfig",
  jsonb: "'{}'::jsonb", json: "'{}'::json", 'integer[]': "'{1}'::int[]", 'double precision[]': "'{1}'::float8[]", oid: '1::oid',
};
const POLYMORPHIC = ['anyelement', 'anynonarray', 'anycompatible', 'anycompatiblenonarray', '"any"'];

/**
 * Every pg_catalog function or plain aggregate taking `type` (or a polymorphic type) as an argument, returning a
 * scalar, not volatile, not denied outright by the policy data: one call per function, the column in the first
 * such argument, samples in the others.
 */
async function catalogCalls(type: string, dangerous: Set<string>): Promise<{ name: string; sql: (column: string) => string }[]> {
  const { rows } = await admin.query<{ name: string; kind: string; args: string[] }>(
    `SELECT p.proname AS name, p.prokind AS kind, array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS u(t, i) ORDER BY i) AS args
       FROM pg_proc p
      WHERE p.pronamespace = 'pg_catalog'::regnamespace
        AND (p.prokind = 'f' OR EXISTS (SELECT 1 FROM pg_aggregate a WHERE a.aggfnoid = p.oid AND a.aggkind = 'n'))
        AND NOT p.proretset AND p.provolatile <> 'v' AND p.pronargs BETWEEN 1 AND 3 AND p.provariadic = 0
        AND p.prorettype NOT IN ('void'::regtype, 'trigger'::regtype, 'event_trigger'::regtype, 'internal'::regtype, 'record'::regtype,
                                 'cstring'::regtype, 'language_handler'::regtype, 'fdw_handler'::regtype, 'index_am_handler'::regtype,
                                 'table_am_handler'::regtype, 'tsm_handler'::regtype)
        AND EXISTS (SELECT 1 FROM unnest(p.proargtypes::oid[]) t WHERE t = $1::regtype)
      ORDER BY 1, 3`,
    [type],
  );
  const poly = await admin.query<{ name: string; kind: string; args: string[] }>(
    `SELECT p.proname AS name, p.prokind AS kind, array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS u(t, i) ORDER BY i) AS args
       FROM pg_proc p
      WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f' AND NOT p.proretset AND p.provolatile <> 'v'
        AND p.pronargs = 1 AND p.provariadic = 0 AND format_type(p.proargtypes[0], NULL) = ANY($1)
        AND p.prorettype NOT IN ('void'::regtype, 'internal'::regtype, 'record'::regtype, 'cstring'::regtype)
      ORDER BY 1`,
    [POLYMORPHIC],
  );
  const out: { name: string; sql: (column: string) => string }[] = [];
  const seen = new Set<string>();
  for (const r of [...rows, ...poly.rows]) {
    if (dangerous.has(r.name)) continue;
    const at = r.args.findIndex((a) => a === type || POLYMORPHIC.includes(a));
    const others = r.args.map((a, i) => (i === at ? '' : SAMPLES[a]));
    if (others.some((s) => s === undefined)) continue;
    const key = `${r.name}(${r.args.join(',')})`;
    if (seen.has(key)) continue;
    seen.add(key);
    const call = (c: string) => `pg_catalog.${quoteIdent(r.name)}(${r.args.map((_, i) => (i === at ? c : others[i])).join(', ')})`;
    out.push({
      name: key,
      sql: r.kind === 'a' ? (c) => `SELECT 0 AS id, ${call(c)}::text AS v FROM patients` : (c) => `SELECT id, ${call(c)}::text AS v FROM patients ORDER BY id`,
    });
  }
  return out;
}

function quoteIdent(s: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(s) ? s : `"${s.replace(/"/g, '""')}"`;
}

// ---- running ----------------------------------------------------------------------------------------

/** Runs every attempt as `user`, pipelined in chunks, one ReadyForQuery per statement. */
async function runAll(user: string, protocol: 'simple' | 'extended', list: Attempt[]): Promise<{ outcomes: Outcome[]; bytes: Buffer }> {
  const client = await connectGateway(await stack.client(user));
  const outcomes: Outcome[] = [];
  try {
    const CHUNK = 200;
    for (let i = 0; i < list.length; i += CHUNK) {
      const chunk = list.slice(i, i + CHUNK);
      const from = client.messages.length;
      const msgs: Buffer[] = [];
      for (const a of chunk) {
        if (protocol === 'simple') msgs.push(frontend.query(a.sql));
        else msgs.push(frontend.parse('', a.sql), frontend.bind('', '', [], []), frontend.describe('P', ''), frontend.execute('', 0), frontend.sync());
      }
      client.write(...msgs);
      let seen = 0;
      let skip = from; // `until` looks at every message since the session began
      const outcome = await client.until((m) => (skip > 0 ? (skip--, false) : m.type === Backend.ReadyForQuery && ++seen === chunk.length), 60_000);
      if (outcome !== 'matched') throw new Error(`${user}/${protocol}: the gateway answered ${seen} of ${chunk.length} statements (${outcome})`);
      let cur: BackendFrame[] = [];
      let j = 0;
      for (const m of client.messages.slice(from)) {
        cur.push(m);
        if (m.type === Backend.ReadyForQuery) {
          outcomes.push({ attempt: chunk[j++]!, frames: cur });
          cur = [];
        }
      }
    }
  } finally {
    client.close();
  }
  return { outcomes, bytes: Buffer.concat(client.received) };
}

// ---- scanning ---------------------------------------------------------------------------------------

const norm = (s: string) => s.toLowerCase().replace(/[^0-9a-z]/g, '');
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Encodings of a raw value that give it away as surely as the value itself. */
function variants(raw: string): string[] {
  const v = [raw, [...raw].reverse().join(''), raw.toUpperCase(), raw.toLowerCase(), md5(raw), sha256(raw), Buffer.from(raw).toString('hex'), Buffer.from(raw).toString('base64')];
  if (/^\d{4}-\d{2}-\d{2}$/.test(raw)) {
    const d = Date.parse(`${raw}T00:00:00Z`) / 86_400_000;
    v.push(raw.replace(/-/g, ''), String(d), String(d - 10_957), String(d + 2_440_588), String(d * 86_400));
  }
  return v;
}

/** Candidate characters a per-position result stands for, by how the family encodes it. */
function decode(family: string, value: string): string[] {
  const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
  switch (family) {
    case 'ascii':
      return [String.fromCharCode(Number(value))];
    case 'to_hex':
    case 'encode_hex':
      return [String.fromCharCode(parseInt(value, 16))];
    case 'encode_base64':
      return [Buffer.from(value, 'base64').toString('latin1')];
    case 'position':
      return /^\d+$/.test(value) && Number(value) > 0 ? [ALPHABET[Number(value) - 1]!] : [];
    case 'md5':
      return printable.filter((c) => md5(c) === value);
    case 'sha256':
      return printable.filter((c) => sha256(c) === value);
    default:
      return [value];
  }
}

const text = (b: Buffer | null) => (b === null ? '' : b.toString('utf8'));

/**
 * What the received bytes and rows give away, as `kind: column#id` strings:
 * - `bytes`: a raw value or one of its encodings anywhere in the bytes;
 * - `row`: a raw value (letters and digits only) in one row's values joined, the patient's or any patient's for aggregates;
 * - `pieces FAMILY`: the value rebuilt from one-piece-per-statement results, position by position.
 */
function scan(outcomes: Outcome[], bytes: Buffer): string[] {
  const found = new Set<string>();
  const all = bytes.toString('latin1') + '\n' + bytes.toString('utf8');
  for (const t of targets) for (const [id, raw] of t.raw) if (variants(raw).some((v) => all.includes(v))) found.add(`bytes: ${t.column}#${id}`);

  const pieces = new Map<string, Map<number, Map<number, string>>>(); // target/family → id → index → value
  for (const { attempt, frames } of outcomes) {
    for (const f of frames) {
      if (f.type !== Backend.DataRow) continue;
      const cols = f.columns!;
      const id = Number(text(cols[0]!));
      const values = cols.slice(1).map(text);
      const joined = norm(values.join(''));
      for (const t of targets) {
        for (const [pid, raw] of t.raw) {
          if (id !== 0 && id !== pid) continue;
          const n = norm(raw);
          if (joined.includes(n) || joined.includes([...n].reverse().join(''))) found.add(`row: ${t.column}#${pid}`);
          if (id === 0 && variants(raw).some((v) => values.join('\n').includes(v))) found.add(`row: ${t.column}#${pid}`);
        }
      }
      if (attempt.piece && id !== 0) {
        const key = `${attempt.piece.target}/${attempt.piece.family}`;
        let byId = pieces.get(key);
        if (!byId) pieces.set(key, (byId = new Map()));
        let byIndex = byId.get(id);
        if (!byIndex) byId.set(id, (byIndex = new Map()));
        byIndex.set(attempt.piece.index, values[0] ?? '');
      }
    }
  }
  for (const t of targets) {
    for (const family of PIECE_FAMILIES) {
      const byId = pieces.get(`${t.column}/${family}`);
      if (!byId) continue;
      for (const [id, raw] of t.raw) {
        const got = byId.get(id);
        if (!got) continue;
        const rebuilt =
          family === 'segment'
            ? [...got.keys()].sort((a, b) => a - b).map((k) => got.get(k)).join('') === raw
            : [...raw].every((ch, i) => decode(family, got.get(i + 1) ?? '').some((c) => c.toLowerCase() === ch.toLowerCase()));
        if (rebuilt) found.add(`pieces ${family}: ${t.column}#${id}`);
      }
    }
  }
  return [...found].sort();
}

// ---- policy copy for the control ----------------------------------------------------------------------

/** A copy of policies/ in which the clinician role (alice) is entitled to every PHI type. */
function entitledBundle(into: string): string {
  const source = join(into, 'policies');
  cpSync(policiesDir, source, { recursive: true });
  const file = join(source, 'access', 'data.yaml');
  const access = YAML.parse(readFileSync(file, 'utf8')) as { roles: Record<string, { phi_types: string[] }>; masking: Record<string, unknown> };
  const classification = YAML.parse(readFileSync(join(source, 'classification', 'data.yaml'), 'utf8')) as { phi: Record<string, Record<string, string>> };
  const types = new Set([...access.roles.clinician!.phi_types, ...Object.keys(access.masking)]);
  for (const columns of Object.values(classification.phi)) for (const t of Object.values(columns)) types.add(t);
  access.roles.clinician!.phi_types = [...types].sort();
  writeFileSync(file, YAML.stringify(access));
  return policyBuild({ out: join(into, 'bundle.tar.gz'), revision: 'extraction-control', source }).path;
}
