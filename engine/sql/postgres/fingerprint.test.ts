// Tests for the cache-key fingerprint lexer: exact outputs per rule, the null (uncertain) cases, and a
// property check against the real parser: equal fingerprints must mean equal trees modulo constants.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModule, normalizeSync, parseSync } from 'libpg-query';
import { fingerprint } from './fingerprint.ts';

beforeAll(async () => {
  await loadModule();
});

describe('fingerprint: exact output', () => {
  const cases: Array<[string, string]> = [
    // keywords / identifiers / whitespace
    ['SELECT 1', 'select ?'],
    ['  SELECT  a,b\n\tFROM t  ', 'select a,b from t'],
    ['SELECT Foo.BAR, "MixedCase", "a""b", "café"', 'select foo.bar, "MixedCase", "a""b", "café"'],
    ['SELECT a$b, a$$b$$, _x1', 'select a$b, a$$b$$, _x1'],
    ['select 1;select 2;', 'select ?;select ?;'],
    ['', ''],
    ['  -- only a comment\n /* and another */ ', ''],
    // plain, escape, national, bit, unicode strings
    ["select 'a''b', ''", 'select ?, ?'],
    ["SELECT E'a\\'b', e'\\\\', E'\\n\\x41\\u00e9'", 'select ?, ?, ?'],
    ["SELECT N'x', n'y''z'", 'select nchar ?, nchar ?'],
    ["SELECT B'1010', X'FF', b'', x'ab'", 'select ?, ?, ?, ?'],
    ["SELECT U&'d\\0061t\\+000061', u&'x'", 'select ?, ?'],
    ['SELECT U&"d\\0061t", u&"x"', 'select U&"d\\0061t", u&"x"'],
    ['SELECT U&x', 'select u&x'],
    ["SELECT 'été', '日本'", 'select ?, ?'],
    // string continuation: only whitespace containing a newline (and -- comments) joins constants
    ["SELECT 'a'\n'b', 'c'  \n\t  'd', E'e'\r\n'\\f'", 'select ?, ?, ?'],
    ["SELECT 'a' -- c\n, 'b'", 'select ? , ?'],
    ["SELECT 'a' 'b'", 'select ? ?'],
    ["SELECT 'a' /* c */\n'b'", 'select ? ?'],
    ["SELECT B'10'\n'01'", 'select ?'],
    ['SELECT $$a$$\n$$b$$', 'select ? ?'],
    // dollar quotes
    ['SELECT $$a$$, $tag$ $$ $ta $tag$, $_x1$y$_x1$, $A$ $a$ $A$', 'select ?, ?, ?, ?'],
    ["DO $$BEGIN RAISE NOTICE 'x'; END$$", 'do ?'],
    // parameters
    ['SELECT $1, $23::int, -$2', 'select $1, $23::int, -$2'],
    // numbers
    [
      'SELECT 1, 1.5, .5, 5., 1e10, 1.5E-3, 2e+5, 1.e3, 0x1F, 0X1f, 0o17, 0b101, 1_000, 0x_FF, 1_000.000_1, 99999999999999999999',
      'select ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?',
    ],
    ['SELECT -1, - 2, +3, 1 - -2, a-1', 'select -?, - ?, +?, ? - -?, a-?'],
    ['SELECT ARRAY[1,2][1:2], x[3]', 'select array[?,?][?:?], x[?]'],
    // float(p) chooses float4/float8 from p, so that number is structural and stays
    ['CREATE TABLE t (a float(24), b FLOAT (53), c varchar(10), d float)', 'create table t (a float(24), b float (53), c varchar(?), d float)'],
    ['SELECT x::float(40), float(5)', 'select x::float(40), float(5)'],
    // positional ORDER BY / GROUP BY / DISTINCT ON references are column references, not values
    ['SELECT a, b FROM t ORDER BY 2, 1 DESC LIMIT 5', 'select a, b from t order by 2, 1 desc limit ?'],
    [
      'SELECT a, count(*) FROM t GROUP BY 1 HAVING count(*) > 1 ORDER BY a + 1',
      'select a, count(*) from t group by 1 having count(*) > ? order by a + ?',
    ],
    ['SELECT DISTINCT ON (1) a FROM t WHERE x IN (1, 2)', 'select distinct on (1) a from t where x in (?, ?)'],
    ["SELECT string_agg(x, ',' ORDER BY 1) FROM t WHERE y = 2", 'select string_agg(x, ? order by 1) from t where y = ?'],
    ['SELECT a FROM t ORDER BY 1; SELECT 2', 'select a from t order by 1; select ?'],
    ['SELECT a, b FROM t ORDER BY (SELECT 1 LIMIT 1), (2)', 'select a, b from t order by (select ? limit ?), (2)'],
    ['SELECT a FROM t GROUP BY ROLLUP (1, a) ORDER BY a LIMIT 3', 'select a from t group by rollup (1, a) order by a limit ?'],
    // comments are whitespace, nested like PostgreSQL; they also end operator runs
    ['SELECT /* a /* nested */ still comment */ 1 -- tail', 'select ?'],
    ['SELECT a/*x*/+/*y*/b', 'select a + b'],
    ['SELECT a+-/*c*/b, a*--c\nb', 'select a+- b, a* b'],
    ['SELECT a /**/ FROM t', 'select a from t'],
    // operators and punctuation
    [
      'select a::int, f(x => 2, y := 3), a <= b, a>=b, a <> b, a != b, a || b, a !~~* b, a # b, a ^ b % c',
      'select a::int, f(x => ?, y := ?), a <= b, a>=b, a <> b, a != b, a || b, a !~~* b, a # b, a ^ b % c',
    ],
    [
      "SELECT data->>'k', data#>'{a}', data @> '{}'::jsonb, p <-> q, a @@ to_tsquery('x'), a `+ b",
      'select data->>?, data#>?, data @> ?::jsonb, p <-> q, a @@ to_tsquery(?), a `+ b',
    ],
    ['SELECT * FROM t WHERE id = 42', 'select * from t where id = ?'],
    ['COPY t (a, b) FROM STDIN', 'copy t (a, b) from stdin'],
  ];
  it.each(cases)('%j', (input, expected) => {
    expect(fingerprint(input)).toBe(expected);
  });

  it('same shape with different literals gives the same key', () => {
    expect(fingerprint('SELECT * FROM t WHERE id = 42')).toBe(fingerprint('select * from T where ID = 7'));
    expect(fingerprint("SELECT * FROM t WHERE name = 'x'")).toBe(fingerprint('SELECT * FROM t WHERE name = $q$y$q$'));
  });

  it('different structure gives different keys', () => {
    expect(fingerprint('SELECT a - 1')).not.toBe(fingerprint('SELECT a -1'));
    expect(fingerprint("SELECT e'x'")).not.toBe(fingerprint("SELECT e 'x'"));
    expect(fingerprint("SELECT 'a'\n'b'")).not.toBe(fingerprint("SELECT 'a' 'b'"));
    expect(fingerprint("SELECT N'x'")).not.toBe(fingerprint("SELECT 'x'"));
    expect(fingerprint('CREATE TABLE t (a float(24))')).not.toBe(fingerprint('CREATE TABLE t (a float(25))'));
    expect(fingerprint('SELECT a, b FROM t ORDER BY 1')).not.toBe(fingerprint('SELECT a, b FROM t ORDER BY 2'));
  });
});

