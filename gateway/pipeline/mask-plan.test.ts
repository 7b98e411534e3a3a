// The mask plan every door applies: lineage from the analysis, the server's column origins as ground truth,
// and every column masked when the server's columns cannot be matched to the analysis'.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Decision } from '../../engine/decision/decision.ts';
import { analyzeSql, loadParser } from '../../engine/sql/postgres/analyze.ts';
import { columnMasks, maskPlan, withheldCode } from './mask-plan.ts';

const ctx = { hashKey: Buffer.from('k') };
const ssn = { schema: 'public', table: 'patients', column: 'ssn' };
const decision = { masks: [{ column: ssn, method: 'partial', params: { keep_last: 4 } }] } as unknown as Decision;
const catalog = { tables: { 'public.patients': ['id', 'name', 'ssn'] } };
const origins = new Map([['public.patients.ssn', '16384:3']]);

beforeAll(() => loadParser());

describe('maskPlan / columnMasks', () => {
  it('masks a direct copy with its method and a derivation with redact; nothing when the decision masks nothing', () => {
    const a = analyzeSql('SELECT id, ssn, upper(ssn) AS u FROM patients', { catalog })[0]!;
    const plan = maskPlan(a, decision, ctx, origins)!;
    expect(plan.masks[0]).toBeNull();
    expect(plan.masks[1]!('123-45-6789')).toBe('***-**-6789');
    expect(plan.masks[2]!('123-45-6789')).not.toContain('6789');
    expect(maskPlan(a, { masks: [] } as unknown as Decision, ctx, origins)).toBeNull();
  });

  it('masks a column the server says comes from a masked column, whatever the analysis traced', () => {
    const a = analyzeSql('SELECT id, name FROM patients', { catalog })[0]!;
    const plan = maskPlan(a, decision, ctx, origins)!;
    const masks = columnMasks(plan, [{ tableOid: 16384, attnum: 1 }, { tableOid: 16384, attnum: 3 }]);
    expect(masks[0]).toBeNull();
    expect(masks[1]!('123-45-6789')).toBe('***-**-6789');
  });

  it('masks every column (NULL where the plan has nothing) when the server sends another number of columns', () => {
    const a = analyzeSql('SELECT id, ssn FROM patients', { catalog })[0]!;
    const plan = maskPlan(a, decision, ctx, origins)!;
    const masks = columnMasks(plan, [{ tableOid: 0, attnum: 0 }, { tableOid: 0, attnum: 0 }, { tableOid: 0, attnum: 0 }]);
    expect(masks.every((m) => m !== null)).toBe(true);
    expect(masks[0]!('7')).toBeNull();
    expect(masks[2]!('anything')).toBeNull();
  });

  it('reports data-dependent error classes as 22000 and leaves the others', () => {
    expect(['22012', '22P02', '23505', '2F005', 'P0001', '42P01', '57014'].map(withheldCode)).toEqual(['22000', '22000', '22000', '22000', '22000', '42P01', '57014']);
  });
});
