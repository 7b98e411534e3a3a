// Result encoding of the local Snowflake: DuckDB column types → Snowflake `rowtype` metadata, DuckDB values →
// the strings of a JSON rowset (the text forms both drivers parse), and large results → downloadable chunks.
import {
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBListValue,
  DuckDBArrayValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimeValue,
  DuckDBTypeId,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { encodeChunk, fractionalSeconds, MAX_BINARY, MAX_TEXT, rowTypeFor, type EncodedChunk, type RowType as ProtocolRowType, type SnowflakeType } from '../../snowflake/protocol.ts';

export type { EncodedChunk, SnowflakeType } from '../../snowflake/protocol.ts';

/** One column of `rowtype` as Snowflake sends it (types lower case: fixed, real, text, date, time, timestamp_ntz…). */
export type RowType = ProtocolRowType<SnowflakeType>;

/** Where a result column comes from, when it is a plain column of a table. */
export interface ColumnOrigin {
  database: string;
  schema: string;
  table: string;
  nullable: boolean;
}

/** One value as a JSON rowset carries it: text, or null for SQL NULL. */
export type Cell = string | null;

/** The Snowflake type a DuckDB type stands for in results. */
export function snowflakeTypeOf(t: DuckDBType): SnowflakeType {
  switch (t.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return 'boolean';
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
    case DuckDBTypeId.DECIMAL:
      return 'fixed';
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return 'real';
    case DuckDBTypeId.DATE:
      return 'date';
    case DuckDBTypeId.TIME:
    case DuckDBTypeId.TIME_NS:
      return 'time';
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
      return 'timestamp_ntz';
    case DuckDBTypeId.TIMESTAMP_TZ:
      return 'timestamp_ltz';
    case DuckDBTypeId.BLOB:
      return 'binary';
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
      return 'array';
    case DuckDBTypeId.STRUCT:
    case DuckDBTypeId.MAP:
      return 'object';
    case DuckDBTypeId.VARIANT:
      return 'variant';
    case DuckDBTypeId.VARCHAR:
      return t.alias?.toUpperCase() === 'JSON' ? 'variant' : 'text';
    default:
      return 'text';
  }
}

/** The `rowtype` entry of a result column. */
export function rowTypeOf(name: string, t: DuckDBType, origin: ColumnOrigin | null = null): RowType {
  // Snowflake's integers are NUMBER(38,0); DECIMAL keeps its precision and scale.
  const dec = t.typeId === DuckDBTypeId.DECIMAL ? (t as { width: number; scale: number }) : null;
  return rowTypeFor({ name, ...origin, nullable: origin?.nullable ?? true, type: snowflakeTypeOf(t), precision: dec?.width, scale: dec?.scale });
}

/** A `rowtype` entry for the text status column of DDL and session statements. */
export function statusRowType(name = 'status'): RowType {
  return rowTypeFor({ name, nullable: true, type: 'text' });
}

/** A `rowtype` entry for a count column of DML results ("number of rows inserted"…). */
export function countRowType(name: string): RowType {
  return rowTypeFor({ name, nullable: false, type: 'fixed', precision: 19, scale: 0 });
}

/**
 * The text of a value as Snowflake's JSON result format carries it:
 * fixed → decimal digits with the column's scale; real → shortest round-trip text; boolean → "1"/"0";
 * date → days since the epoch; time → seconds since midnight with 9 fraction digits; timestamp_ntz/ltz →
 * seconds since the epoch with 9 fraction digits (signed decimal); binary → upper-case hex; variant, object and
 * array → JSON text.
 */
export function encodeCell(v: DuckDBValue, t: DuckDBType): Cell {
  if (v === null) return null;
  switch (t.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return v === true ? '1' : '0';
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return encodeReal(v as number);
    case DuckDBTypeId.DATE:
      return String((v as DuckDBDateValue).days);
    case DuckDBTypeId.TIME:
      return fractionalSeconds((v as DuckDBTimeValue).micros * 1000n);
    case DuckDBTypeId.TIMESTAMP:
      return fractionalSeconds((v as DuckDBTimestampValue).micros * 1000n);
    case DuckDBTypeId.TIMESTAMP_TZ:
      return fractionalSeconds((v as DuckDBTimestampTZValue).micros * 1000n);
    case DuckDBTypeId.TIMESTAMP_S:
      return fractionalSeconds((v as DuckDBTimestampSecondsValue).seconds * 1_000_000_000n);
    case DuckDBTypeId.TIMESTAMP_MS:
      return fractionalSeconds((v as DuckDBTimestampMillisecondsValue).millis * 1_000_000n);
    case DuckDBTypeId.TIMESTAMP_NS:
      return fractionalSeconds((v as DuckDBTimestampNanosecondsValue).nanos);
    case DuckDBTypeId.BLOB:
      return Buffer.from((v as DuckDBBlobValue).bytes).toString('hex').toUpperCase();
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
    case DuckDBTypeId.STRUCT:
    case DuckDBTypeId.MAP:
      return JSON.stringify(toJsonValue(v));
    case DuckDBTypeId.DECIMAL:
      return (v as DuckDBDecimalValue).toString();
    default:
      return typeof v === 'string' ? v : String(v);
  }
}

function encodeReal(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return String(n);
}

function toJsonValue(v: DuckDBValue): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof DuckDBListValue || v instanceof DuckDBArrayValue) return v.items.map(toJsonValue);
  if (v instanceof DuckDBStructValue) return Object.fromEntries(Object.entries(v.entries).map(([k, x]) => [k, toJsonValue(x)]));
  if (v instanceof DuckDBMapValue) return Object.fromEntries(v.entries.map((e) => [String(e.key), toJsonValue(e.value)]));
  if (v instanceof DuckDBDecimalValue) return v.toDouble();
  return String(v);
}

