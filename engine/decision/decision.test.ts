// Unit tests for decision validation: whatever malformed thing a policy returns becomes an error, never an allow.
import { describe, expect, it } from 'vitest';
import { strictest, validateDecisionDocument, validatePolicyResult } from './decision.ts';

const ok = { action: 'allow', reasons: [], masks: [] };
const mask = { column: { schema: 'public', table: 'patients', column: 'ssn' }, method: 'partial', params: { keep_last: 4 } };
const approval = { approvers: ['team:dba'], min_approvals: 1, ttl_seconds: 600, mode: 'hold' };

describe('validateDecisionDocument', () => {
  it('accepts each well-formed action', () => {
    expect(validateDecisionDocument(ok)).toEqual({
      ok: true,
      value: { action: 'allow', reasons: [], masks: [], approval: null, cacheable: true, measure: [], sensitive_parameters: [], capture_rows: null, unmasked_phi: [] },
    });
    const sp = validateDecisionDocument({ ...ok, sensitive_parameters: [2] });
    expect(sp.ok && sp.value.sensitive_parameters).toEqual([2]);
    expect(validateDecisionDocument({ ...ok, sensitive_parameters: 'all' })).toMatchObject({ ok: true, value: { sensitive_parameters: 'all' } });
    expect(validateDecisionDocument({ ...ok, sensitive_parameters: [0] })).toMatchObject({ ok: false, error: expect.stringContaining('sensitive_parameters') });
    expect(validateDecisionDocument({ ...ok, capture_rows: { max_rows: 10, max_bytes: 4096 } })).toMatchObject({ ok: true, value: { capture_rows: { max_rows: 10, max_bytes: 4096 } } });
    expect(validateDecisionDocument({ ...ok, capture_rows: { max_rows: 0, max_bytes: 1 } })).toMatchObject({ ok: false, error: expect.stringContaining('capture_rows') });
    const measured = validateDecisionDocument({ action: 'approve', reasons: [{ rule: 'r', message: 'm' }], approval, measure: ['blast_radius'] });
    expect(measured.ok && measured.value.measure).toEqual(['blast_radius']);
    const m = validateDecisionDocument({ action: 'mask', reasons: [{ rule: 'r', message: 'm' }], masks: [mask] });
    expect(m.ok && m.value.masks).toEqual([mask]);
    const a = validateDecisionDocument({ action: 'approve', reasons: [{ rule: 'r', message: 'm' }], approval });
    expect(a.ok && a.value.approval).toEqual(approval);
    const review = { approvers: ['team:break-glass-review'], min_approvals: 1, ttl_seconds: 604800, mode: 'break_glass' };
    const bg = validateDecisionDocument({ action: 'allow', reasons: [{ rule: 'approvals.break_glass', message: 'm' }], approval: review });
    expect(bg.ok && bg.value.approval).toEqual(review);
    const bgMask = validateDecisionDocument({ action: 'mask', reasons: [{ rule: 'approvals.break_glass', message: 'm' }], masks: [mask], approval: review });
    expect(bgMask.ok && bgMask.value.approval).toEqual(review);
    const d = validateDecisionDocument({ action: 'deny', reasons: [{ rule: 'r', message: 'm' }], cacheable: false });
    expect(d.ok && d.value.cacheable).toBe(false);
  });

  it.each([
    [null, 'not an object'],
    [[], 'not an object'],
    [{ action: 'permit' }, 'decision.action must be one of'],
    [{ action: 'ALLOW' }, 'decision.action must be one of'],
    [{ action: 'allow', extra: 1 }, 'unknown field "extra"'],
    [{ action: 'allow', measure: ['salary'] }, 'decision.measure must list facts'],
    [{ action: 'allow', measure: 'blast_radius' }, 'decision.measure must list facts'],
    [{ action: 'deny', reasons: [] }, 'at least one reason'],
    [{ action: 'deny', reasons: [{ rule: 'r' }] }, 'reasons[0] must be'],
    [{ action: 'deny', reasons: 'nope' }, 'reasons must be an array'],
    [{ action: 'mask', reasons: [{ rule: 'r', message: 'm' }], masks: [] }, 'at least one mask'],
    [{ action: 'mask', reasons: [{ rule: 'r', message: 'm' }], masks: [{ ...mask, method: 'rot13' }] }, 'method must be one of'],
    [{ action: 'mask', reasons: [{ rule: 'r', message: 'm' }], masks: [{ ...mask, column: { table: 't' } }] }, 'column must be'],
    [{ action: 'mask', reasons: [{ rule: 'r', message: 'm' }], masks: [{ ...mask, params: [1] }] }, 'params must be an object'],
    [{ action: 'approve', reasons: [{ rule: 'r', message: 'm' }] }, 'must carry decision.approval'],
    [{ action: 'approve', reasons: [{ rule: 'r', message: 'm' }], approval: { ...approval, approvers: [] } }, 'approvers'],
    [{ action: 'approve', reasons: [{ rule: 'r', message: 'm' }], approval: { ...approval, min_approvals: 0 } }, 'min_approvals'],
    [{ action: 'approve', reasons: [{ rule: 'r', message: 'm' }], approval: { ...approval, mode: 'later' } }, 'mode'],
    [{ action: 'allow', cacheable: 'yes' }, 'cacheable must be a boolean'],
    // break-glass: who reviews it after the fact must come from the policy
    [{ action: 'allow', reasons: [{ rule: 'approvals.break_glass', message: 'm' }] }, 'who reviews it after the fact'],
    [{ action: 'mask', reasons: [{ rule: 'approvals.break_glass', message: 'm' }], masks: [mask] }, 'who reviews it after the fact'],
    [{ action: 'allow', reasons: [{ rule: 'approvals.break_glass', message: 'm' }], approval }, 'must be break_glass'],
    [{ action: 'allow', reasons: [{ rule: 'approvals.break_glass', message: 'm' }], approval: { ...approval, mode: 'break_glass', approvers: [] } }, 'approvers'],
    [{ action: 'approve', reasons: [{ rule: 'r', message: 'm' }], approval: { ...approval, mode: 'break_glass' } }, 'hold or rerun'],
  ])('rejects %j', (doc, message) => {
    const r = validateDecisionDocument(doc);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toContain(message);
  });
});

