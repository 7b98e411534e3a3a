// Adversarial attempts against masking, as bob (group contractors: every PHI type masked). Unlike bypass.test.ts
// and extraction.test.ts (which look for raw bytes in what comes back), these rebuild a value from side
// channels the masks do not cover: how many rows come back, which SQLSTATE a statement fails with, what a
// LIMIT/OFFSET computed from PHI does to unmasked rows, what a set operation de-duplicates, what server state
// a statement leaves behind. Each attempt asserts the safe outcome (the value cannot be rebuilt / nothing
// PHI-dependent arrives unmasked). Attempts that once succeeded say how (`Was a finding`) and stay as regression tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../testing/stack.ts';
import { Backend, connectGateway, errorsIn, exchange, frontend, leaksIn, rowsIn, tagsIn, type BackendFrame, type WireClient } from '../testing/wire-client.ts';
import { SECRETS } from '../testing/session-model.ts';

/** The value every oracle below tries to rebuild: patient 1's SSN (gateway/demo/clinic.sql). */
const TARGET = '123-45-6789';
const CHARS = '0123456789-';

let stack: TestStack;
let c: WireClient;
const approvalsDir = mkdtempSync(join(tmpdir(), 'verdict-advmask-approvals-'));

beforeAll(async () => {
  stack = await startStack({ approvals: { state_dir: approvalsDir, hold_timeout_seconds: 2 } }, {});
  c = await session();
}, 180_000);
afterAll(async () => {
  c?.close();
  await stack?.stop();
  rmSync(approvalsDir, { recursive: true, force: true });
});

async function session(user = 'bob'): Promise<WireClient> {
  const { host, port, database, password } = await stack.client(user);
  return connectGateway({ host, port, user, database, password });
}

const q = (sql: string, client: WireClient = c): Promise<BackendFrame[]> => exchange(client, [frontend.query(sql)]);
const dataRows = (f: BackendFrame[]) => f.filter((m) => m.type === Backend.DataRow).length;

/** Rebuilds TARGET one character at a time from `charAt(position)`; '?' where the oracle said nothing. */
async function rebuild(charAt: (pos: number) => Promise<string | null>): Promise<string> {
  let out = '';
  for (let i = 1; i <= TARGET.length; i++) out += (await charAt(i)) ?? '?';
  return out;
}

