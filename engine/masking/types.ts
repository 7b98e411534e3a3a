// Masked forms that stay valid values of the column's type, in PostgreSQL's text and binary result formats,
// so clients that parse JSON, arrays, numbers, UUIDs or dates keep working on masked rows. Pure: bytes in, bytes out.
import type { MaskFn } from './methods.ts';

/** Core type OIDs (pg_type.oid, fixed across PostgreSQL versions) this module knows. */
export const Oid = {
  bool: 16, bytea: 17, char: 18, name: 19, int8: 20, int2: 21, int2vector: 22, int4: 23, regproc: 24, text: 25,
  oid: 26, tid: 27, xid: 28, cid: 29, oidvector: 30, json: 114, xml: 142, pgNodeTree: 194, point: 600, lseg: 601,
  path: 602, box: 603, polygon: 604, line: 628, cidr: 650, float4: 700, float8: 701, unknown: 705, circle: 718,
  macaddr8: 774, money: 790, macaddr: 829, inet: 869, bpchar: 1042, varchar: 1043, date: 1082, time: 1083,
  timestamp: 1114, timestamptz: 1184, interval: 1186, timetz: 1266, bit: 1560, varbit: 1562, numeric: 1700,
  refcursor: 1790, regprocedure: 2202, regoper: 2203, regoperator: 2204, regclass: 2205, regtype: 2206,
  record: 2249, cstring: 2275, void: 2278, uuid: 2950, txidSnapshot: 2970, pgLsn: 3220, tsvector: 3614,
  tsquery: 3615, regconfig: 3734, regdictionary: 3769, jsonb: 3802, int4range: 3904, numrange: 3906,
  tsrange: 3908, tstzrange: 3910, daterange: 3912, int8range: 3926, jsonpath: 4072, regnamespace: 4089,
  regrole: 4096, regcollation: 4191, int4multirange: 4451, nummultirange: 4532, tsmultirange: 4533,
  tstzmultirange: 4534, datemultirange: 4535, int8multirange: 4536, xid8: 5069, pgSnapshot: 5038,
} as const;

/** Masks one non-NULL value (src[s, e)) into its masked form; null is SQL NULL. */
export type TypedForm = (src: Buffer, s: number, e: number) => Uint8Array | null;

/** Types whose values are text in both formats (binary = the text's bytes): the method's own text form applies. */
const TEXTUAL = new Set<number>([Oid.text, Oid.varchar, Oid.bpchar, Oid.name, Oid.unknown, Oid.cstring, Oid.refcursor, Oid.pgNodeTree]);

const zeros = (n: number) => Buffer.alloc(n);
const bytes = (...b: number[]) => Buffer.from(b);
const int32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
};
const int64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
};
const float8s = (...v: number[]) => {
  const b = Buffer.alloc(8 * v.length);
  v.forEach((x, i) => b.writeDoubleBE(x, 8 * i));
  return b;
};

/** Days from 2000-01-01 (PostgreSQL's epoch) to 1970-01-01, and microseconds likewise. */
const PG_EPOCH_DAYS = 10957;
const PG_EPOCH_MS = 946684800000;

/**
 * The fixed masked form per type: what every method except `null` (NULL), `year` on dates and timestamps
 * (the year kept) and the value-shaped types below gives. README "Masking" prints this table.
 */