describe('validatePolicyResult', () => {
  it('unwraps a single result and rejects empty or multiple result sets', () => {
    expect(validatePolicyResult([{ result: ok }]).ok).toBe(true);
    const empty = validatePolicyResult([]);
    expect(!empty.ok && empty.error).toContain('no decision');
    expect(validatePolicyResult([{ result: ok }, { result: ok }]).ok).toBe(false);
    expect(validatePolicyResult([{ nope: 1 }]).ok).toBe(false);
    expect(validatePolicyResult(undefined).ok).toBe(false);
  });
});

describe('strictest', () => {
  it('orders deny > approve > mask > allow', () => {
    expect(strictest([])).toBe('allow');
    expect(strictest(['allow', 'mask'])).toBe('mask');
    expect(strictest(['mask', 'approve', 'allow'])).toBe('approve');
    expect(strictest(['approve', 'deny', 'mask'])).toBe('deny');
  });
});

describe('masks for derived values', () => {
  const doc = (m: Record<string, unknown>) => ({ action: 'mask', reasons: [{ rule: 'r', message: 'm' }], masks: [{ ...mask, ...m }] });

  it('carries derived and content_free when given', () => {
    const r = validateDecisionDocument(doc({ derived: { method: 'null' }, content_free: ['count'] }));
    expect(r.ok && r.value.masks[0]).toEqual({ ...mask, derived: { method: 'null', params: {} }, content_free: ['count'] });
  });

  it.each([
    [{ derived: { method: 'partial' } }, 'derived must be'],
    [{ derived: { method: 'year' } }, 'derived must be'],
    [{ derived: { method: 'email' } }, 'derived must be'],
    [{ derived: { method: 'format_preserving' } }, 'derived must be'],
    [{ derived: 'redact' }, 'derived must be'],
    [{ derived: { method: 'redact', params: [] } }, 'derived.params must be an object'],
    [{ content_free: 'count' }, 'content_free must be an array'],
    [{ content_free: [1] }, 'content_free must be an array'],
  ])('rejects a shape-keeping or malformed %j', (m, message) => {
    const r = validateDecisionDocument(doc(m));
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toContain(message);
  });
});
