// Snowflake's JSON result format as drivers parse it: the rowtype of each column, values as the wire's text
// (booleans "1"/"0", dates as days since the epoch, timestamps as "seconds.nanoseconds"), the session
// parameters that make every driver ask for JSON, bind values, statement types, and result chunks.
// The upstream connector gives values in snowflake-sdk's string forms (TRUE, 2024-01-31, 2024-01-31 10:00:00.000):
// masks apply to those forms (the `year` method reads a date as text), then encodeValue turns them into wire text.
import { Dialect, tokenize } from '@polyglot-sql/sdk';
import type { MaskFn } from '../../engine/masking/methods.ts';
import { maskJson } from '../../engine/masking/types.ts';
import type { SnowflakeBind, SnowflakeColumn } from '../upstream/snowflake/connection.ts';
import { encodeChunk, fractionalSeconds, rowTypeFor, sessionParameterList, StatementType, type EncodedChunk, type RowType } from './protocol.ts';

export { StatementType, type RowType } from './protocol.ts';

/**
 * The rowtype entry of an upstream column.
 *
 * @example
 * rowTypeOf({ name: 'ID', type: 'fixed', precision: 38, scale: 0, nullable: true }).precision // 38
 */
export function rowTypeOf(c: SnowflakeColumn): RowType {
  return rowTypeFor(c);
}

/** What a masked value becomes when it is no longer a value of its column's type (a redacted date): still valid. */
const FIXED_FORM: Readonly<Record<string, string>> = {
  fixed: '0',
  real: '0',
  boolean: '0',
  date: '0',
  time: '0.000000000',
  timestamp_ntz: '0.000000000',
  timestamp_ltz: '0.000000000',
  timestamp_tz: '0.000000000 1440',
  binary: '',
};

const DATE = /^(-?\d{4,})-(\d{2})-(\d{2})$/;
const TIMESTAMP = /^(-?\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(?:Z|([+-])(\d{2}):?(\d{2}))?$/;
const TIME = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;
const NUMBER = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * A value in snowflake-sdk's string form → the JSON rowset's text for a column of `type`; null when it is not a
 * value of that type (then the door sends the type's fixed form: masked values must stay parseable).
 *
 * @example
 * encodeValue('date', '1970-01-02') // '1'
 * encodeValue('boolean', 'TRUE')    // '1'
 */
export function encodeValue(type: string, v: string): string | null {
  switch (type) {
    case 'boolean':
      return /^(true|1)$/i.test(v) ? '1' : /^(false|0)$/i.test(v) ? '0' : null;
    case 'fixed':
    case 'real':
      return NUMBER.test(v) || /^(-?Infinity|NaN)$/.test(v) ? v : null;
    case 'date': {
      const m = DATE.exec(v);
      return m ? String(Math.round(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 86_400_000)) : null;
    }
    case 'time': {
      const m = TIME.exec(v);
      return m ? `${Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])}.${(m[4] ?? '').padEnd(9, '0')}` : null;
    }
    case 'timestamp_ntz':
    case 'timestamp_ltz':
    case 'timestamp_tz': {
      const m = TIMESTAMP.exec(v);
      if (!m) return null;
      const offsetMin = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) : 0;
      const local = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) / 1000;
      // NTZ is wall-clock time; LTZ/TZ are instants (the offset names the zone it was printed in).
      const seconds = type === 'timestamp_ntz' ? local : local - offsetMin * 60;
      const frac = (m[7] ?? '').padEnd(9, '0');
      if (!Number.isFinite(seconds)) return null; // beyond Date's range
      const text = fractionalSeconds(BigInt(seconds) * 1_000_000_000n + BigInt(frac));
      return type === 'timestamp_tz' ? `${text} ${1440 + offsetMin}` : text;
    }
    default:
      return v;
  }
}

const JSON_TYPES = new Set(['variant', 'object', 'array', 'map']);
const DATE_LIKE = new Set(['date', 'timestamp_ntz', 'timestamp_ltz', 'timestamp_tz']);
const TEXT_TYPES = new Set(['text']);

/**
 * The masked form of one non-NULL upstream value of a column of `type`, in snowflake-sdk's string form (null =
 * SQL NULL), valid for that type so drivers keep parsing rows (engine/masking/types.ts does the same for
 * PostgreSQL's types): `null` gives NULL; text takes the method's own text; VARIANT / OBJECT / ARRAY keep their
 * JSON structure with every string masked, numbers 0 and booleans false (valid JSON, 'null' when the value was
 * not JSON); `year` keeps a date's or timestamp's year; numbers, booleans, dates, times and binary become their
 * type's fixed form (0, false, 1970-01-01, empty binary); any other type (GEOGRAPHY, VECTOR, one newer than this
 * code) NULL: no form is known to parse there, and a driver that cannot parse a row never completes the statement.
 *
 * @example
 * maskedValue(redact, 'variant', '{"s":"123-45-6789"}') // '{"[REDACTED]":"[REDACTED]"}'
 * maskedValue(redact, 'fixed', '123456789')              // '0'
 */