export const FIXED_FORMS: ReadonlyMap<number, { text: string; binary: Buffer }> = new Map<number, { text: string; binary: Buffer }>([
  [Oid.bool, { text: 'f', binary: bytes(0) }],
  [Oid.bytea, { text: '\\x', binary: zeros(0) }],
  [Oid.char, { text: '*', binary: Buffer.from('*') }],
  [Oid.int2, { text: '0', binary: zeros(2) }],
  [Oid.int4, { text: '0', binary: zeros(4) }],
  [Oid.int8, { text: '0', binary: zeros(8) }],
  [Oid.float4, { text: '0', binary: zeros(4) }],
  [Oid.float8, { text: '0', binary: zeros(8) }],
  [Oid.numeric, { text: '0', binary: zeros(8) }], // ndigits 0, weight 0, sign +, dscale 0
  [Oid.money, { text: '$0.00', binary: zeros(8) }],
  [Oid.oid, { text: '0', binary: zeros(4) }],
  [Oid.xid, { text: '0', binary: zeros(4) }],
  [Oid.cid, { text: '0', binary: zeros(4) }],
  [Oid.xid8, { text: '0', binary: zeros(8) }],
  [Oid.tid, { text: '(0,0)', binary: zeros(6) }],
  // OID 0, printed as PostgreSQL prints it: '-' (regoper and regoperator print '0')
  ...[Oid.regproc, Oid.regprocedure, Oid.regclass, Oid.regtype, Oid.regconfig, Oid.regdictionary, Oid.regnamespace, Oid.regrole, Oid.regcollation].map(
    (t) => [t, { text: '-', binary: zeros(4) }] as [number, { text: string; binary: Buffer }],
  ),
  [Oid.regoper, { text: '0', binary: zeros(4) }],
  [Oid.regoperator, { text: '0', binary: zeros(4) }],
  [Oid.uuid, { text: '00000000-0000-0000-0000-000000000000', binary: zeros(16) }],
  [Oid.date, { text: '1970-01-01', binary: int32(-PG_EPOCH_DAYS) }],
  [Oid.time, { text: '00:00:00', binary: zeros(8) }],
  [Oid.timetz, { text: '00:00:00+00', binary: zeros(12) }],
  [Oid.timestamp, { text: '1970-01-01 00:00:00', binary: int64(BigInt(-PG_EPOCH_MS) * 1000n) }],
  [Oid.timestamptz, { text: '1970-01-01 00:00:00+00', binary: int64(BigInt(-PG_EPOCH_MS) * 1000n) }],
  [Oid.interval, { text: '00:00:00', binary: zeros(16) }],
  [Oid.json, { text: 'null', binary: Buffer.from('null') }],
  [Oid.jsonb, { text: 'null', binary: Buffer.from('\x01null') }],
  [Oid.jsonpath, { text: '$', binary: Buffer.from('\x01$') }],
  [Oid.xml, { text: '', binary: zeros(0) }],
  [Oid.point, { text: '(0,0)', binary: zeros(16) }],
  [Oid.lseg, { text: '[(0,0),(0,0)]', binary: zeros(32) }],
  [Oid.box, { text: '(0,0),(0,0)', binary: zeros(32) }],
  [Oid.path, { text: '((0,0))', binary: Buffer.concat([bytes(1), int32(1), zeros(16)]) }],
  [Oid.polygon, { text: '((0,0))', binary: Buffer.concat([int32(1), zeros(16)]) }],
  [Oid.line, { text: '{1,0,0}', binary: float8s(1, 0, 0) }], // A and B may not both be 0
  [Oid.circle, { text: '<(0,0),0>', binary: zeros(24) }],
  [Oid.inet, { text: '0.0.0.0', binary: bytes(2, 32, 0, 4, 0, 0, 0, 0) }], // family PGSQL_AF_INET, bits, is_cidr, size
  [Oid.cidr, { text: '0.0.0.0/0', binary: bytes(2, 0, 1, 4, 0, 0, 0, 0) }],
  [Oid.macaddr, { text: '00:00:00:00:00:00', binary: zeros(6) }],
  [Oid.macaddr8, { text: '00:00:00:00:00:00:00:00', binary: zeros(8) }],
  [Oid.tsvector, { text: '', binary: zeros(4) }],
  [Oid.tsquery, { text: '', binary: zeros(4) }],
  [Oid.pgLsn, { text: '0/0', binary: zeros(8) }],
  [Oid.txidSnapshot, { text: '1:1:', binary: Buffer.concat([int32(0), int64(1n), int64(1n)]) }],
  [Oid.pgSnapshot, { text: '1:1:', binary: Buffer.concat([int32(0), int64(1n), int64(1n)]) }],
  [Oid.void, { text: '', binary: zeros(0) }],
  ...[Oid.int4range, Oid.numrange, Oid.tsrange, Oid.tstzrange, Oid.daterange, Oid.int8range].map(
    (t) => [t, { text: 'empty', binary: bytes(1) }] as [number, { text: string; binary: Buffer }], // flags: RANGE_EMPTY
  ),
  ...[Oid.int4multirange, Oid.nummultirange, Oid.tsmultirange, Oid.tstzmultirange, Oid.datemultirange, Oid.int8multirange].map(
    (t) => [t, { text: '{}', binary: zeros(4) }] as [number, { text: string; binary: Buffer }],
  ),
]);