describe('row-count and LIMIT/OFFSET channels', () => {
  // Was a finding (fixed): a PHI-derived LIMIT/OFFSET is neither a predicate nor a result column, so the rows it shapes are
  // unmasked. Reproduction (simple Query, as bob):
  //   SELECT g FROM generate_series(1, 1000) g OFFSET (SELECT ascii(substr(ssn, 1, 1)) FROM patients WHERE id = 1) LIMIT 1
  // → one row "50" = ascii('1') + 1, unmasked; per position, the whole SSN.
  // Cause: engine/sql/postgres/walk/queries.ts (select) calls `exprs([s.limitOffset, s.limitCount], …)` with
  // sink = null and pred = false, so the subquery's PHI lineage is dropped: not in predicates_on
  // (guards.rego would deny) and not in any result column (masking would blank it).
  it('OFFSET computed from PHI does not reveal the value in an unmasked row', async () => {
    const got = await rebuild(async (i) => {
      const f = await q(`SELECT g FROM generate_series(1, 1000) g OFFSET (SELECT ascii(substr(ssn, ${i}, 1)) FROM patients WHERE id = 1) LIMIT 1`);
      const v = Number(rowsIn(f)[0]?.[0]);
      return Number.isFinite(v) && v > 1 ? String.fromCharCode(v - 1) : null;
    });
    expect(got).not.toBe(TARGET);
  });

  // Was a finding (fixed): same cause as above, with LIMIT: the number of unmasked rows is the character code.
  //   SELECT 1 FROM generate_series(1, 1000) LIMIT (SELECT ascii(substr(ssn, 1, 1)) FROM patients WHERE id = 1)
  // → 49 rows (CommandComplete "SELECT 49").
  it('LIMIT computed from PHI does not reveal the value as a row count', async () => {
    const got = await rebuild(async (i) => {
      const f = await q(`SELECT 1 FROM generate_series(1, 1000) LIMIT (SELECT ascii(substr(ssn, ${i}, 1)) FROM patients WHERE id = 1)`);
      const n = dataRows(f);
      return n > 0 ? String.fromCharCode(n) : null;
    });
    expect(got).not.toBe(TARGET);
  });

  // Was a finding (fixed): a set-returning function over masked PHI in the SELECT list: every value is masked, but the
  // number of rows is the argument. Reproduction:
  //   SELECT generate_series(1, ascii(substr(ssn, 1, 1))) FROM patients WHERE id = 1   → 49 rows of "0"
  // Cause: masking (engine/masking/plan.ts) only rewrites values; nothing treats a PHI-derived SRF argument in
  // the target list as something that shapes the result (engine/sql/postgres/walk/ queries.ts targetList / expressions.ts FuncCall: sink only).
  it('a set-returning function over PHI in the SELECT list does not reveal the value as a row count', async () => {
    const got = await rebuild(async (i) => {
      const f = await q(`SELECT generate_series(1, ascii(substr(ssn, ${i}, 1))) FROM patients WHERE id = 1`);
      const n = dataRows(f);
      return n > 0 ? String.fromCharCode(n) : null;
    });
    expect(got).not.toBe(TARGET);
  });

  // Was a finding (fixed): a FROM / LATERAL set-returning function over PHI, counted with count(*) (no PHI source: unmasked).
  //   SELECT count(*) FROM patients p, generate_series(1, ascii(substr(p.ssn, 1, 1))) WHERE p.id = 1   → "49"
  // Cause: engine/sql/postgres/walk/from.ts — the arguments of a FROM function reach only that function's output column's
  // lineage, and count(*) references no column; the row multiplication the argument causes is not a
  // predicate (a JOIN … ON on the same value would be).
  it('count(*) over a LATERAL set-returning function of PHI does not reveal the value', async () => {
    const got = await rebuild(async (i) => {
      const f = await q(`SELECT count(*) FROM patients p, generate_series(1, ascii(substr(p.ssn, ${i}, 1))) WHERE p.id = 1`);
      const v = Number(rowsIn(f)[0]?.[0]);
      return Number.isFinite(v) && v > 0 ? String.fromCharCode(v) : null;
    });
    expect(got).not.toBe(TARGET);
  });

  // Was a finding (fixed): the same through a scalar subquery: count(*) over a set-returning function of PHI, one column
  // per question, every patient in one statement, unmasked. Any regular expression is a yes/no question:
  //   SELECT id, (SELECT count(*) FROM regexp_matches(ssn, '^1')) FROM patients   → "1","1" / "2","0" / …
  //   SELECT (SELECT count(*) FROM generate_series(1, ascii(substr(ssn, 1, 1)))) FROM patients WHERE id = 1 → "49"
  // Cause: engine/sql/postgres/walk/ (queries.ts, from.ts) — the scalar subquery's output count(*) has no column sources; the SRF's
  // argument (ssn) is in the FROM function's lineage only, which nothing reads.
  it('count(*) of a set-returning function of PHI in a scalar subquery does not reveal the value', async () => {
    const got = await rebuild(async (i) => {
      const f = await q(`SELECT (SELECT count(*) FROM generate_series(1, ascii(substr(ssn, ${i}, 1)))) FROM patients WHERE id = 1`);
      const v = Number(rowsIn(f)[0]?.[0]);
      return Number.isFinite(v) && v > 0 ? String.fromCharCode(v) : null;
    });
    expect(got).not.toBe(TARGET);
    const f = await q("SELECT id, (SELECT count(*) FROM regexp_matches(ssn, '^123-45-6789$')) FROM patients ORDER BY id");
    expect(rowsIn(f)[0]).not.toEqual(['1', '1']);
  });

  // Was a finding (fixed): a LATERAL subquery that returns only unmasked columns, multiplied by a PHI-derived SRF.
  //   SELECT x FROM patients p, LATERAL (SELECT p.id AS x FROM generate_series(1, ascii(substr(p.ssn, 1, 1)))) l WHERE p.id = 1
  // → 49 rows of "1" (unmasked). Same cause.
  it('a LATERAL subquery multiplied by a PHI-derived SRF does not reveal the value as a row count', async () => {
    const got = await rebuild(async (i) => {
      const f = await q(`SELECT x FROM patients p, LATERAL (SELECT p.id AS x FROM generate_series(1, ascii(substr(p.ssn, ${i}, 1)))) l WHERE p.id = 1`);
      const n = dataRows(f);
      return n > 0 ? String.fromCharCode(n) : null;
    });
    expect(got).not.toBe(TARGET);
  });

  // Was a finding (fixed): set operations compare rows: INTERSECT returns a row only when the PHI piece equals the guess
  // (the row itself is masked; its existence is the answer).
  //   SELECT substr(ssn, 1, 1) FROM patients WHERE id = 1 INTERSECT SELECT '1'   → 1 row; with '2' → 0 rows
  // Cause: engine/sql/postgres/walk/queries.ts — UNION/INTERSECT/EXCEPT (without ALL) de-duplicate by comparing values, but
  // their arms are only lineage (by position), never predicates_on; plain DISTINCT likewise (orderLike skips
  // the empty DISTINCT node).
  it('INTERSECT with a guessed literal is not an equality oracle on PHI', async () => {
    const got = await rebuild(async (i) => {
      for (const ch of CHARS) {
        const f = await q(`SELECT substr(ssn, ${i}, 1) FROM patients WHERE id = 1 INTERSECT SELECT '${ch}'`);
        if (errorsIn(f).length === 0 && dataRows(f) === 1) return ch;
      }
      return null;
    });
    expect(got).not.toBe(TARGET);
  });

  // Was a finding (fixed): plain DISTINCT de-duplicates on masked values, so its row count is an equality oracle.
  //   SELECT DISTINCT x FROM (SELECT substr(ssn, 1, 1) AS x FROM patients WHERE id = 1 UNION ALL SELECT '1') s
  // → 1 row iff the first character is '1' (2 otherwise). Cause: engine/sql/postgres/walk/clauses.ts orderLike() is given the
  // distinctClause, but a plain DISTINCT's clause is one empty node, which it skips: no predicates_on.
  it('DISTINCT is not an equality oracle on PHI', async () => {
    const got = await rebuild(async (i) => {
      for (const ch of CHARS) {
        const f = await q(`SELECT DISTINCT x FROM (SELECT substr(ssn, ${i}, 1) AS x FROM patients WHERE id = 1 UNION ALL SELECT '${ch}') s`);
        if (errorsIn(f).length === 0 && dataRows(f) === 1) return ch;
      }
      return null;
    });
    expect(got).not.toBe(TARGET);
  });
});

