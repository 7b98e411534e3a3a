// The local approval provider: requests bound to the exact statement, decided by another identity,
// used once, withdrawn on cancel, expired on time; forged decision files count for nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApprovalError } from './errors.ts';
import { decideLocally, isApprover, localApprovals } from './local.ts';
import { subjectHash, type ApprovalSubject } from './provider.ts';

const dir = mkdtempSync(join(tmpdir(), 'verdict-approvals-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bob = { sub: 'user:bob', username: 'bob', email: 'bob@clinic.example', groups: ['contractors'] };
const carol = { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] };
const subject = (statement = 'DELETE FROM visits'): ApprovalSubject => ({
  statement,
  parameters: [],
  fingerprint: 'delete from visits',
  requester: bob,
  target: { upstream: 'clinic', database: 'clinic' },
  reasons: [{ rule: 'approvals.unfiltered_write', message: 'DELETE without WHERE' }],
  policy_revision: 'rev',
  requirement: { approvers: ['team:phi-approvers'], min_approvals: 1, ttl_seconds: 600, mode: 'hold' },
});

describe('local approvals', () => {
  it('approve → approved once, bound to the statement', async () => {
    const p = await localApprovals({ dir, pollMs: 20 });
    const { request, link } = await p.create(subject());
    expect(request.id).toMatch(/^req-[0-9a-z]{12}$/);
    expect(link).toBe(`npx verdict approve ${request.id}`);
    expect(request.hash).toBe(subjectHash(subject()));
    expect(await p.state(request.id)).toEqual({ status: 'pending' });
    const waiting = p.wait(request.id, { signal: new AbortController().signal, timeoutMs: 5000 });
    await decideLocally(dir, request.id, 'approved', carol);
    expect(await waiting).toEqual({ status: 'approved', approved_by: ['carol'], review_ids: [`local:${request.id}`] });
    expect(await p.findApproved(request.hash, 'user:bob')).toMatchObject({ id: request.id });
    expect(await p.findApproved(subjectHash(subject('DELETE FROM patients')), 'user:bob')).toBeNull();
    expect(await p.findApproved(request.hash, 'user:mallory')).toBeNull();
    // Three concurrent consumers: exactly one wins (which one is up to the scheduler).
    const won = await Promise.all([p.consume(request.id), p.consume(request.id), p.consume(request.id)]);
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(await p.consume(request.id)).toBe(false);
    expect(await p.state(request.id)).toEqual({ status: 'consumed' });
  });

  it('the requester cannot approve, non-approvers cannot, decisions are final', async () => {
    const p = await localApprovals({ dir });
    const { request } = await p.create(subject());
    await expect(decideLocally(dir, request.id, 'approved', { sub: 'user:bob', username: 'bob', groups: ['phi-approvers'] })).rejects.toMatchObject({
      code: 'SELF_APPROVAL',
    });
    await expect(decideLocally(dir, request.id, 'approved', { sub: 'user:alice', username: 'alice', groups: ['clinicians'] })).rejects.toMatchObject({
      code: 'NOT_AN_APPROVER',
    });
    await decideLocally(dir, request.id, 'rejected', carol, 'not today');
    expect(await p.state(request.id)).toEqual({ status: 'rejected', by: 'carol', reason: 'not today' });
    await expect(decideLocally(dir, request.id, 'approved', carol)).rejects.toBeInstanceOf(ApprovalError);
  });

  it('a forged decision file is ignored', async () => {
    const p = await localApprovals({ dir });
    const { request } = await p.create(subject());
    writeFileSync(join(dir, `${request.id}.decision.json`), JSON.stringify({ jws: 'eyJhbGciOiJub25lIn0.eyJ2ZXJkaWN0IjoiYXBwcm92ZWQifQ.' }));
    expect(await p.state(request.id)).toEqual({ status: 'pending' });
  });

  it('expires, and a cancelled wait withdraws the request', async () => {
    const p = await localApprovals({ dir, pollMs: 10 });
    const { request } = await p.create(subject(), new Date(Date.now() - 601_000));
    expect(await p.state(request.id)).toEqual({ status: 'expired' });
    await expect(decideLocally(dir, request.id, 'approved', carol)).rejects.toMatchObject({ code: 'EXPIRED' });
    const { request: r2 } = await p.create(subject());
    const ac = new AbortController();
    const waiting = p.wait(r2.id, { signal: ac.signal, timeoutMs: 5000 });
    ac.abort();
    expect(await waiting).toEqual({ status: 'withdrawn' });
    const { request: r3 } = await p.create(subject());
    expect(await p.wait(r3.id, { signal: new AbortController().signal, timeoutMs: 30 })).toEqual({ status: 'expired' });
  });

  it('break-glass: a record for the policy\'s reviewers to review after the fact; never usable as an approval', async () => {
    const p = await localApprovals({ dir });
    const review = { approvers: ['team:break-glass-review'], min_approvals: 1, ttl_seconds: 604800, mode: 'break_glass' as const };
    const s = { ...subject('/* break-glass: INC-1 */ DELETE FROM visits'), requirement: review };
    const { request, link } = await p.breakGlass(s, { reason: 'INC-1', executedAt: new Date('2026-03-01T10:00:00Z'), evidence: 'dec-9' });
    expect(link).toBe(`npx verdict approve ${request.id}`);
    expect(request).toMatchObject({ requirement: review, hash: subjectHash(s), break_glass: { reason: 'INC-1', executed_at: '2026-03-01T10:00:00.000Z', evidence: 'dec-9' } });
    // Only the reviewers the policy named may review it; their approval says it was justified, and runs nothing.
    await expect(decideLocally(dir, request.id, 'approved', carol)).rejects.toMatchObject({ code: 'NOT_AN_APPROVER' });
    await decideLocally(dir, request.id, 'approved', { sub: 'user:erin', username: 'erin', groups: ['break-glass-review'] });
    expect(await p.state(request.id)).toMatchObject({ status: 'approved', approved_by: ['erin'] });
    expect(await p.findApproved(request.hash, 'user:bob')).toBeNull();
    expect(await p.consume(request.id)).toBe(false);
  });

  it('matches approvers by team/group/user', () => {
    expect(isApprover(['team:phi-approvers'], { username: 'carol', groups: ['phi-approvers'] })).toBe(true);
    expect(isApprover(['user:dan'], { username: 'dan', groups: [] })).toBe(true);
    expect(isApprover(['team:phi-approvers'], { username: 'alice', groups: ['clinicians'] })).toBe(false);
  });
});