/** Array type OID → element type OID, for the core types above (checked against pg_type.typarray by the tests). */
export const ARRAY_ELEMENTS: ReadonlyMap<number, number> = new Map([
  [1000, Oid.bool], [1001, Oid.bytea], [1002, Oid.char], [1003, Oid.name], [1016, Oid.int8], [1005, Oid.int2],
  [1006, Oid.int2vector], [1007, Oid.int4], [1008, Oid.regproc], [1009, Oid.text], [1028, Oid.oid], [1010, Oid.tid],
  [1011, Oid.xid], [1012, Oid.cid], [1013, Oid.oidvector], [199, Oid.json], [143, Oid.xml], [1017, Oid.point],
  [1018, Oid.lseg], [1019, Oid.path], [1020, Oid.box], [1027, Oid.polygon], [629, Oid.line], [651, Oid.cidr],
  [1021, Oid.float4], [1022, Oid.float8], [719, Oid.circle], [775, Oid.macaddr8], [791, Oid.money], [1040, Oid.macaddr],
  [1041, Oid.inet], [1014, Oid.bpchar], [1015, Oid.varchar], [1182, Oid.date], [1183, Oid.time], [1115, Oid.timestamp],
  [1185, Oid.timestamptz], [1187, Oid.interval], [1270, Oid.timetz], [1561, Oid.bit], [1563, Oid.varbit],
  [1231, Oid.numeric], [2201, Oid.refcursor], [2207, Oid.regprocedure], [2208, Oid.regoper], [2209, Oid.regoperator],
  [2210, Oid.regclass], [2211, Oid.regtype], [2287, Oid.record], [1263, Oid.cstring], [2951, Oid.uuid],
  [2949, Oid.txidSnapshot], [3221, Oid.pgLsn], [3643, Oid.tsvector], [3645, Oid.tsquery], [3735, Oid.regconfig],
  [3770, Oid.regdictionary], [3807, Oid.jsonb], [3905, Oid.int4range], [3907, Oid.numrange], [3909, Oid.tsrange],
  [3911, Oid.tstzrange], [3913, Oid.daterange], [3927, Oid.int8range], [4073, Oid.jsonpath], [4090, Oid.regnamespace],
  [4097, Oid.regrole], [4192, Oid.regcollation], [6150, Oid.int4multirange], [6151, Oid.nummultirange],
  [6152, Oid.tsmultirange], [6153, Oid.tstzmultirange], [6155, Oid.datemultirange], [6157, Oid.int8multirange],
  [271, Oid.xid8], [5039, Oid.pgSnapshot],
]);

/** Whether values of this type take the method's own text form (text-like types); unknown OIDs are not textual. */
export function isTextual(oid: number): boolean {
  return TEXTUAL.has(oid);
}

/** Whether this module has a type-valid form for the type, in both formats. */
export function knowsType(oid: number): boolean {
  return TEXTUAL.has(oid) || FIXED_FORMS.has(oid) || ARRAY_ELEMENTS.has(oid) || oid === Oid.bit || oid === Oid.varbit || oid === Oid.record || oid === Oid.int2vector || oid === Oid.oidvector;
}