describe('error channel', () => {
  // Partly fixed: error text was withheld but the SQLSTATE kept, so a statement failing only for some values told
  // which error it was. Data-dependent SQLSTATEs of statements reading masked PHI now arrive as one generic 22000.
  // Still open (documented): that an error happens at all is one bit per statement:
  //   SELECT 1 / (ascii(substr(ssn, 1, 1)) - 49) FROM patients WHERE id = 1   → an error iff the first digit is '1'
  it('a data error of a statement reading masked PHI does not say which error it was', async () => {
    const f = await q('SELECT 1 / (ascii(substr(ssn, 1, 1)) - 49) FROM patients WHERE id = 1');
    expect(errorsIn(f)).toEqual(['22000']);
    expect(rowsIn(f)).toEqual([]);
  });

  // Was a finding (fixed): distinct SQLSTATEs encode a whole character in ONE statement (each branch fails differently; the
  // branches use the row's id so PostgreSQL cannot constant-fold them into an error at plan time).
  //   SELECT CASE substr(ssn, 1, 1) WHEN '0' THEN (1/(id-id))::text WHEN '1' THEN ('x'||id)::int::text … ELSE '' END
  //   FROM patients WHERE id = 1   → 22P02, i.e. '1'.
  // Same cause as above.
  it('distinct SQLSTATEs do not encode a PHI character in one statement', async () => {
    const expr: Record<string, string> = {
      '0': '(1 / (id - id))::text', // 22012
      '1': "('x' || id)::int::text", // 22P02
      '2': 'sqrt(-id)::text', // 2201F
      '3': '(2147483647 + id)::text', // 22003
      '4': 'make_date(2020, 12 + id, 1)::text', // 22008
      '5': 'ln(0 * id)::text', // 2201E
      '6': "substr('a', 1, -id)", // 22011
      '7': 'width_bucket(id, 0, 0, 1)::text', // 2201G
      '8': "regexp_match('a', '(' || id)::text", // 2201B
      '9': 'chr(id * 0)', // 54000
    };
    // Learn each branch's SQLSTATE on a table bob may read unmasked.
    const codeToChar = new Map<string, string>();
    for (const ch of '0123456789') {
      const code = errorsIn(await q(`SELECT ${expr[ch]} FROM visits WHERE id = 1`))[0];
      if (code && !codeToChar.has(code)) codeToChar.set(code, ch);
    }
    const cases = [...'0123456789'].map((ch) => `WHEN '${ch}' THEN ${expr[ch]}`).join(' ');
    const got = await rebuild(async (i) => {
      const f = await q(`SELECT CASE substr(ssn, ${i}, 1) ${cases} ELSE '' END FROM patients WHERE id = 1`);
      const code = errorsIn(f)[0];
      if (!code) return dataRows(f) ? '-' : null; // no error: the only non-digit of an SSN
      return codeToChar.get(code) ?? null;
    });
    expect(got).not.toBe(TARGET);
  });
});