export function maskedValue(mask: MaskFn, type: string, value: string): string | null {
  if (mask.method === 'null' || (mask.method === undefined && mask('') === null)) return null;
  if (TEXT_TYPES.has(type)) return mask(value);
  if (JSON_TYPES.has(type)) return maskJson(mask, value);
  if (mask.method === 'year' && DATE_LIKE.has(type)) {
    const y = mask(value);
    if (y !== null && encodeValue(type, y) !== null) return y;
  }
  return FIXED_TEXT[type] ?? null;
}

/** FIXED_FORM in snowflake-sdk's string form, for maskedValue (encodeValue turns it into FIXED_FORM). */
const FIXED_TEXT: Readonly<Record<string, string>> = {
  fixed: '0',
  real: '0',
  decfloat: '0',
  boolean: 'FALSE',
  date: '1970-01-01',
  time: '00:00:00',
  timestamp_ntz: '1970-01-01 00:00:00',
  timestamp_ltz: '1970-01-01 00:00:00 +0000',
  timestamp_tz: '1970-01-01 00:00:00 +0000',
  binary: '',
};

/** The wire text of a (possibly masked) value: its encoding, or its type's fixed form when it does not parse. */
export function wireValue(type: string, v: string | null): string | null {
  if (v === null) return null;
  const e = encodeValue(type, v);
  if (e !== null) return e;
  if (JSON_TYPES.has(type)) return 'null';
  return FIXED_FORM[type] ?? v;
}

/** Snowflake's statementTypeId per analysis kind; drivers read DML counts from results of DML types. */
export function statementTypeOf(kind: string | undefined): number {
  return (kind !== undefined ? STATEMENT_TYPE_BY_KIND[kind] : undefined) ?? StatementType.SELECT;
}

/** Snowflake's statementTypeId by statement kind (the analysis' kinds; the local Snowflake's AST kinds agree). */
export const STATEMENT_TYPE_BY_KIND: Readonly<Record<string, number>> = {
  insert: StatementType.INSERT,
  update: StatementType.UPDATE,
  delete: StatementType.DELETE,
  merge: StatementType.MERGE,
  copy: StatementType.COPY,
  ddl: StatementType.DDL,
  dcl: StatementType.DDL,
  tcl: StatementType.TRANSACTION,
  select: StatementType.SELECT,
};

/**
 * Session parameters sent at login and with every result. The *_QUERY_RESULT_FORMAT ones make every driver ask
 * for JSON (the door encodes JSON only); a high CLIENT_STAGE_ARRAY_BINDING_THRESHOLD keeps array binds inline
 * (binds uploaded to a stage would reach Snowflake past Verdict).
 */
export function sessionParameters(timezone = 'UTC'): Array<{ name: string; value: unknown }> {
  return sessionParameterList(timezone, { CLIENT_TELEMETRY_ENABLED: false, CLIENT_STAGE_ARRAY_BINDING_THRESHOLD: 2_000_000_000 });
}

/** One bind as drivers send it in `bindings`. */
export interface WireBind {
  type?: string;
  value?: unknown;
}

/** Tokens after which `:x` is a VARIANT path (`v:x`, `f(v):x`, `a[0]:x`), not a bind variable. */
export const EXPRESSION_END: ReadonlySet<string> = new Set(['VAR', 'QUOTED_IDENTIFIER', 'R_PAREN', 'R_BRACKET', 'STRING', 'NUMBER', 'STAR']);

/** A token as @polyglot-sql/sdk's tokenize() returns it. */
export interface Token {
  token_type: string;
  text: string;
  /** Offsets in code points. */
  span: { start: number; end: number };
}

/**
 * A query-request's bindings as the upstream takes them (positional; values as text; dates and timestamps as ISO
 * text; arrays for array binds) and as text for approvals and evidence, with the SQL text to decide and run.
 * Positional bindings ("1"…"n": `?`, `:1`) leave the text as it is. Named bindings (keys are names, the text says
 * `:name`, as gosnowflake's sql.Named sends them) become positional: each `:name` is rewritten to `:k` (k numbering
 * names by first use, a name used twice is one bind), so what Verdict decides is exactly what runs. A name the
 * text uses but the bindings lack, names mixed with numbers, or markers in a text that cannot be read throw.
 *
 * @example
 * bindsOf({ '1': { type: 'FIXED', value: '2' } }, 'SELECT ?')         // { sql: 'SELECT ?', binds: ['2'], text: ['2'] }
 * bindsOf({ id: { type: 'FIXED', value: '2' } }, 'SELECT :id, v:id') // { sql: 'SELECT :1, v:id', binds: ['2'], … }
 */
