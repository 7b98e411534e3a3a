// Decisions kept in an evidence repository, re-evaluated: `verdict decide --replay` (does a recorded
// decision come out the same under the bundle of its revision?) and `verdict policy impact` (which recorded
// decisions would a policy change flip?). Both read the policy inputs the gateway kept (policy_input parts,
// docs/evidence-format.md § Policy inputs), after the repository verifies.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type Engine } from '../../engine/engine.ts';
import { canonicalJson, sha256Hex } from '../../engine/canonical.ts';
import type { EvidenceRecord, StatementDecided } from '../../engine/evidence/events.ts';
import { verifyEvidence, type VerifyReport } from '../../engine/evidence/verify.ts';
import { ENGINE_RULES, type Action, type Mask, type PolicyDecision } from '../../engine/decision/decision.ts';
import { loadBundle, type PolicyBundle } from '../../engine/policy/bundle.ts';
import { rebuildInput, type PolicyInput } from '../../engine/policy/input.ts';
import { directoryFiles } from '../evidence/verify.ts';
import { policyBuild } from './toolchain.ts';

/** A statement decision as the evidence keeps it, with its rebuilt input (or why there is none). */
export interface KeptDecision {
  decision_id: string;
  stream: string;
  session_id: string;
  /** When the decision was recorded (the line's ts). */
  ts: string;
  text: string;
  fingerprint: string | null;
  policy_revision: string;
  input_hash: string;
  recorded: Outcome;
  /** The input the policy saw, rebuilt and hash-checked; null with `problem` saying why. */
  input: PolicyInput | null;
  problem: string | null;
}

/** What a decision comes to, for comparison: action, reason rules, masks (sorted, canonical). */
export interface Outcome {
  action: Action;
  rules: string[];
  /** "schema.table.column:method" (with "/derived:method" when a derived method is set), sorted. */
  masks: string[];
}

export function outcomeOf(d: Pick<PolicyDecision, 'action' | 'reasons' | 'masks'>): Outcome {
  return {
    action: d.action,
    rules: [...new Set(d.reasons.map((r) => r.rule))].sort(),
    masks: d.masks.map(maskKey).sort(),
  };
}

function maskKey(m: Mask): string {
  const c = m.column;
  const params = Object.keys(m.params ?? {}).length ? canonicalJson(m.params) : '';
  return `${c.schema}.${c.table}.${c.column}:${m.method}${params}${m.derived ? `/derived:${m.derived.method}` : ''}`;
}

export function sameOutcome(a: Outcome, b: Outcome): boolean {
  return a.action === b.action && a.rules.join('\n') === b.rules.join('\n') && a.masks.join('\n') === b.masks.join('\n');
}

/**
 * Reads every statement decision of an evidence repository (a clone), verifying it first.
 *
 * @example
 * const { decisions, report } = await keptDecisions('/tmp/evidence', { since: new Date(Date.now() - 30 * 86400e3) });
 */
export async function keptDecisions(repo: string, options: { since?: Date } = {}): Promise<{ decisions: KeptDecision[]; report: VerifyReport }> {
  const since = options.since?.toISOString() ?? '';
  const parts = new Map<string, Map<string, Record<string, unknown>>>(); // batch file → hash → value
  const decisions: KeptDecision[] = [];
  const report = await verifyEvidence(directoryFiles(repo), {
    onRecord(rec: EvidenceRecord, file: string) {
      if (rec.type === 'policy_input') {
        let m = parts.get(file);
        if (!m) parts.set(file, (m = new Map()));
        m.set(rec.data.hash, rec.data.value);
        return;
      }
      if (rec.type !== 'statement' || rec.ts < since) return;
      const d = rec.data as StatementDecided;
      const base = {
        decision_id: d.decision_id,
        stream: rec.stream,
        session_id: d.session_id,
        ts: rec.ts,
        text: d.text,
        fingerprint: d.fingerprint,
        policy_revision: d.policy_revision,
        input_hash: d.input_hash,
        recorded: outcomeOf(d),
      };
      if (!d.input) {
        const why = d.reasons.some((r) => r.rule.startsWith('gateway.') || r.rule.startsWith('door.')) || d.kind === 'unknown' && d.fingerprint === null
          ? 'refused by the door without a policy decision; no policy input exists'
          : 'no policy input was kept (recorded before inputs were kept, or the input was not representable)';
        decisions.push({ ...base, input: null, problem: why });
        return;
      }
      const m = parts.get(file);
      const ctx = m?.get(d.input.context);
      const st = m?.get(d.input.statement);
      if (!ctx || !st) {
        decisions.push({ ...base, input: null, problem: 'its policy input parts are missing from its batch' });
        return;
      }
      const input = rebuildInput(ctx, st, d.text, d.input.now);
      const hash = sha256Hex(canonicalJson(input));
      decisions.push(hash === d.input_hash ? { ...base, input, problem: null } : { ...base, input: null, problem: `the kept input hashes to ${hash}, not to the recorded input_hash ${d.input_hash}` });
    },
  });
  decisions.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.decision_id < b.decision_id ? -1 : a.decision_id > b.decision_id ? 1 : 0));
  return { decisions, report };
}

/**
 * Finds the bundle of a policy revision: among given bundle files or directories of bundles (matched by
 * their manifest revision), or built from a policy git repository at that commit (revision = commit SHA).
 */
export class BundleLibrary {
  readonly #byRevision = new Map<string, PolicyBundle>();
  readonly #engines = new Map<string, Engine>();
  readonly #built = new Set<string>();
  readonly #work: string;

