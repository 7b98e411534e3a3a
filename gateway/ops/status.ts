// `verdict status --replicas <url,…>`: asks each replica's admin listener for /status and says whether a
// policy rollout is complete (every replica answers, ready, on the same revision).
export interface ReplicaStatus {
  url: string;
  ok: boolean;
  error: string | null;
  instance: string | null;
  ready: boolean;
  revision: string | null;
  sequence: number | null;
  activated_at: string | null;
  last_error: string | null;
}

export interface RolloutStatus {
  replicas: ReplicaStatus[];
  /** The revisions served, with how many replicas serve each. */
  revisions: { revision: string | null; replicas: number }[];
  /** Every replica answered, is ready, and all serve one revision. */
  complete: boolean;
}

/**
 * Reads /status from every replica (admin listener base URLs) in parallel, each bounded by `timeoutMs`.
 *
 * @example
 * const s = await rolloutStatus(['http://10.0.0.5:9187', 'http://10.0.0.6:9187']); if (!s.complete) …
 */
export async function rolloutStatus(urls: string[], timeoutMs = 5000): Promise<RolloutStatus> {
  const replicas = await Promise.all(
    urls.map(async (url): Promise<ReplicaStatus> => {
      const base = url.replace(/\/+$/, '');
      try {
        const res = await fetch(`${base}/status`, { signal: AbortSignal.timeout(timeoutMs) });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        const body = (await res.json()) as { instance?: string | null; ready?: boolean; policy?: { revision?: string | null; sequence?: number | null; activated_at?: string | null; last_error?: { reason?: string } | null } };
        return {
          url: base,
          ok: true,
          error: null,
          instance: body.instance ?? null,
          ready: body.ready === true,
          revision: body.policy?.revision ?? null,
          sequence: body.policy?.sequence ?? null,
          activated_at: body.policy?.activated_at ?? null,
          last_error: body.policy?.last_error?.reason ?? null,
        };
      } catch (err) {
        return { url: base, ok: false, error: (err as Error).message, instance: null, ready: false, revision: null, sequence: null, activated_at: null, last_error: null };
      }
    }),
  );
  const counts = new Map<string | null, number>();
  for (const r of replicas) if (r.ok) counts.set(r.revision, (counts.get(r.revision) ?? 0) + 1);
  const revisions = [...counts].map(([revision, n]) => ({ revision, replicas: n })).sort((a, b) => b.replicas - a.replicas);
  return { replicas, revisions, complete: replicas.length > 0 && replicas.every((r) => r.ok && r.ready) && revisions.length === 1 && revisions[0]!.revision !== null };
}

/** A table for people: one line per replica, then the verdict on the rollout. */
export function renderRollout(s: RolloutStatus): string {
  const lines = s.replicas.map((r) =>
    r.ok
      ? `${r.url}  ${r.instance ?? '-'}  ${r.ready ? 'ready' : 'NOT READY'}  revision ${r.revision ?? 'none'}${r.sequence !== null ? ` (sequence ${r.sequence})` : ''}${r.last_error ? `  last refused: ${r.last_error}` : ''}`
      : `${r.url}  UNREACHABLE: ${r.error}`,
  );
  lines.push(s.complete ? `rollout complete: every replica serves ${s.revisions[0]!.revision}` : `rollout NOT complete: ${s.revisions.map((r) => `${r.replicas} on ${r.revision ?? 'none'}`).join(', ') || 'no replica answered'}${s.replicas.some((r) => !r.ok) ? `, ${s.replicas.filter((r) => !r.ok).length} unreachable` : ''}`);
  return lines.join('\n') + '\n';
}