/** What a mask does to values of other types: NULL them, keep dates' years, or give the type's fixed form. */
type Kind = 'null' | 'year' | 'other';
const probed = new WeakMap<MaskFn, Kind>();

function kindOf(mask: MaskFn): Kind {
  if (mask.method === 'null') return 'null';
  if (mask.method === 'year') return 'year';
  if (mask.method) return 'other';
  // A bare function (no method tag): one that gives NULL for '' (or throws) is taken as `null`, any other as
  // a redaction.
  let k = probed.get(mask);
  if (k === undefined) {
    try {
      k = mask('') === null ? 'null' : 'other';
    } catch {
      k = 'null';
    }
    probed.set(mask, k);
  }
  return k;
}

const isDateLike = (oid: number) => oid === Oid.date || oid === Oid.timestamp || oid === Oid.timestamptz;

/**
 * The masked text form of one non-NULL value of type `oid` given in text format; null is SQL NULL.
 * Text-like types and types this module does not know take the method's own text (a client that does not
 * know a type reads it as a string); every other type a form valid for it.
 *
 * @example
 * maskedText(redact, Oid.uuid, '6f1c…') // '00000000-0000-0000-0000-000000000000'
 * maskedText(redact, Oid.json, '{"ssn":"123-45-6789","n":3}') // '{"[REDACTED]":"[REDACTED]","[REDACTED]":0}'
 */
export function maskedText(mask: MaskFn, oid: number, value: string): string | null {
  const kind = kindOf(mask);
  if (kind === 'null') return null;
  if (TEXTUAL.has(oid)) return mask(value);
  if (oid === Oid.json || oid === Oid.jsonb) return maskJson(mask, value);
  const elem = ARRAY_ELEMENTS.get(oid);
  if (elem !== undefined) return maskArrayText(mask, elem, value);
  if (oid === Oid.bit || oid === Oid.varbit) return value.replace(/1/g, '0'); // same length: valid for bit(n)
  if (oid === Oid.int2vector || oid === Oid.oidvector) return value.replace(/\d+/g, '0');
  if (oid === Oid.record) return maskRecordText(value);
  if (kind === 'year' && isDateLike(oid)) {
    if (/^-?infinity$/.test(value)) return value;
    const y = mask(value);
    if (y !== null) return y;
  }
  const fixed = FIXED_FORMS.get(oid);
  return fixed ? fixed.text : mask(value);
}

/**
 * The masked binary form of one non-NULL value of type `oid` in binary format (src[s, e)); null is SQL NULL,
 * also for types this module does not know (no safe form of an unknown encoding: fail closed).
 */
export function maskedBinary(mask: MaskFn, oid: number, src: Buffer, s: number, e: number): Uint8Array | null {
  const kind = kindOf(mask);
  if (kind === 'null') return null;
  if (TEXTUAL.has(oid)) {
    const v = mask(src.toString('utf8', s, e));
    return v === null ? null : Buffer.from(v, 'utf8');
  }
  if (oid === Oid.json) return Buffer.from(maskJson(mask, src.toString('utf8', s, e)), 'utf8');
  if (oid === Oid.jsonb) {
    if (e - s < 1 || src[s] !== 1) return FIXED_FORMS.get(Oid.jsonb)!.binary; // unknown jsonb version
    return Buffer.from(`\x01${maskJson(mask, src.toString('utf8', s + 1, e))}`, 'utf8');
  }
  if (ARRAY_ELEMENTS.has(oid) || oid === Oid.int2vector || oid === Oid.oidvector) return maskArrayBinary(mask, src, s, e);
  if (oid === Oid.record) return maskRecordBinary(mask, src, s, e);
  if (oid === Oid.bit || oid === Oid.varbit) {
    if (e - s < 4) return null;
    const out = Buffer.alloc(e - s); // bit length kept, every bit 0
    src.copy(out, 0, s, s + 4);
    return out;
  }
  if (kind === 'year' && isDateLike(oid)) {
    const y = oid === Oid.date ? yearOfDays(src, s, e) : yearOfMicros(src, s, e);
    if (y) return y;
  }
  return FIXED_FORMS.get(oid)?.binary ?? null;
}