describe('server-state side channels', () => {
  // Held: a PHI-derived argument to a function with a side effect readable elsewhere (an advisory lock, read
  // back from pg_locks) is refused (42501); pg_advisory_lock(49) itself is allowed and shows in pg_locks.
  it('a timing oracle (pg_sleep chosen by PHI) is refused', async () => {
    const f = await q("SELECT pg_sleep(CASE WHEN substr(ssn, 1, 1) = '1' THEN 0.5 ELSE 0 END) FROM patients WHERE id = 1");
    expect(errorsIn(f)).toEqual(['42501']);
  });

  it('an advisory lock keyed on PHI does not reveal it through pg_locks', async () => {
    const got = await rebuild(async (i) => {
      await q('SELECT pg_advisory_unlock_all()');
      await q(`SELECT pg_advisory_lock(ascii(substr(ssn, ${i}, 1))) FROM patients WHERE id = 1`);
      const f = await q("SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()");
      const v = Number(rowsIn(f)[0]?.[0]);
      return Number.isFinite(v) && v > 0 ? String.fromCharCode(v) : null;
    });
    await q('SELECT pg_advisory_unlock_all()');
    expect(got).not.toBe(TARGET);
  });

  // Held: CREATE SEQUENCE needs approval, and setval() with a PHI-derived argument is refused (42501).
  it('setval of a temporary sequence from PHI does not reveal it', async () => {
    const made = await q('CREATE TEMP SEQUENCE adv_seq');
    const got = await rebuild(async (i) => {
      await q(`SELECT setval('adv_seq', ascii(substr(ssn, ${i}, 1))) FROM patients WHERE id = 1`);
      const f = await q('SELECT last_value FROM adv_seq');
      const v = Number(rowsIn(f)[0]?.[0]);
      return Number.isFinite(v) && v > 1 ? String.fromCharCode(v) : null;
    });
    void made;
    expect(got).not.toBe(TARGET);
  });
});

