// What a RowDescription tells the gateway about a result set: each column's type OID (for the row plan) and its
// origin, table OID and attribute number (ground truth for masks; whether the catalog knows the column at all).
// Format: https://www.postgresql.org/docs/current/protocol-message-formats.html (RowDescription)
import { planChanged } from './data-row.ts';
import type { RowPlan } from './row-plan.ts';

/** What a RowDescription tells a plan: each column's type OID, and its origin (ground truth for masks). */
export function describeColumns(buf: Buffer, start: number, plan: RowPlan): void {
  const count = buf.readUInt16BE(start + 5);
  const types = plan.types && plan.types.length === count ? plan.types : new Uint32Array(count);
  eachColumn(buf, start, (i, _tableOid, _attnum, typeOid) => {
    types[i] = typeOid;
  });
  if (!Object.isFrozen(plan)) plan.types = types;
  if (plan.byOrigin) applyGroundTruth(buf, start, plan);
  planChanged(); // the next row checks its program against the plan as it now is
}

/** The first table OID of a RowDescription column whose origin `known` does not know; 0 when all are known. */
export function unknownOrigin(buf: Buffer, start: number, known: (tableOid: number, attnum: number) => boolean): number {
  let unknown = 0;
  eachColumn(buf, start, (_i, tableOid, attnum) => {
    if (tableOid === 0 || known(tableOid, attnum)) return false;
    unknown = tableOid;
    return true;
  });
  return unknown;
}

/** Masks columns whose RowDescription origin (table OID, attribute number) is a masked column. */
function applyGroundTruth(buf: Buffer, start: number, plan: RowPlan): void {
  eachColumn(buf, start, (i, tableOid, attnum) => {
    if (tableOid === 0) return false;
    const fn = plan.byOrigin!.get(`${tableOid}:${attnum}`);
    if (fn && i < plan.masks.length && !plan.masks[i]) plan.masks[i] = fn;
    else if (fn && i >= plan.masks.length) {
      // The analysis saw fewer columns than the server sends: mask every column (fail closed).
      for (let j = 0; j < plan.masks.length; j++) plan.masks[j] ??= () => null;
    }
    return false;
  });
}

/**
 * Walks the columns of the RowDescription at buf[start, …), calling `each` with the column's index, its origin
 * (table OID, 0 when it is no table's column; attribute number) and its type OID; stops once `each` returns true.
 * Once per result set, not per row.
 */
function eachColumn(buf: Buffer, start: number, each: (i: number, tableOid: number, attnum: number, typeOid: number) => boolean | void): void {
  const count = buf.readUInt16BE(start + 5);
  let p = start + 7;
  for (let i = 0; i < count; i++) {
    p = buf.indexOf(0, p) + 1; // field name
    // table oid 4, attnum 2, type oid 4, type size 2, type modifier 4, format 2
    if (each(i, buf.readUInt32BE(p), buf.readInt16BE(p + 4), buf.readUInt32BE(p + 6)) === true) return;
    p += 18;
  }
}