describe('fingerprint: null when unsure', () => {
  const nulls: Array<[string, string]> = [
    ['unterminated string', "SELECT 'abc"],
    ['unterminated string after doubled quote', "SELECT 'abc''"],
    ['unterminated E string (escaped quote)', "SELECT E'abc\\'"],
    ['unterminated quoted identifier', 'SELECT "abc'],
    ['unterminated comment', 'SELECT 1 /* a'],
    ['unterminated nested comment', 'SELECT 1 /* a /* b */'],
    ['unterminated dollar quote', 'SELECT $$abc'],
    ['dollar quote with other closing tag', 'SELECT $a$ x $b$'],
    ['unterminated bit string', "SELECT B'101"],
    ['string continuation across a -- comment (scan.l and libpg-query disagree)', "SELECT 'a'\n-- c\n'b'"],
    ['string continuation after a -- comment', "SELECT 'a' -- c\n'b'"],
    ['integer junk', 'SELECT 123abc'],
    ['exponent without digits', 'SELECT 1e'],
    ['exponent sign without digits', 'SELECT 1e+'],
    ['hex without digits', 'SELECT 0x'],
    ['hex junk', 'SELECT 0xZ'],
    ['bad binary digit', 'SELECT 0b2'],
    ['hex followed by letter', 'SELECT 0x1Fg'],
    ['numeric dot dot', 'SELECT 1..2'],
    ['two decimal points', 'SELECT 1.2.3'],
    ['trailing underscore', 'SELECT 1_'],
    ['double underscore', 'SELECT 1__0'],
    ['underscore after point', 'SELECT 1._5'],
    ['number then dollar', 'SELECT 1$'],
    ['parameter junk', 'SELECT $1a'],
    ['parameter underscore', 'SELECT $1_'],
    ['dot dot', 'SELECT a..b'],
    ['non-ASCII identifier', 'SELECT café FROM t'],
    ['non-ASCII operator', 'SELECT a — b'],
    ['non-ASCII dollar tag', 'SELECT $é$x$é$'],
    ['UESCAPE after U& string', "SELECT U&'x' UESCAPE '!'"],
    ['UESCAPE after U& identifier', "SELECT U&\"x\" uescape '!'"],
    ['backslash in a plain string', "SELECT 'a\\b'"],
    ['backslash in a continued plain string', "SELECT E'a'\n'\\n' || 'b'\n'\\'"],
    ['backslash in N string', "SELECT N'a\\b'"],
    ['backslash in bit string', "SELECT B'1\\'"],
    ['backslash outside strings', 'SELECT a \\ b'],
    ['psql meta command', '\\d t'],
    ['bare ? operator', 'SELECT a ? b'],
    ['?| operator', "SELECT data ?| array['a']"],
    ['?& operator', 'SELECT a ?& b'],
    ['bare ?', 'SELECT ?'],
    ['minus before string', "SELECT -'1'"],
    ['minus before dollar string', 'SELECT - $$1$$'],
    ['minus before bit string', "SELECT -B'1'"],
    ['binary minus before string (conservative)', "SELECT 1 - 'a'"],
    ['lone dollar', 'SELECT $'],
    ['dollar tag without close', 'SELECT $a'],
    ['vertical tab', 'SELECT a\vb'],
    ['control character', 'SELECT a\u0001b'],
    ['NUL outside string', 'SELECT\u0000 1'],
    ['NUL inside string', "SELECT 'a\u0000'"],
    ['braces', 'SELECT {1}'],
    ['too long', 'SELECT ' + 'x'.repeat(65536)],
    ['more than 30 nested parentheses', 'SELECT ' + '('.repeat(31) + '1' + ')'.repeat(31)],
  ];
  it.each(nulls)('%s', (_name, input) => {
    expect(fingerprint(input)).toBeNull();
  });

  it('accepts exactly 64 KiB', () => {
    const sql = 'SELECT ' + ' '.repeat(65536 - 'SELECT 1'.length) + '1';
    expect(sql.length).toBe(65536);
    expect(fingerprint(sql)).toBe('select ?');
  });
});