const cache = new WeakMap<MaskFn, Map<number, TypedForm | null>>();
const NULL_FORM: TypedForm = () => null;

/**
 * The form a DataRow column of type `oid` (0 = not known) in `format` (0 text, 1 binary) takes under `mask`,
 * or null when the method's own byte/text path applies (text-like types, and unknown types in text format).
 * Unknown types in binary format mask to NULL. Cached per mask and type: built once per result shape.
 */
export function typedForm(mask: MaskFn, oid: number, format: number): TypedForm | null {
  let perMask = cache.get(mask);
  if (!perMask) cache.set(mask, (perMask = new Map()));
  const key = oid * 2 + (format === 1 ? 1 : 0);
  let form = perMask.get(key);
  if (form === undefined) perMask.set(key, (form = buildForm(mask, oid, format === 1)));
  return form;
}

function buildForm(mask: MaskFn, oid: number, binary: boolean): TypedForm | null {
  const kind = kindOf(mask);
  if (kind === 'null') return NULL_FORM;
  if (TEXTUAL.has(oid)) return null;
  if (!binary && !knowsType(oid)) return null; // today's form: the method's text
  if (binary && !knowsType(oid)) return NULL_FORM;
  const fixed = FIXED_FORMS.get(oid);
  const valueShaped = kind === 'year' && isDateLike(oid);
  if (fixed && !valueShaped && oid !== Oid.json && oid !== Oid.jsonb) {
    const b = binary ? fixed.binary : Buffer.from(fixed.text, 'utf8');
    return () => b;
  }
  if (binary) return (src, s, e) => maskedBinary(mask, oid, src, s, e);
  return (src, s, e) => {
    const v = maskedText(mask, oid, src.toString('utf8', s, e));
    return v === null ? null : Buffer.from(v, 'utf8');
  };
}

// ---- dates: keep the year ----

function yearOfDays(src: Buffer, s: number, e: number): Buffer | null {
  if (e - s !== 4) return null;
  const days = src.readInt32BE(s);
  if (days === 0x7fffffff || days === -0x80000000) return Buffer.from(src.subarray(s, e)); // ±infinity
  const d = new Date((days + PG_EPOCH_DAYS) * 86400000);
  if (Number.isNaN(d.getTime())) return null;
  return int32(Math.round(Date.UTC(d.getUTCFullYear(), 0, 1) / 86400000) - PG_EPOCH_DAYS);
}

function yearOfMicros(src: Buffer, s: number, e: number): Buffer | null {
  if (e - s !== 8) return null;
  const us = src.readBigInt64BE(s);
  if (us === 0x7fffffffffffffffn || us === -0x8000000000000000n) return Buffer.from(src.subarray(s, e)); // ±infinity
  const d = new Date(Number(us / 1000n) + PG_EPOCH_MS - (us < 0n && us % 1000n !== 0n ? 1 : 0));
  if (Number.isNaN(d.getTime())) return null;
  const y = new Date(0);
  y.setUTCFullYear(d.getUTCFullYear(), 0, 1); // setUTCFullYear: years 0–99 stay themselves
  return int64(BigInt(y.getTime() - PG_EPOCH_MS) * 1000n);
}

// ---- JSON: structure and (where known) keys kept, values masked ----

/**
 * Keep: copy the value as is (a key plan says it carries no masked column). Mask: mask every key and leaf
 * beneath. Plan: follow the key plan (listed keys shown, each value under its own column's mask).
 */
