// The embedded approval provider: requests are JSON files in a state folder; `verdict approve|reject`
// (another process) writes a decision signed with the folder's Ed25519 key, which the gateway verifies.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CompactSign, compactVerify, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { ApprovalError } from './errors.ts';
import { subjectHash, type ApprovalProvider, type ApprovalRequest, type ApprovalState, type ApprovalSubject, type BreakGlassInput } from './provider.ts';

interface DecisionFile {
  jws: string;
}
interface DecisionPayload {
  id: string;
  hash: string;
  verdict: 'approved' | 'rejected';
  by: string;
  by_sub: string;
  reason: string;
  at: string;
}

const ID = /^req-[0-9a-z]{12}$/;

function keyFiles(dir: string) {
  return { priv: join(dir, 'keys', 'approver.private.jwk'), pub: join(dir, 'keys', 'approver.public.jwk') };
}

/** Creates the folder and its signing key pair (0600) on first use. */
async function ensureKeys(dir: string): Promise<{ privateKey: JWK; publicKey: JWK }> {
  const files = keyFiles(dir);
  if (!existsSync(files.priv)) {
    mkdirSync(join(dir, 'keys'), { recursive: true, mode: 0o700 });
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    writeFileSync(files.priv, JSON.stringify(await exportJWK(privateKey)), { mode: 0o600 });
    writeFileSync(files.pub, JSON.stringify(await exportJWK(publicKey)), { mode: 0o644 });
    chmodSync(files.priv, 0o600);
  }
  return { privateKey: JSON.parse(readFileSync(files.priv, 'utf8')), publicKey: JSON.parse(readFileSync(files.pub, 'utf8')) };
}

const paths = (dir: string, id: string) => ({
  request: join(dir, `${id}.request.json`),
  decision: join(dir, `${id}.decision.json`),
  consumed: join(dir, `${id}.consumed`),
  withdrawn: join(dir, `${id}.withdrawn`),
});

function checkId(id: string): void {
  if (!ID.test(id)) throw new ApprovalError('NOT_FOUND', `no approval request ${JSON.stringify(id)} (ids look like req-xxxxxxxxxxxx)`);
}

async function readRequest(dir: string, id: string): Promise<ApprovalRequest> {
  checkId(id);
  try {
    return JSON.parse(await readFile(paths(dir, id).request, 'utf8')) as ApprovalRequest;
  } catch {
    throw new ApprovalError('NOT_FOUND', `no approval request ${id} in ${dir}`);
  }
}

/**
 * The requests in a local state folder, oldest first; [] when the folder does not exist.
 *
 * @example
 * for (const r of await listLocalRequests('.verdict/approvals')) console.log(r.id, r.statement);
 */
export async function listLocalRequests(dir: string): Promise<ApprovalRequest[]> {
  if (!existsSync(dir)) return [];
  const ids = readdirSync(dir)
    .map((f) => /^(req-[0-9a-z]{12})\.request\.json$/.exec(f)?.[1])
    .filter((id): id is string => id !== undefined);
  const requests = await Promise.all(ids.map((id) => readRequest(dir, id)));
  return requests.sort((a, b) => a.created_at.localeCompare(b.created_at));
}

/**
 * One request of a local state folder. Errors: ApprovalError NOT_FOUND.
 *
 * @example
 * const r = await readLocalRequest('.verdict/approvals', 'req-abc123def456');
 */
export function readLocalRequest(dir: string, id: string): Promise<ApprovalRequest> {
  return readRequest(dir, id);
}

/** Whether `groups` satisfies an approvers list (`team:<group>` or `group:<group>` or `user:<username>`). */
export function isApprover(approvers: string[], who: { username: string; groups: string[] }): boolean {
  return approvers.some((a) => {
    const [kind, name] = a.includes(':') ? [a.slice(0, a.indexOf(':')), a.slice(a.indexOf(':') + 1)] : ['group', a];
    if (kind === 'user') return who.username === name;
    return who.groups.includes(name);
  });
}

/**
 * The local provider over a state folder.
 *
 * @example
 * const approvals = await localApprovals({ dir: '.verdict/approvals' });
 */