// ---------------------------------------------------------------------------------------------------
// Property check against libpg-query. Each template's slots are filled with different literal values
// *and different literal spellings* ({n} numbers, {i} small integers for Iconst-only grammar positions,
// {s} any string form, {q} quote-delimited strings that can be continued, {b} bit strings, {d} bodies).
// ---------------------------------------------------------------------------------------------------
const VALUES: Record<string, string[]> = {
  n: ['42', '3.14', '1e10', '0x1F', '7', '1_000', '.5', '5.', '0o17', '0b101', '1.5E-3', '99999999999', '0', '2e+5'],
  i: ['10', '20', '0x10', '1_0', '255'],
  s: [
    "'alice'",
    "E'tab\\there'",
    '$$dollar$$',
    "'it''s'",
    "U&'\\0041bc'",
    "'multi'\n  'line'",
    '$q$quoted $$ inside$q$',
    "''",
    "e'\\''",
    "'with -- dash /* not a comment */'",
    "'naïve ünïcode'",
  ],
  q: ["'plain'", "E'esc\\n'", "U&'\\0041'", "'two'\n'parts'", "''''"],
  b: ["B'1010'", "X'1F'", "b''", "x'ABCDEF'"],
  d: [
    '$$BEGIN PERFORM 1; END$$',
    "$body$ BEGIN DELETE FROM t WHERE x = 'a'; END $body$",
    "'BEGIN NULL; END'",
    "E'BEGIN RAISE NOTICE ''x''; END'",
  ],
};