/** Snowflake's name for a column type in DESCRIBE output: NUMBER(38,0), VARCHAR(16777216), TIMESTAMP_NTZ(9)… */
export function snowflakeTypeText(t: DuckDBType): string {
  const st = snowflakeTypeOf(t);
  switch (st) {
    case 'fixed': {
      const r = rowTypeOf('', t);
      return `NUMBER(${r.precision},${r.scale})`;
    }
    case 'real':
      return 'FLOAT';
    case 'text':
      return `VARCHAR(${MAX_TEXT})`;
    case 'binary':
      return `BINARY(${MAX_BINARY})`;
    case 'time':
      return 'TIME(9)';
    case 'timestamp_ntz':
      return 'TIMESTAMP_NTZ(9)';
    case 'timestamp_ltz':
      return 'TIMESTAMP_LTZ(9)';
    default:
      return st.toUpperCase();
  }
}

// ---------------------------------------------------------------------------------------------
// Chunks

export interface ChunkingOptions {
  /** Rows sent inline in `rowset` when the result is chunked. */
  firstChunkRows: number;
  /** Rows per downloadable chunk; results longer than this (and than `firstChunkRows`) are chunked. */
  chunkRows: number;
  gzip: boolean;
}

/**
 * Splits rows into the inline `rowset` and downloadable chunks. A chunk's body is the rows' JSON arrays joined by
 * commas WITHOUT the enclosing brackets — both drivers add `[` and `]` themselves before parsing.
 */
export function splitIntoChunks(rows: Cell[][], options: ChunkingOptions): { inline: Cell[][]; chunks: EncodedChunk[] } {
  if (rows.length <= Math.max(options.firstChunkRows, options.chunkRows)) return { inline: rows, chunks: [] };
  const inline = rows.slice(0, options.firstChunkRows);
  const chunks: EncodedChunk[] = [];
  const per = Math.max(1, options.chunkRows);
  for (let start = options.firstChunkRows; start < rows.length; start += per) chunks.push(encodeChunk(rows.slice(start, start + per), options.gzip));
  return { inline, chunks };
}
