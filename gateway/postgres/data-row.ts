// Rewrites DataRows by a row plan on the hot path: unmasked column bytes are copied verbatim, masked ones replaced,
// a row at a time straight into the chunk's output buffer (measured on bench:masking and bench:masking-rows).
import type { ByteMask, MaskFn } from '../../engine/masking/methods.ts';
import { typedForm, type TypedForm } from '../../engine/masking/types.ts';
import { BackendCode } from './protocol/constants.ts';
import type { ColumnMask, RowPlan } from './row-plan.ts';

/**
 * Rewrites one DataRow: unmasked column bytes are copied verbatim, masked ones replaced.
 * A row whose column count differs from the plan's is sent with every value NULL (fail closed).
 */
export function rewriteDataRow(buf: Buffer, start: number, end: number, plan: RowPlan): Buffer {
  lastBuf = null; // a caller may change the plan between calls: always checked
  const o = writeDataRow(buf, start, end, plan, Buffer.allocUnsafe(end - start + 64), 0);
  return rowOut.subarray(0, o);
}

/**
 * How a plan rewrites rows of one width, decided once per plan rather than per row: per column, whether it is
 * copied or masked and by which path (a typed form, the method's byte path, or its text path). Compiled on the
 * first row after the plan's masks, types (RowDescription) or formats change: checked against the plan (current(),
 * ~20 ns on bench:masking's six columns) wherever the plan could have changed since the last row (programFor),
 * so a plan changed in place is never applied stale.
 */
interface RowProgram {
  plan: RowPlan;
  count: number;
  /** The arrays of the plan it was compiled from. */
  masksRef: readonly ColumnMask[];
  typesRef: Uint32Array | undefined;
  formatsRef: readonly number[];
  /** The column count matched the plan's: otherwise every value is NULL (nullMask everywhere). */
  safe: boolean;
  /** Per column: the mask applied (nullMask when unsafe), the type and format it was compiled for. */
  masks: ColumnMask[];
  /** The masked columns (of a safe program), whose type and format are checked on every row. */
  masked: Uint16Array;
  types: Uint32Array;
  formats: Int32Array;
  ops: Uint8Array;
  bytes: (ByteMask | null)[];
  forms: (TypedForm | null)[];
}

/** Column ops: copied verbatim, masked through a typed form, the method's byte path, or its text path. */
const KEEP = 0;
const FORM = 1;
const BYTES = 2;
const TEXT = 3;

/** The program last used: a result set's rows all share one plan, so the lookup is one comparison a row. */
let lastProgram: RowProgram | null = null;
const programs = new WeakMap<RowPlan, RowProgram>();

function formatOf(formats: readonly number[], i: number): number | undefined {
  return formats.length === 1 ? formats[0] : formats[i];
}

/** Whether `prog` is what compiling `plan` for `count` columns would give now. */
function current(prog: RowProgram, plan: RowPlan, count: number): boolean {
  if (prog.count !== count || prog.masksRef !== plan.masks || prog.typesRef !== plan.types || prog.formatsRef !== plan.formats) return false;
  const masks = plan.masks;
  if (!prog.safe) return masks.length !== count;
  if (masks.length !== count) return false;
  const pm = prog.masks;
  for (let i = 0; i < count; i++) if ((masks[i] ?? null) !== pm[i]) return false;
  // A masked column's form depends on its type and format: both may be rewritten in place.
  const masked = prog.masked;
  if (masked.length === 0) return true;
  const types = plan.types;
  const typed = types !== undefined && types.length === count;
  const formats = plan.formats;
  for (let k = 0; k < masked.length; k++) {
    const i = masked[k]!;
    if ((typed ? types[i]! : 0) !== prog.types[i] || (formatOf(formats, i) === 1 ? 1 : 0) !== prog.formats[i]) return false;
  }
  return true;
}