interface Template {
  sql: string;
  /** Why libpg-query's normalize() inserts a different number of $n than we emit `?`, if it does. */
  normalizeDiffers?: string;
}

const NO_NORMALIZE = 'libpg-query does not normalize constants in this utility statement';
const TYPMODS = 'normalize() leaves type modifiers such as (10,2) alone; we replace them';
const TEMPLATES: Template[] = [
  { sql: 'SELECT * FROM users WHERE id = {n}' },
  { sql: 'select id, name from public.users where email = {s} and active' },
  {
    sql: 'SELECT u.id, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE o.total > {n} AND u.country = {s} ORDER BY o.total DESC LIMIT {n} OFFSET {n}',
  },
  { sql: 'SELECT status, count(*) FROM orders GROUP BY status HAVING count(*) > {n}' },
  { sql: 'SELECT * FROM t WHERE a IN ({n}, {n}, {n}) OR b BETWEEN {n} AND {n}' },
  { sql: 'SELECT * FROM t WHERE name LIKE {s} ESCAPE {s}' },
  {
    sql: 'SELECT {s}::date, {n}::numeric(10,2), CAST({s} AS timestamptz)',
    normalizeDiffers: TYPMODS,
  },
  { sql: 'SELECT ARRAY[{n}, {n}], {s}::int[] @> ARRAY[{n}]' },
  { sql: 'SELECT data->>{s}, data #> {s}, data @> {s}::jsonb FROM docs WHERE data->{s} IS NOT NULL' },
  { sql: 'SELECT x FROM t WHERE a = -{n} AND b = - {n} AND c = +{n} AND d = 1 - -{n}' },
  { sql: 'SELECT {s} || name || {s} FROM t' },
  { sql: 'SELECT * FROM t WHERE ts > now() - interval {s}' },
  { sql: 'SELECT date {s}, timestamp with time zone {s}, interval {s} hour to minute' },
  { sql: 'SELECT CASE WHEN a > {n} THEN {s} ELSE {s} END FROM t' },
  { sql: 'SELECT coalesce(a, {n}), nullif(b, {s}), greatest({n}, c) FROM t' },
  { sql: 'SELECT substring(name from {n} for {n}), position({s} in name), trim(both {s} from name) FROM t' },
  {
    sql: 'SELECT extract(year from created_at), date_trunc({s}, created_at) FROM t',
    normalizeDiffers: 'extract(year FROM ...) turns the field keyword into a string A_Const',
  },
  { sql: 'WITH recent AS (SELECT * FROM orders WHERE created_at > {s}) SELECT * FROM recent WHERE total >= {n}' },
  { sql: 'SELECT * FROM (SELECT id FROM a WHERE x = {n}) s WHERE EXISTS (SELECT 1 FROM b WHERE b.id = s.id AND b.y <> {s})' },
  { sql: 'SELECT id, row_number() OVER (PARTITION BY g ORDER BY v ROWS BETWEEN {n} PRECEDING AND CURRENT ROW) FROM t' },
  { sql: 'SELECT * FROM t1 UNION ALL SELECT * FROM t2 WHERE k = {n}' },
  { sql: 'SELECT * FROM t WHERE a IS DISTINCT FROM {n} AND b IS NOT NULL AND c = ANY({s}::int[])' },
  { sql: 'SELECT * FROM t LIMIT {n} FOR UPDATE SKIP LOCKED' },
  { sql: 'SELECT * FROM t TABLESAMPLE bernoulli ({n}) REPEATABLE ({n})' },
  { sql: 'SELECT * FROM t ORDER BY a FETCH FIRST {n} ROWS ONLY' },
  {
    sql: 'INSERT INTO users (id, name, email) VALUES ({n}, {s}, {s}), ({n}, {s}, NULL)',
    normalizeDiffers: 'normalize() also replaces the NULL keyword; we keep it (NULL is not a literal value)',
  },
  { sql: 'INSERT INTO t (a) VALUES ({n}) ON CONFLICT (a) DO UPDATE SET b = excluded.b + {n} RETURNING id' },
  { sql: 'INSERT INTO t SELECT * FROM s WHERE x = {s}' },
  { sql: 'UPDATE accounts SET balance = balance - {n}, note = {s} WHERE id = $1' },
  { sql: 'UPDATE t SET (a, b) = ({n}, {s}) FROM u WHERE t.id = u.id AND u.flag = {b}' },
  { sql: 'DELETE FROM sessions WHERE expires_at < now() - interval {s} RETURNING *' },
  { sql: 'DELETE FROM t USING u WHERE t.id = u.id AND u.n = {n}' },
  {
    sql: 'MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = {n} WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, {s})',
  },
  {
    sql: 'CREATE TABLE t (id bigint PRIMARY KEY, name text DEFAULT {s}, price numeric(10,2) CHECK (price > {n}))',
    normalizeDiffers: NO_NORMALIZE,
  },
  { sql: 'CREATE TABLE t2 (c varchar({i}), d float(24), e bit({i}), f timestamp({i}))', normalizeDiffers: NO_NORMALIZE },
  { sql: 'ALTER TABLE t ADD COLUMN c integer DEFAULT {n} NOT NULL', normalizeDiffers: NO_NORMALIZE },
  { sql: 'ALTER TABLE t ALTER COLUMN c SET DEFAULT {s}', normalizeDiffers: NO_NORMALIZE },
  { sql: 'CREATE INDEX idx ON t (lower(email)) WHERE deleted_at IS NULL AND status = {s}', normalizeDiffers: NO_NORMALIZE },
  { sql: 'CREATE VIEW v AS SELECT * FROM t WHERE kind = {s}', normalizeDiffers: NO_NORMALIZE },
  { sql: 'DROP TABLE IF EXISTS t CASCADE' },
  { sql: 'COPY t FROM {s} WITH (FORMAT csv, DELIMITER {s})', normalizeDiffers: NO_NORMALIZE },
  { sql: 'COPY (SELECT * FROM t WHERE a > {n}) TO STDOUT WITH (FORMAT csv, HEADER true)' },
  { sql: 'COPY t (a, b) FROM STDIN' },
  { sql: 'DO {d}' },
  { sql: 'DO LANGUAGE plpgsql {d}' },
  { sql: 'CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql AS {d}' },
  { sql: 'CREATE OR REPLACE FUNCTION g() RETURNS trigger AS {d} LANGUAGE plpgsql' },
  {
    sql: 'SET search_path = {s}, public',
    normalizeDiffers: 'a bare word in a SET value list is an A_Const to PostgreSQL (public), an identifier to us',
  },
  { sql: 'SET statement_timeout = {n}' },
  { sql: 'SET LOCAL lock_timeout TO {s}' },
  { sql: 'BEGIN ISOLATION LEVEL SERIALIZABLE' },
  { sql: 'SELECT pg_sleep({n}); SELECT {s}' },
  { sql: '/* leading comment */ SELECT a -- trailing\n FROM t WHERE b = {n} /* nested /* comment */ here */' },
  { sql: 'SELECT "Weird ""Col""", "select" FROM "My Table" WHERE "x" = {s}' },
  { sql: 'SELECT a::text::varchar({i}), b::"MyType", c::int[] FROM t', normalizeDiffers: TYPMODS },
  { sql: 'SELECT * FROM t WHERE a ~* {s} AND b !~ {s} AND c ILIKE {s}' },
  { sql: 'SELECT a <-> point({n}, {n}), b && box({s}) FROM geo' },
  { sql: 'SELECT $1::int + {n}, $2 || {s}' },
  { sql: 'PREPARE p(int) AS SELECT * FROM t WHERE id = $1 AND x = {n}', normalizeDiffers: NO_NORMALIZE },
  { sql: 'EXECUTE p({n})', normalizeDiffers: NO_NORMALIZE },
  { sql: 'EXPLAIN (ANALYZE, FORMAT json) SELECT * FROM t WHERE id = {n}' },
  { sql: 'SELECT jsonb_build_object({s}, {n}, {s}, {b})' },
  { sql: 'SELECT x FROM t WHERE (a, b) > ({n}, {s}) AND c NOT IN (SELECT d FROM u WHERE e = {n})' },
  { sql: 'VALUES ({n}, {s}), ({n}, {s})' },
  { sql: 'SELECT * FROM generate_series({n}, {n}) g(i) CROSS JOIN LATERAL (SELECT i * {n}) l(x)' },
  { sql: 'GRANT SELECT ON t TO reader' },
  { sql: 'CREATE ROLE r LOGIN PASSWORD {s} CONNECTION LIMIT {i}', normalizeDiffers: 'CONNECTION LIMIT takes a raw Iconst, not an A_Const' },
  { sql: 'COMMENT ON TABLE t IS {s}', normalizeDiffers: NO_NORMALIZE },
  { sql: "SELECT {q}\n  'cont' AS c, {q} -- not continued\n, {q}" },
  { sql: 'SELECT x FROM t WHERE a = {n} AND b = {b}' },
  { sql: "SELECT N'nat', n'x' || {s}" },
  { sql: 'SELECT 1 FROM t WHERE a = ANY (ARRAY[{n}, -{n}]) AND b NOT BETWEEN SYMMETRIC {n} AND {n}' },
  { sql: 'NOTIFY ch, {s}' },
  { sql: 'VACUUM (ANALYZE) t' },
  { sql: 'SELECT x FROM t WHERE d AT TIME ZONE {s} > {s}' },
  { sql: 'SELECT current_timestamp(3), localtime, float8 {s}', normalizeDiffers: 'current_timestamp(3) takes a raw Iconst' },
  { sql: 'TRUNCATE t RESTART IDENTITY' },
  { sql: 'SELECT t.* FROM t WHERE t.a[{n}] = {n} AND t.b[{n}:{n}] = {s}' },
  { sql: 'SELECT (data ->> {s})::int FROM t WHERE data #>> {s} = {s}' },
  { sql: "SELECT E'\\\\', U&'\\0041', $tag$ it's $ not $$ end $tag$, {n}" },
  {
    sql: 'SELECT x FROM t WHERE a IS TRUE AND b = FALSE AND c = {n}::bigint AND d = {s}',
    normalizeDiffers: 'normalize() also replaces the keyword FALSE (a boolean A_Const); we keep keywords',
  },
  { sql: 'SELECT a, b FROM t ORDER BY 1, 2 DESC NULLS LAST' },
  { sql: 'SELECT a, sum(b) FROM t WHERE c > {n} GROUP BY 1 ORDER BY 2 DESC LIMIT {n}' },
  { sql: 'SELECT a, b FROM t WHERE a > {n} ORDER BY (SELECT max(x) FROM u WHERE y = {n}), 2 LIMIT {n}' },
  {
    sql: 'SELECT DISTINCT ON (1) a, b FROM t WHERE c = {s} ORDER BY 1, b',
    normalizeDiffers: 'PostgreSQL resolves DISTINCT ON (1) by position like ORDER BY 1; normalize() replaces it anyway',
  },
];