const Mode = { Keep: 0, Mask: 1, Plan: 2 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

/**
 * Masks a JSON text: strings get the method's text form (or null), numbers 0, booleans false, null stays;
 * object keys are masked like strings unless `mask.jsonKeys` lists them. Always valid JSON ('null' if the
 * input was not).
 */
export function maskJson(mask: MaskFn, text: string): string {
  try {
    const w = new JsonRewriter(text, mask.jsonKeys ?? null);
    const i = w.value(w.ws(0), mask.jsonKeys ? Mode.Plan : Mode.Mask, mask);
    if (w.ws(i) !== text.length) throw new Error('trailing characters');
    return w.out;
  } catch {
    return 'null';
  }
}

class JsonRewriter {
  out = '';
  constructor(
    readonly s: string,
    readonly keys: ReadonlyMap<string, MaskFn | null> | null,
  ) {}

  ws(i: number): number {
    const s = this.s;
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
    return i;
  }

  /** Rewrites the value at i under `mode` (mask `m` for Mask/Plan); returns the index after it. */
  value(i: number, mode: Mode, m: MaskFn): number {
    const s = this.s;
    const c = s[i];
    if (c === '{') return this.object(i, mode, m);
    if (c === '[') {
      this.out += '[';
      i = this.ws(i + 1);
      if (s[i] === ']') {
        this.out += ']';
        return i + 1;
      }
      for (;;) {
        i = this.ws(this.value(i, mode, m));
        if (s[i] === ']') {
          this.out += ']';
          return i + 1;
        }
        if (s[i] !== ',') throw new Error('bad array');
        this.out += ',';
        i = this.ws(i + 1);
      }
    }
    const end = c === '"' ? this.stringEnd(i) : this.scalarEnd(i);
    const raw = s.slice(i, end);
    if (mode === Mode.Keep) this.out += raw;
    else if (c === '"') {
      const v = m(JSON.parse(raw) as string);
      this.out += v === null ? 'null' : JSON.stringify(v);
    } else if (raw === 'null') this.out += 'null';
    else if (raw === 'true' || raw === 'false') this.out += 'false';
    else if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(raw)) this.out += '0';
    else throw new Error('bad scalar');
    return end;
  }

  object(i: number, mode: Mode, m: MaskFn): number {
    const s = this.s;
    this.out += '{';
    i = this.ws(i + 1);
    if (s[i] === '}') {
      this.out += '}';
      return i + 1;
    }
    for (;;) {
      if (s[i] !== '"') throw new Error('bad key');
      const end = this.stringEnd(i);
      const raw = s.slice(i, end);
      const key = JSON.parse(raw) as string;
      let child = mode;
      let cm = m;
      if (mode === Mode.Keep) this.out += raw;
      else if (mode === Mode.Plan && this.keys!.has(key)) {
        this.out += raw;
        const km = this.keys!.get(key)!;
        if (km === null) child = Mode.Keep;
        else {
          child = Mode.Mask;
          cm = km;
        }
      } else {
        this.out += JSON.stringify(m(key) ?? '');
        child = Mode.Mask;
      }
      i = this.ws(end);
      if (s[i] !== ':') throw new Error('bad object');
      this.out += ':';
      i = this.ws(this.value(this.ws(i + 1), child, cm));
      if (s[i] === '}') {
        this.out += '}';
        return i + 1;
      }
      if (s[i] !== ',') throw new Error('bad object');
      this.out += ',';
      i = this.ws(i + 1);
    }
  }

  stringEnd(i: number): number {
    const s = this.s;
    for (let j = i + 1; j < s.length; j++) {
      const c = s[j];
      if (c === '\\') j++;
      else if (c === '"') return j + 1;
    }
    throw new Error('unterminated string');
  }

  scalarEnd(i: number): number {
    const s = this.s;
    let j = i;
    while (j < s.length && !',]} \t\n\r'.includes(s[j]!)) j++;
    if (j === i) throw new Error('empty value');
    return j;
  }
}

// ---- arrays: every element masked as a value of the element type ----