function compile(plan: RowPlan, count: number): RowProgram {
  const safe = count === plan.masks.length;
  const types = plan.types !== undefined && plan.types.length === count ? plan.types : null;
  const prog: RowProgram = {
    plan, count, masksRef: plan.masks, typesRef: plan.types, formatsRef: plan.formats, safe,
    masks: new Array<ColumnMask>(count).fill(null), masked: new Uint16Array(0), types: new Uint32Array(count), formats: new Int32Array(count), ops: new Uint8Array(count),
    bytes: new Array(count).fill(null), forms: new Array(count).fill(null),
  };
  for (let i = 0; i < count; i++) {
    const mask = safe ? (plan.masks[i] ?? null) : nullMask;
    prog.masks[i] = mask;
    if (!mask) continue; // KEEP
    // A form valid for the column's type (engine/masking/types.ts) unless the value is text in text format,
    // the common case, which keeps the method's byte path; binary values of an unknown type become NULL.
    const format = formatOf(plan.formats, i);
    const type = types === null ? 0 : types[i]!;
    prog.types[i] = type;
    prog.formats[i] = format === 1 ? 1 : 0;
    const form = format === 1 || (type !== 0 && type !== TEXT_OID && type !== VARCHAR_OID) ? typedForm(mask, type, format === 1 ? 1 : 0) : null;
    if (form !== null) {
      prog.ops[i] = FORM;
      prog.forms[i] = form;
    } else if (mask.bytes) {
      prog.ops[i] = BYTES;
      prog.bytes[i] = mask.bytes;
    } else prog.ops[i] = TEXT;
  }
  if (safe) prog.masked = Uint16Array.from(prog.masks.flatMap((m, i) => (m ? [i] : [])));
  programs.set(plan, prog);
  return prog;
}

/**
 * The program for a row at buf[start, …). It is checked against the plan (current()) unless this row
 * directly follows the last row written, in the same buffer, under the same plan and width: between two
 * adjacent DataRows of one chunk the tracker handles no other message, and only other messages
 * (RowDescription: describeColumns, applyGroundTruth) change a plan. That skips the check on all but a
 * chunk's first row of a result set: ~20 ns a row of bench:masking's six columns.
 */
function programFor(plan: RowPlan, count: number, buf: Uint8Array, start: number): RowProgram {
  const last = lastProgram;
  if (last !== null && last.plan === plan && last.count === count && buf === lastBuf && start === lastEnd) return last;
  let prog = last !== null && last.plan === plan ? last : programs.get(plan);
  if (prog === undefined || !current(prog, plan, count)) prog = compile(plan, count);
  lastProgram = prog;
  return prog;
}

/** Where the last row writeDataRow wrote ended, in which source buffer (see programFor). */
let lastBuf: Uint8Array | null = null;
let lastEnd = -1;

/** The buffer writeDataRow finished in: the one it was given, or a larger copy when a masked value needed room. */
export let rowOut: Buffer = Buffer.alloc(0);

/**
 * Writes the rewritten DataRow buf[start, end) at out[o], in one pass; returns the offset after it (in
 * `rowOut`, which is `out` unless it had to grow). `out` must have room for end - start bytes after o: copied
 * and NULLed columns never grow a row, so room is checked only where a masked value is written.
 *
 * bench:masking-rows (transform alone on bench:masking's rows, 2 of 6 columns masked, CPU ns a row): ~723 with
 * the earlier two-pass writer (sizes, then writes; a Buffer#copy per copied column; two calls and two scans per
 * masked value), ~240 with this one, against ~33 for forwarding unmasked rows. Adjacent copied columns are
 * copied as one run (copyBytes).
 */
export function writeDataRow(buf: Buffer, start: number, end: number, plan: RowPlan, out: Buffer, o: number): number {
  if (end - start < 7) throw new Error('DataRow length does not match its columns');
  const count = (buf[start + 5]! << 8) | buf[start + 6]!;
  const prog = programFor(plan, count, buf, start);
  lastBuf = null; // set again once the row is written: a row that throws leaves no program trusted
  const ops = prog.ops;
  const from = viewOf(buf, 0);
  const rowStart = o;
  out[o] = BackendCode.DataRow; // the length is written last
  out[o + 5] = buf[start + 5]!;
  out[o + 6] = buf[start + 6]!;
  o += 7;
  let p = start + 7;
  let run = p; // start of the copied columns not yet written
  for (let i = 0; i < count; i++) {
    if (p + 4 > end) throw new Error('DataRow length does not match its columns');
    const len = from.getInt32(p);
    const op = ops[i]!;
    if (op === KEEP || len < 0) {
      p += len < 0 ? 4 : 4 + len;
      continue;
    }
    const s = p + 4;
    const e = s + len;
    if (e > end) throw new Error('DataRow length does not match its columns');
    if (p > run) o = copyBytes(buf, run, p, out, o);
    let value: Uint8Array | null = null;
    let n = -1;
    if (op === BYTES) {
      const bytes = prog.bytes[i]!;
      const room = 4 + bytes.max(len) + (end - e);
      if (o + room > out.length) out = grow(out, o, room);
      const put = bytes.put(buf, s, e, out, o + 4);
      if (put !== undefined) n = put;
      else value = textValue(prog.masks[i]!, buf, s, e);
    } else if (op === FORM) value = prog.forms[i]!(buf, s, e);
    else value = textValue(prog.masks[i]!, buf, s, e);
    if (value !== null) {
      n = value.length;
      if (o + 4 + n + (end - e) > out.length) out = grow(out, o, 4 + n + (end - e));
      copyValue(value, out, o + 4);
    }
    writeInt32(out, o, n);
    o += n < 0 ? 4 : 4 + n;
    p = e;
    run = p;
  }
  if (p !== end) throw new Error('DataRow length does not match its columns');
  if (p > run) o = copyBytes(buf, run, p, out, o);
  writeInt32(out, rowStart + 1, o - rowStart - 1); // the length field counts itself, not the type byte
  rowOut = out;
  lastBuf = buf;
  lastEnd = end;
  return o;
}