export async function localApprovals(options: {
  dir: string;
  pollMs?: number;
  /**
   * The command an approver runs to approve a request, as it works where this gateway runs (the NOTICE's
   * HINT); default `npx verdict approve <id>`.
   */
  command?: (request: ApprovalRequest) => string;
}): Promise<ApprovalProvider> {
  const dir = options.dir;
  const command = options.command ?? ((r: ApprovalRequest) => `npx verdict approve ${r.id}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { publicKey } = await ensureKeys(dir);
  const verifyKey = await importJWK(publicKey, 'EdDSA');
  const pollMs = options.pollMs ?? 200;

  async function decision(req: ApprovalRequest): Promise<DecisionPayload | null> {
    let file: DecisionFile;
    try {
      file = JSON.parse(await readFile(paths(dir, req.id).decision, 'utf8')) as DecisionFile;
    } catch {
      return null;
    }
    try {
      const { payload } = await compactVerify(file.jws, verifyKey, { algorithms: ['EdDSA'] });
      const d = JSON.parse(Buffer.from(payload).toString('utf8')) as DecisionPayload;
      // A decision counts only for this very request, by someone who may approve it, not the requester.
      if (d.id !== req.id || d.hash !== req.hash || d.by_sub === req.requester.sub) return null;
      return d;
    } catch {
      return null; // forged or damaged: as if no one decided (fail closed)
    }
  }

  async function state(id: string, now = new Date()): Promise<ApprovalState> {
    const req = await readRequest(dir, id);
    const p = paths(dir, id);
    if (existsSync(p.consumed)) return { status: 'consumed' };
    if (existsSync(p.withdrawn)) return { status: 'withdrawn' };
    const d = await decision(req);
    if (d?.verdict === 'rejected') return { status: 'rejected', by: d.by, reason: d.reason };
    if (Date.parse(req.expires_at) <= now.getTime()) return { status: 'expired' };
    if (d?.verdict === 'approved') return { status: 'approved', approved_by: [d.by], review_ids: [`local:${id}`] };
    return { status: 'pending' };
  }

  function file(subject: ApprovalSubject, now: Date, breakGlass?: ApprovalRequest['break_glass']): { request: ApprovalRequest; link: string } {
    const id = `req-${randomBytes(9).toString('base64url').toLowerCase().replace(/[^0-9a-z]/g, '0').slice(0, 12)}`;
    const request: ApprovalRequest = {
      ...subject,
      id,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + subject.requirement.ttl_seconds * 1000).toISOString(),
      hash: subjectHash(subject),
      ...(breakGlass ? { break_glass: breakGlass } : {}),
    };
    writeFileSync(paths(dir, id).request, JSON.stringify(request, null, 2), { mode: 0o600, flag: 'wx' });
    return { request, link: command(request) };
  }

  return {
    name: 'local',
    async create(subject: ApprovalSubject, now = new Date()) {
      return file(subject, now);
    },
    async breakGlass(subject: ApprovalSubject, input: BreakGlassInput, now = new Date()) {
      // A record to review (approve: it was justified; reject: it was not), never an approval to run anything.
      return file(subject, now, { reason: input.reason, executed_at: (input.executedAt ?? now).toISOString(), ...(input.evidence ? { evidence: input.evidence } : {}) });
    },
    state,
    async request(id) {
      const request = await readRequest(dir, id);
      return { request, link: command(request) };
    },
    async wait(id, { signal, timeoutMs }) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await state(id);
        if (s.status !== 'pending') return s;
        if (signal.aborted) {
          await writeFile(paths(dir, id).withdrawn, new Date().toISOString());
          return { status: 'withdrawn' };
        }
        if (Date.now() >= deadline) return { status: 'expired' };
        await new Promise<void>((resolve) => {
          const onAbort = () => {
            clearTimeout(t);
            resolve();
          };
          const t = setTimeout(() => {
            signal.removeEventListener('abort', onAbort); // one listener at a time, however long the wait
            resolve();
          }, Math.min(pollMs, Math.max(0, deadline - Date.now())));
          signal.addEventListener('abort', onAbort, { once: true });
        });
      }
    },
    async consume(id) {
      checkId(id);
      // No such request, or a break-glass record (it already ran; its review runs nothing): nothing to use.
      const req = await readRequest(dir, id).catch(() => null);
      if (!req || req.break_glass) return false;
      try {
        // O_EXCL: of any number of concurrent callers exactly one creates the marker.
        const fh = await open(paths(dir, id).consumed, 'wx');
        await fh.writeFile(new Date().toISOString());
        await fh.close();
        return true;
      } catch {
        return false;
      }
    },
    async withdraw(id) {
      checkId(id);
      await writeFile(paths(dir, id).withdrawn, new Date().toISOString());
    },
    async findApproved(hash, requesterSub, now = new Date()) {
      for (const f of readdirSync(dir).filter((n) => n.endsWith('.request.json'))) {
        const req = JSON.parse(readFileSync(join(dir, f), 'utf8')) as ApprovalRequest;
        if (req.hash !== hash || req.requester.sub !== requesterSub || req.break_glass) continue;
        if ((await state(req.id, now)).status === 'approved') return req;
      }
      return null;
    },
  };
}

/**
 * Records an approver's decision (what `verdict approve|reject` does). The approver must be allowed
 * by the request's approvers list and must not be the requester.
 *
 * @example
 * await decideLocally('.verdict/approvals', 'req-abc', 'approved', { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] });
 */
export async function decideLocally(
  dir: string,
  id: string,
  verdict: 'approved' | 'rejected',
  approver: { sub: string; username: string; groups: string[] },
  reason = '',
  now = new Date(),
): Promise<ApprovalRequest> {
  const req = await readRequest(dir, id);
  if (approver.sub === req.requester.sub || approver.username === req.requester.username) {
    throw new ApprovalError('SELF_APPROVAL', `${approver.username} requested ${id} and cannot decide it; another approver must`);
  }
  if (!isApprover(req.requirement.approvers, approver)) {
    throw new ApprovalError('NOT_AN_APPROVER', `${approver.username} is not among the approvers of ${id} (${req.requirement.approvers.join(', ')})`);
  }
  if (Date.parse(req.expires_at) <= now.getTime()) throw new ApprovalError('EXPIRED', `${id} expired at ${req.expires_at}`);
  const p = paths(dir, id);
  if (existsSync(p.decision) || existsSync(p.consumed) || existsSync(p.withdrawn)) {
    throw new ApprovalError('ALREADY_DECIDED', `${id} was already decided, used or withdrawn`);
  }
  const { privateKey } = await ensureKeys(dir);
  const payload: DecisionPayload = { id, hash: req.hash, verdict, by: approver.username, by_sub: approver.sub, reason, at: now.toISOString() };
  const jws = await new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'EdDSA' })
    .sign(await importJWK(privateKey, 'EdDSA'));
  writeFileSync(p.decision, JSON.stringify({ jws }), { mode: 0o600, flag: 'wx' });
  return req;
}
