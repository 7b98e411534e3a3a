// How the DataRows of one result set are rewritten: shared by the response relay (responses.ts, which applies it
// with data-row.ts and completes it from RowDescription with row-description.ts) and the session model
// (session-model.ts), which keeps a plan per prepared statement and portal.
import type { MaskFn } from '../../engine/masking/methods.ts';

/** How one result column is masked; null = passed through. */
export type ColumnMask = MaskFn | null;

/** What the DataRows of one result set need: a mask per column, or a reason the rows cannot be sent. */
export interface RowPlan {
  masks: ColumnMask[];
  /**
   * Ground truth: masks by the column origin RowDescription reports (`tableOid:attnum`), for every column
   * the decision masks. A result column the analysis traced elsewhere but the server says comes from a
   * masked column is masked anyway.
   */
  byOrigin?: ReadonlyMap<string, MaskFn>;
  /** Per column: 0 text, 1 binary (from Bind's result formats); masked binary values take a binary form of their type, NULL when it is unknown. */
  formats: readonly number[];
  /**
   * Per column: the type OID RowDescription reported (set when one arrives for this plan's rows; absent when
   * the client executes without Describe). Masked values take a form valid for the type where it is known.
   */
  types?: Uint32Array;
}