describe('value channels that must stay masked (expected to hold)', () => {
  const scan = async (sql: string) => {
    const d = await session();
    try {
      const f = await q(sql, d);
      return { leaks: leaksIn(d, SECRETS), rows: rowsIn(f), errors: errorsIn(f), tags: tagsIn(f) };
    } finally {
      d.close();
    }
  };

  it('a predicate in the SELECT list is masked to false for every row', async () => {
    const r = await scan("SELECT ssn > '3', ssn LIKE '1%', dob < '1900-01-01' FROM patients ORDER BY id");
    expect(r.leaks).toEqual([]);
    for (const row of r.rows) expect(row.every((v) => v === 'f' || v === null)).toBe(true);
  });

  it('CASE returning literals chosen by PHI is masked', async () => {
    const r = await scan("SELECT CASE WHEN ssn LIKE '1%' THEN 'a' ELSE 'b' END, CASE WHEN length(name) > 11 THEN 1 ELSE 2 END FROM patients ORDER BY id");
    expect(new Set(r.rows.map((x) => x.join('|'))).size).toBeLessThanOrEqual(1);
  });

  it('JSON paths into row_to_json / to_jsonb and jsonb_each over a row are masked', async () => {
    for (const sql of [
      "SELECT row_to_json(p)->>'ssn', to_jsonb(p)#>>'{name}', jsonb_path_query(to_jsonb(p), '$.email') FROM patients p",
      'SELECT key, value FROM patients p, jsonb_each_text(to_jsonb(p))',
      "SELECT j->>'dob' FROM (SELECT to_jsonb(p) j FROM patients p) s",
    ]) {
      const r = await scan(sql);
      expect({ sql, leaks: r.leaks }).toEqual({ sql, leaks: [] });
    }
  });

  it('string_to_array / unnest / regexp_split_to_table over a masked column are masked', async () => {
    for (const sql of [
      "SELECT unnest(string_to_array(ssn, '-')) FROM patients",
      "SELECT x FROM patients p, unnest(string_to_array(p.ssn, '-')) x",
      "SELECT x FROM patients p, LATERAL regexp_split_to_table(p.name, ' ') x",
      "SELECT string_agg(x, '') FROM patients p, regexp_split_to_table(p.ssn, '') x",
    ]) {
      const r = await scan(sql);
      expect({ sql, leaks: r.leaks }).toEqual({ sql, leaks: [] });
    }
  });

  it('window functions over masked columns are masked or refused', async () => {
    for (const sql of [
      'SELECT lag(ssn) OVER (ORDER BY id), lead(name) OVER (ORDER BY id), first_value(email) OVER (), nth_value(diagnosis, 2) OVER () FROM patients',
      'SELECT id, row_number() OVER (ORDER BY ssn) FROM patients',
      'SELECT id, rank() OVER (PARTITION BY substr(ssn, 1, 1)) FROM patients',
    ]) {
      const r = await scan(sql);
      expect({ sql, leaks: r.leaks }).toEqual({ sql, leaks: [] });
      if (/ORDER BY ssn|PARTITION BY/.test(sql)) expect(r.errors).toEqual(['42501']);
    }
  });

  it('aggregate ORDER BY / FILTER / GROUPING SETS / DISTINCT ON over PHI are refused', async () => {
    for (const sql of [
      "SELECT string_agg(id::text, ',' ORDER BY ssn) FROM patients",
      "SELECT count(*) FILTER (WHERE ssn LIKE '1%') FROM patients",
      'SELECT count(*) FROM patients GROUP BY GROUPING SETS ((substr(ssn, 1, 1)), ())',
      'SELECT DISTINCT ON (substr(ssn, 1, 1)) id FROM patients',
    ]) {
      const r = await scan(sql);
      expect({ sql, errors: r.errors, leaks: r.leaks }).toEqual({ sql, errors: ['42501'], leaks: [] });
    }
  });

  it('count(DISTINCT …) of a derivation and length() are masked', async () => {
    for (const sql of [
      'SELECT count(DISTINCT substr(ssn, 1, 1)) FROM patients',
      'SELECT count(nullif(substr(ssn, 1, 1), $$1$$)) FROM patients WHERE id = 1',
      'SELECT count(x) FROM (SELECT nullif(substr(ssn, 1, 1), $$1$$) AS x FROM patients WHERE id = 1) s',
      'SELECT length(name), octet_length(email), md5(substr(ssn, 1, 1)) FROM patients',
    ]) {
      const r = await scan(sql);
      expect({ sql, leaks: r.leaks }).toEqual({ sql, leaks: [] });
      for (const row of r.rows) for (const v of row) expect(v === null || v === '0' || v === '[REDACTED]' || !/[1-9]/.test(v)).toBe(true);
    }
  });

  it('date text casts and to_char are masked', async () => {
    const r = await scan("SELECT dob::text, to_char(dob, 'YYYY-MM-DD'), dob::timestamp, extract(month from dob), date_part('day', dob) FROM patients");
    expect(r.leaks).toEqual([]);
  });

  it('arrays of the row type and of composites are masked', async () => {
    for (const sql of [
      'SELECT array_agg(p) FROM patients p',
      'SELECT ARRAY[ROW(p.ssn, p.name)] FROM patients p',
      'SELECT (array_agg(p))[1].ssn FROM patients p',
      'SELECT ((ARRAY[p])[1]).name FROM patients p',
    ]) {
      const r = await scan(sql);
      expect({ sql, leaks: r.leaks }).toEqual({ sql, leaks: [] });
    }
  });

  it('COPY (SELECT derived) TO STDOUT leaks nothing', async () => {
    for (const sql of [
      'COPY (SELECT length(ssn), upper(name) FROM patients) TO STDOUT',
      'COPY (SELECT id FROM patients OFFSET 0) TO STDOUT',
    ]) {
      const r = await scan(sql);
      expect({ sql, leaks: r.leaks }).toEqual({ sql, leaks: [] });
    }
  });

  it('mixed text/binary result formats in one Bind mask every column', async () => {
    const d = await session();
    try {
      const sql = 'SELECT id, ssn, name, dob, email, diagnosis, row_to_json(p)::jsonb, ARRAY[ssn] FROM patients p';
      const a = await exchange(d, [frontend.parse('', sql), frontend.bind('', '', [], [0, 1, 0, 1, 1, 0, 1, 1]), frontend.describe('P', ''), frontend.execute('', 0), frontend.sync()]);
      // Again, without a Describe (the type is known from the first time, or the value is NULL).
      const b = await exchange(d, [frontend.parse('', sql), frontend.bind('', '', [], [1, 0, 1, 0, 0, 1, 0, 0]), frontend.execute('', 0), frontend.sync()]);
      expect([dataRows(a), dataRows(b)]).toEqual([6, 6]);
      expect(leaksIn(d, SECRETS)).toEqual([]);
    } finally {
      d.close();
    }
  });
});