function instantiate(sql: string, variant: number): string {
  let k = 0;
  return sql.replace(/\{([nisqbd])\}/g, (_m, kind: string) => {
    const list = VALUES[kind]!;
    // Different slots and different variants pick different spellings.
    return list[(k++ * 5 + variant * 3) % list.length]!;
  });
}

// Statements whose literal values are not PostgreSQL A_Consts but raw fields of a utility node.
const LITERAL_FIELDS: Record<string, string[]> = {
  CopyStmt: ['filename'],
  CommentStmt: ['comment'],
  NotifyStmt: ['payload'],
  FetchStmt: ['howMany'],
  SQLValueFunction: ['typmod'],
};
const LOCATION_KEYS = new Set([
  'location',
  'stmt_location',
  'stmt_len',
  'name_location',
  'list_start',
  'list_end',
  'rexpr_list_start',
  'rexpr_list_end',
]);
const SCALAR_NODES = new Set(['String', 'Integer', 'Float', 'Boolean']);

function isScalarNode(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && SCALAR_NODES.has(keys[0]!);
}

/**
 * Removes constant values and source positions from a libpg-query parse tree. The value AND its type
 * go (a `?` stands for any literal spelling: 1, 1.5 and 'x' are one shape); NULL/TRUE/FALSE are
 * keywords, not literals, and stay. DefElem option values (DO / function bodies, COPY options,
 * passwords) are literals too: their identifier spellings differ in the fingerprint anyway.
 */