export function bindsOf(bindings: Record<string, WireBind> | null | undefined, sql = ''): { sql: string; binds: SnowflakeBind[]; text: (string | null)[] } {
  const keys = bindings ? Object.keys(bindings) : [];
  if (!bindings || keys.length === 0) return { sql, binds: [], text: [] };
  const numbered = keys.filter((k) => /^\d+$/.test(k));
  let order: WireBind[];
  if (numbered.length === keys.length) {
    order = [];
    for (let i = 1; i <= keys.length; i++) {
      const b = bindings[String(i)];
      if (!b) throw new Error(`positional bindings must be numbered 1…${keys.length}`);
      order.push(b);
    }
  } else {
    if (numbered.length > 0) throw new Error('bindings mix names and positions; use one or the other');
    const named = namedToPositional(sql, bindings);
    sql = named.sql;
    order = named.order;
  }
  const binds = order.map((b) => (Array.isArray(b.value) ? b.value.map((x) => bindValue(b.type, x)) : bindValue(b.type, b.value)));
  return { sql, binds, text: binds.map((b) => (b === null ? null : Array.isArray(b) ? JSON.stringify(b) : String(b))) };
}

function namedToPositional(sql: string, bindings: Record<string, WireBind>): { sql: string; order: WireBind[] } {
  const r = tokenize(sql, Dialect.Snowflake) as { success: boolean; tokens?: Token[]; error?: string | null };
  if (!r.success || !r.tokens) throw new Error(`the bind variables of this statement cannot be read (${r.error ?? 'it does not tokenize'})`);
  // Token spans count code points; the text is sliced in UTF-16 units.
  const unit: number[] = [0];
  for (const ch of sql) unit.push(unit[unit.length - 1]! + ch.length);
  const at = (cp: number) => unit[cp] ?? sql.length;
  const byName = new Map(Object.keys(bindings).map((k) => [k.toUpperCase(), k]));
  const index = new Map<string, number>();
  const order: WireBind[] = [];
  let out = '';
  let from = 0;
  const toks = r.tokens;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.token_type === 'PARAMETER') throw new Error('bindings are named, but the statement has positional markers (?); use one or the other');
    if (t.token_type !== 'COLON') continue;
    const next = toks[i + 1];
    const prev = toks[i - 1];
    if (!next || next.span.start !== t.span.end || (prev && EXPRESSION_END.has(prev.token_type))) continue;
    if (next.token_type === 'NUMBER') throw new Error('bindings are named, but the statement has positional markers (:n); use one or the other');
    if (next.token_type !== 'VAR') continue;
    const key = bindings[next.text] !== undefined ? next.text : byName.get(next.text.toUpperCase());
    if (key === undefined) throw new Error(`Bind variable :${next.text} not set.`);
    let k = index.get(key);
    if (k === undefined) {
      k = order.push(bindings[key]!);
      index.set(key, k);
    }
    out += sql.slice(from, at(t.span.start)) + `:${k}`;
    from = at(next.span.end);
    i++;
  }
  return { sql: out + sql.slice(from), order };
}

/** Drivers send dates as epoch milliseconds and timestamps as epoch nanoseconds: the upstream gets ISO text. */
function bindValue(type: string | undefined, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = String(v);
  if (!/^-?\d+$/.test(s)) return s;
  switch (type) {
    case 'DATE':
      return new Date(Number(s)).toISOString().slice(0, 10);
    case 'TIMESTAMP_NTZ':
    case 'TIMESTAMP_LTZ':
    case 'TIMESTAMP_TZ': {
      const nanos = BigInt(s);
      const ms = Number(nanos / 1_000_000n);
      const frac = (((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0');
      return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}.${frac}`;
    }
    default:
      return s;
  }
}

/** One downloadable piece of a large result: the rows' JSON arrays joined by commas (no brackets), gzipped. */
export type Chunk = EncodedChunk;

/** Splits rows into the inline rowset (the first `per`) and chunks of `per` rows. */
export function splitRows(rows: (string | null)[][], per: number): { inline: (string | null)[][]; chunks: Chunk[] } {
  if (rows.length <= per) return { inline: rows, chunks: [] };
  const chunks: Chunk[] = [];
  for (let start = per; start < rows.length; start += per) chunks.push(encodeChunk(rows.slice(start, start + per)));
  return { inline: rows.slice(0, per), chunks };
}