/** The method's text path: the value decoded, masked, encoded; null for NULL. */
function textValue(mask: MaskFn, buf: Buffer, s: number, e: number): Uint8Array | null {
  const v = mask(buf.toString('utf8', s, e));
  return v === null ? null : Buffer.from(v, 'utf8');
}

function writeInt32(out: Uint8Array, o: number, v: number): void {
  out[o] = v >>> 24;
  out[o + 1] = v >>> 16;
  out[o + 2] = v >>> 8;
  out[o + 3] = v;
}

/**
 * Copies buf[s, e) to out[o]; returns the offset after it. Runs shorter than 192 bytes (a row's copied
 * columns, typically) go four bytes at a time through DataViews: ~17 ns for 64 bytes in Node 20, where
 * Buffer#copy costs ~55 ns a call whatever the length and a byte loop ~0.85 ns a byte (in-cache copies, Node 20).
 * Int32 moves keep every bit (a Float64 move could canonicalize NaN payloads).
 */
export function copyBytes(buf: Buffer, s: number, e: number, out: Buffer, o: number): number {
  const n = e - s;
  if (n === 0) return o; // back-to-back masked rows leave no gap between them
  if (n >= 192) {
    out.set(buf.subarray(s, e), o);
    return o + n;
  }
  const from = viewOf(buf, 0);
  const to = viewOf(out, 1);
  let i = s;
  for (; i + 4 <= e; i += 4, o += 4) to.setInt32(o, from.getInt32(i));
  for (; i < e; i++) out[o++] = buf[i]!;
  return o;
}

/** The DataView of the last source (slot 0) and output (slot 1) buffer: made once per chunk, not per row. */
const viewed: (Uint8Array | null)[] = [null, null];
const views: DataView[] = [new DataView(new ArrayBuffer(0)), new DataView(new ArrayBuffer(0))];
function viewOf(b: Uint8Array, slot: 0 | 1): DataView {
  if (viewed[slot] !== b) {
    viewed[slot] = b;
    views[slot] = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  return views[slot]!;
}

/** Copies a masked value (short: a loop) to out[o]. */
function copyValue(value: Uint8Array, out: Buffer, o: number): void {
  const n = value.length;
  if (n >= 64) out.set(value, o);
  else for (let i = 0; i < n; i++) out[o + i] = value[i]!;
}

/** A larger buffer holding out[0, o), with `need` bytes of room after o. */
function grow(out: Buffer, o: number, need: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(out.length * 2, o + need + 256));
  out.copy(next, 0, 0, o);
  return next;
}

/** Grows the chunk's output buffer so `need` more bytes fit after `o`. */
export function reserve(out: Buffer | null, o: number, need: number, hint: number): Buffer {
  if (out && o + need <= out.length) return out;
  const next = Buffer.allocUnsafe(Math.max(hint + 256, (out?.length ?? 0) * 2, o + need));
  if (out) out.copy(next, 0, 0, o);
  return next;
}

/** text and varchar: the common masked columns, kept off the typed-form lookup (bench:masking). */
const TEXT_OID = 25;
const VARCHAR_OID = 1043;

const nullMask: ColumnMask = Object.assign(() => null, { method: 'null' as const });

/**
 * A plan may have changed in place (a RowDescription: describeColumns): the next row checks its program against
 * the plan as it now is (programFor).
 */
export function planChanged(): void {
  lastBuf = null;
}