function strip(node: unknown, owner?: string): unknown {
  if (Array.isArray(node)) return node.map((x) => strip(x));
  if (typeof node !== 'object' || node === null) return node;
  const obj = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (LOCATION_KEYS.has(key)) continue;
    if (key === 'A_Const') {
      const c = value as Record<string, unknown>;
      out[key] = c['isnull'] ? { isnull: true } : {};
      continue;
    }
    if (owner !== undefined && LITERAL_FIELDS[owner]?.includes(key)) {
      out[key] = '<const>';
      continue;
    }
    if (owner === 'DefElem' && key === 'arg') {
      if (isScalarNode(value)) {
        out[key] = '<const>';
        continue;
      }
      const list = (value as { List?: { items?: unknown[] } }).List;
      if (list?.items?.every(isScalarNode)) {
        out[key] = { List: { items: list.items.map(() => '<const>') } };
        continue;
      }
    }
    // Node wrappers look like { TypeName: {...} }: pass the node type down for field lookups.
    out[key] = strip(value, /^[A-Z]/.test(key) ? key : undefined);
  }
  return out;
}

function strippedTree(sql: string): string {
  try {
    return JSON.stringify(strip(parseSync(sql)));
  } catch (e) {
    return 'PARSE ERROR';
  }
}

// Near misses: texts that look alike but differ in structure, or spell the same structure differently.
// They join the corpus in the collision check so that any accidental key sharing is caught.
const NEAR_MISSES = [
  'SELECT a-1',
  'SELECT a -1',
  'SELECT a - 1',
  'SELECT a- 1',
  'SELECT a<-1',
  'SELECT a <- 1',
  'SELECT a @- 1',
  'SELECT a+-1',
  'SELECT a +/* c */- 1',
  'SELECT a + - 1',
  "SELECT 'a'\n'b'",
  "SELECT 'a' 'b'",
  "SELECT 'a' /* c */\n'b'",
  "SELECT e'x'",
  "SELECT e 'x'",
  "SELECT b'1'",
  "SELECT b '1'",
  "SELECT N'x'",
  "SELECT nchar 'x'",
  "SELECT u&'x'",
  "SELECT u & 'x'",
  'SELECT $$a$$',
  'SELECT $a$b$a$',
  'SELECT a$$b$$',
  'SELECT 1 AS x',
  "SELECT '1' AS x",
  'SELECT x.y',
  'SELECT x. y',
  'SELECT 1.5',
  'SELECT 1 .5',
  'SELECT -1',
  "SELECT - '1'::int",
  'SELECT a::float(10)',
  'SELECT a::float(40)',
  'SELECT a::float (10)',
  'SELECT * FROM t WHERE a = 1 OR b = 2',
  'SELECT * FROM t WHERE a = 1 -- OR b = 2',
  'SELECT * FROM t WHERE a = 1 /* OR b = 2 */',
  "SELECT * FROM t WHERE a = 'x'\n-- OR b = 2\n'y'",
  'SELECT "a" FROM t',
  'SELECT "A" FROM t',
  'SELECT A FROM t',
  'SELECT 1;SELECT 2',
  'SELECT 1, SELECT 2',
  'SELECT 0x10',
  'SELECT 0 x10',
  'SELECT 1e5',
  'SELECT 1 e5',
  'SELECT $1',
  'SELECT $ 1',
  'SELECT a*-1',
  'SELECT a *- 1',
  'SELECT a|| -1',
  'SELECT a ||- 1',
];