  private constructor(
    readonly gitRepo: string | null,
    readonly fallback: PolicyBundle | null,
  ) {
    this.#work = mkdtempSync(join(tmpdir(), 'verdict-bundles-'));
  }

  /**
   * @param paths bundle files (.tar.gz), unpacked bundle directories, or directories holding .tar.gz bundles
   * @param gitRepo a clone of the policy repository, to build revisions no given bundle has
   */
  static async open(paths: string[], gitRepo: string | null = null): Promise<BundleLibrary> {
    const found: PolicyBundle[] = [];
    for (const p of paths) {
      const st = statSync(p);
      if (st.isDirectory() && !readdirSync(p).includes('.manifest')) {
        for (const f of readdirSync(p).filter((n) => n.endsWith('.tar.gz')).sort()) found.push(await loadBundle(join(p, f)));
      } else {
        found.push(await loadBundle(p));
      }
    }
    const lib = new BundleLibrary(gitRepo, paths.length === 1 && found.length === 1 ? found[0]! : null);
    for (const b of found) lib.#byRevision.set(b.revision, b);
    return lib;
  }

  /** The bundle recorded as `revision`, or null when none is given and it cannot be built. */
  async bundle(revision: string): Promise<PolicyBundle | null> {
    const known = this.#byRevision.get(revision);
    if (known) return known;
    if (!this.gitRepo || this.#built.has(revision) || !/^[0-9a-f]{7,40}$/.test(revision)) return null;
    this.#built.add(revision);
    const src = join(this.#work, revision);
    try {
      execFileSync('sh', ['-c', `mkdir -p "$2" && git -C "$1" archive "$3" policies | tar -x -C "$2"`, 'sh', this.gitRepo, src, revision], { stdio: 'ignore' });
      const out = policyBuild({ out: join(this.#work, `${revision}.tar.gz`), revision, source: join(src, 'policies') });
      const b = await loadBundle(out.path);
      this.#byRevision.set(revision, b);
      return b;
    } catch {
      return null;
    }
  }

  /** An engine for a bundle (one per revision). */
  async engine(bundle: PolicyBundle): Promise<Engine> {
    let e = this.#engines.get(bundle.digest);
    if (!e) {
      e = await createEngine({ bundle });
      if (e.error) throw new Error(`bundle ${bundle.revision} cannot be evaluated: ${e.error}`);
      this.#engines.set(bundle.digest, e);
    }
    return e;
  }

  close(): void {
    rmSync(this.#work, { recursive: true, force: true });
  }
}

/** One decision replayed. */
export interface ReplayResult {
  decision_id: string;
  /** same: the decision comes out the same; differs: it does not; unreplayable: no input or no bundle. */
  status: 'same' | 'differs' | 'unreplayable';
  recorded: Outcome;
  replayed: Outcome | null;
  /** The bundle revision used (the recorded one, or the one given when they differ). */
  revision: string | null;
  why: string | null;
}

/**
 * Re-evaluates kept decisions under the bundle of their recorded revision (or the single bundle given,
 * noting the difference).
 */
export async function replayDecisions(decisions: KeptDecision[], library: BundleLibrary): Promise<ReplayResult[]> {
  const out: ReplayResult[] = [];
  for (const d of decisions) {
    if (!d.input) {
      out.push({ decision_id: d.decision_id, status: 'unreplayable', recorded: d.recorded, replayed: null, revision: null, why: d.problem });
      continue;
    }
    if (d.recorded.rules.some((r) => r === ENGINE_RULES.NoBundle || r === ENGINE_RULES.BundleInvalid || r === ENGINE_RULES.EntrypointMissing)) {
      out.push({ decision_id: d.decision_id, status: 'unreplayable', recorded: d.recorded, replayed: null, revision: null, why: `no policy served it (${d.recorded.rules.join(', ')}): the engine denied it before any policy ran` });
      continue;
    }
    const bundle = (await library.bundle(d.policy_revision)) ?? library.fallback;
    if (!bundle) {
      out.push({ decision_id: d.decision_id, status: 'unreplayable', recorded: d.recorded, replayed: null, revision: null, why: `no bundle of revision ${d.policy_revision} was given (--bundle) or could be built (--policy-repo)` });
      continue;
    }
    const replayed = outcomeOf((await library.engine(bundle)).evaluate(d.input));
    const same = sameOutcome(d.recorded, replayed);
    const note = bundle.revision !== d.policy_revision ? `evaluated under revision ${bundle.revision}, not the recorded ${d.policy_revision}` : null;
    out.push({
      decision_id: d.decision_id,
      status: same ? 'same' : 'differs',
      recorded: d.recorded,
      replayed,
      revision: bundle.revision,
      why: same ? note : [describeDifference(d.recorded, replayed), note].filter(Boolean).join('; '),
    });
  }
  return out;
}

export function describeDifference(a: Outcome, b: Outcome): string {
  const parts: string[] = [];
  if (a.action !== b.action) parts.push(`action ${a.action} → ${b.action}`);
  const diff = (x: string[], y: string[]) => [x.filter((v) => !y.includes(v)), y.filter((v) => !x.includes(v))] as const;
  const [rulesGone, rulesNew] = diff(a.rules, b.rules);
  if (rulesGone.length || rulesNew.length) parts.push(`rules ${rulesGone.map((r) => `-${r}`).concat(rulesNew.map((r) => `+${r}`)).join(' ')}`);
  const [masksGone, masksNew] = diff(a.masks, b.masks);
  if (masksGone.length || masksNew.length) parts.push(`masks ${masksGone.map((m) => `-${m}`).concat(masksNew.map((m) => `+${m}`)).join(' ')}`);
  return parts.join('; ') || 'no difference';
}