/** Masks a text-format array literal element by element; dimension bounds (`[1:2]=`) and NULLs stay. */
export function maskArrayText(mask: MaskFn, elem: number, text: string): string {
  const delim = elem === Oid.box ? ';' : ',';
  let i = 0;
  let out = '';
  if (text[0] === '[') {
    const eq = text.indexOf('=');
    if (eq < 0) return '{}';
    out = text.slice(0, eq + 1);
    i = eq + 1;
  }
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '{' || c === '}' || c === delim) {
      out += c;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    let value = '';
    if (c === '"') {
      i++;
      while (i < n && text[i] !== '"') {
        if (text[i] === '\\') i++;
        value += text[i] ?? '';
        i++;
      }
      i++; // closing quote
    } else {
      let raw = '';
      while (i < n && text[i] !== delim && text[i] !== '{' && text[i] !== '}') {
        if (text[i] === '\\') i++;
        raw += text[i] ?? '';
        i++;
      }
      value = raw.trim();
      if (value.toUpperCase() === 'NULL') {
        out += 'NULL';
        continue;
      }
    }
    out += quoteElement(maskedText(mask, elem, value), delim);
  }
  return out;
}

function quoteElement(v: string | null, delim: string): string {
  if (v === null) return 'NULL';
  if (v !== '' && v.toUpperCase() !== 'NULL' && !/[{}"\\\s]/.test(v) && !v.includes(delim)) return v;
  return `"${v.replace(/[\\"]/g, '\\$&')}"`;
}

/** Masks a binary-format array (array_send): header kept, each element masked for the element type it names. */
function maskArrayBinary(mask: MaskFn, src: Buffer, s: number, e: number): Uint8Array | null {
  if (e - s < 12) return null;
  const ndim = src.readInt32BE(s);
  const elem = src.readUInt32BE(s + 8);
  let p = s + 12 + 8 * ndim;
  if (ndim < 0 || p > e) return null;
  const parts: Uint8Array[] = [Buffer.from(src.subarray(s, p))];
  let hasNull = src.readInt32BE(s + 4) !== 0;
  while (p < e) {
    if (p + 4 > e) return null;
    const len = src.readInt32BE(p);
    p += 4;
    if (len >= 0 && p + len > e) return null;
    const v = len < 0 ? null : maskedBinary(mask, elem, src, p, p + len);
    if (len >= 0) p += len;
    if (v === null) {
      hasNull = true;
      parts.push(int32(-1));
    } else parts.push(int32(v.length), v);
  }
  if (p !== e) return null;
  const out = Buffer.concat(parts);
  out.writeInt32BE(hasNull ? 1 : 0, 4);
  return out;
}

// ---- anonymous records: field count kept, field values masked ----

/** A text-format record `(a,b,…)` with the same number of fields, each NULL (their types are not in the text). */
function maskRecordText(text: string): string {
  let fields = 1;
  let quoted = false;
  for (let i = 1; i < text.length - 1; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) fields++;
  }
  return `(${','.repeat(fields - 1)})`;
}

/** A binary record (record_send): each field carries its type OID, so each is masked for its type. */
function maskRecordBinary(mask: MaskFn, src: Buffer, s: number, e: number): Uint8Array | null {
  if (e - s < 4) return null;
  const n = src.readInt32BE(s);
  const parts: Uint8Array[] = [int32(n)];
  let p = s + 4;
  for (let f = 0; f < n; f++) {
    if (p + 8 > e) return null;
    const oid = src.readUInt32BE(p);
    const len = src.readInt32BE(p + 4);
    p += 8;
    if (len >= 0 && p + len > e) return null;
    const v = len < 0 ? null : maskedBinary(mask, oid, src, p, p + len);
    if (len >= 0) p += len;
    parts.push(int32(oid | 0), v === null ? int32(-1) : int32(v.length));
    if (v !== null) parts.push(v);
  }
  return p === e ? Buffer.concat(parts) : null;
}