describe('fingerprint vs libpg-query', () => {
  const variants = TEMPLATES.map((t) => [0, 1, 2, 3].map((v) => instantiate(t.sql, v)));

  it('has a corpus of at least 60 statements', () => {
    expect(TEMPLATES.length).toBeGreaterThanOrEqual(60);
  });

  it.each(TEMPLATES.map((t, idx) => [t.sql, idx] as const))('%j: variants share one key and one tree', (_sql, idx) => {
    const vs = variants[idx]!;
    const keys = vs.map((v) => fingerprint(v));
    for (const v of vs) expect(strippedTree(v), v).not.toBe('PARSE ERROR');
    expect(keys[0], vs[0]).not.toBeNull();
    for (let k = 1; k < vs.length; k++) {
      expect(keys[k], vs[k]).toBe(keys[0]);
      expect(strippedTree(vs[k]!), `${vs[0]}\n---\n${vs[k]}`).toBe(strippedTree(vs[0]!));
    }
  });

  it('equal keys imply equal trees across the whole corpus and the near misses', () => {
    const all = [...variants.flat(), ...NEAR_MISSES];
    const groups = new Map<string, string[]>();
    for (const sql of all) {
      const key = fingerprint(sql);
      if (key === null) continue;
      const g = groups.get(key);
      if (g) g.push(sql);
      else groups.set(key, [sql]);
    }
    let compared = 0;
    for (const [key, members] of groups) {
      const first = strippedTree(members[0]!);
      for (const m of members.slice(1)) {
        expect(strippedTree(m), `key ${JSON.stringify(key)}:\n${members[0]}\n---\n${m}`).toBe(first);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(200);
  });

  it('counts as many literals as normalize() inserts placeholders (documented exceptions aside)', () => {
    const PARAM = /\$\d+/g;
    const mismatches: string[] = [];
    for (const [idx, t] of TEMPLATES.entries()) {
      for (const sql of variants[idx]!) {
        const key = fingerprint(sql)!;
        const ours = key.split('?').length - 1;
        // normalize() keeps existing $n and numbers its own placeholders after them.
        const theirs = (normalizeSync(sql).match(PARAM)?.length ?? 0) - (key.match(PARAM)?.length ?? 0);
        if ((theirs !== ours) !== Boolean(t.normalizeDiffers)) mismatches.push(`${ours} vs ${theirs}: ${sql}`);
      }
    }
    // Both directions: undocumented differences fail, and so do documented ones that went away.
    expect(mismatches).toEqual([]);
  });

  it('documents the residual risk: a literal value can still turn a statement into a syntax error', () => {
    // Iconst-only grammar positions reject an integer that overflows int32 (it lexes as FCONST).
    // Same key, one side fails to parse: harmless for caching because PostgreSQL rejects it too.
    const ok = 'CREATE TABLE t (c varchar(10))';
    const bad = 'CREATE TABLE t (c varchar(99999999999))';
    expect(fingerprint(ok)).toBe(fingerprint(bad));
    expect(strippedTree(ok)).not.toBe('PARSE ERROR');
    expect(strippedTree(bad)).toBe('PARSE ERROR');
  });
});
