// Follows the policy bundle a source serves: fetch → verify signature and signed revision → refuse a
// rollback → compile → swap, all or nothing. A bundle that fails any step leaves the last good one serving
// and is reported (log, status, evidence). Checks run one at a time; a check asked for while one runs
// is folded into a second check right after it.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createTarGzip } from 'nanotar';
import { dirname } from 'node:path';
import { archiveFiles, bundleFromFiles, type BundleVerification, type PolicyBundle } from '../../engine/policy/bundle.ts';
import { EngineError, messageOf, type EngineErrorCode } from '../../engine/errors.ts';
import { BundleSourceError } from './errors.ts';
import type { BundleSource } from './sources.ts';

/** What `/status` reports about the policy. */
export interface PolicyStatus {
  revision: string | null;
  /** Signed revision sequence, or null for an unsigned bundle. */
  sequence: number | null;
  signed_by: string | null;
  rollback: boolean;
  digest: string | null;
  /** RFC 3339; when the active bundle started serving. */
  activated_at: string | null;
  source: string;
  /** RFC 3339; the last time the source was checked. */
  last_check_at: string | null;
  /** The last refused bundle or failed fetch since the active one was activated; null when none. */
  last_error: { at: string; reason: string; revision: string | null } | null;
  /** Bundles activated since the gateway started (the first included). */
  activations: number;
}

export type CheckOutcome =
  | { outcome: 'activated'; revision: string; previous: string | null }
  | { outcome: 'unchanged' }
  | { outcome: 'rejected'; reason: string; revision: string | null };

export interface BundleFollowerOptions {
  source: BundleSource;
  /** Keys bundles must be signed with; empty: signatures are not checked and there is no anti-rollback. */
  verification: BundleVerification;
  /**
   * Compiles `bundle` into what serves statements and swaps it in; throws (swapping nothing) when it cannot.
   * Runs only after the bundle is verified.
   */
  activate(bundle: PolicyBundle): Promise<void>;
  /**
   * Where the highest signed sequence this gateway has run is kept, so a restart cannot be fed an older
   * bundle either, and beside it (`<statePath>.bundle.tar.gz`) the last bundle activated, which a restart
   * serves until the source offers a newer one (like OPA's bundle persistence); null keeps both in memory only.
   */
  statePath: string | null;
  onActivated?(bundle: PolicyBundle, previous: PolicyBundle | null, source: string): void;
  /** `code`: the refusal's stable code (EngineError's, BundleSourceError's), null when it has none. */
  onRejected?(reason: string, revision: string | null, active: PolicyBundle | null, source: string, code: string | null): void;
  onWarning?(message: string, fields?: Record<string, unknown>): void;
  clock?: () => Date;
}

interface PersistedState {
  revision: string;
  sequence: number;
}

/**
 * Creates a follower; call `check()` once at start (the first bundle), then `start()` to poll and watch.
 *
 * @example
 * const f = createBundleFollower({ source: fileSource('.build/bundle.tar.gz'), verification: { keys }, activate, statePath });
 * await f.check(); f.start(); process.on('SIGHUP', () => void f.check());
 */
export function createBundleFollower(options: BundleFollowerOptions) {
  const clock = options.clock ?? (() => new Date());
  const signedOnly = Object.keys(options.verification.keys).length > 0;
  let active: PolicyBundle | null = null;
  // The source version last fetched, served or refused: a refused bundle is judged (and reported) once.
  let seenVersion: string | null = null;
  let floor: PersistedState | null = readState(options.statePath);
  const status: PolicyStatus = {
    revision: null,
    sequence: null,
    signed_by: null,
    rollback: false,
    digest: null,
    activated_at: null,
    source: options.source.description,
    last_check_at: null,
    last_error: null,
    activations: 0,
  };
  let restored = false;
  let running: Promise<CheckOutcome> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let unwatch: (() => void) | null = null;
  let closed = false;

  function reject(reason: string, revision: string | null, code: string | null): CheckOutcome {
    status.last_error = { at: clock().toISOString(), reason, revision };
    options.onRejected?.(reason, revision, active, options.source.description, code);
    return { outcome: 'rejected', reason, revision };
  }

  /**
   * At start: the bundle this gateway ran last, verified again like any other, so a restart serves it while
   * the source holds nothing newer (or is unreachable, or holds a refused bundle).
   */
  async function restore(): Promise<void> {
    restored = true;
    const path = persistedPath(options.statePath);
    if (!path || !existsSync(path)) return;
    try {
      const bundle = await bundleFromFiles(archiveFiles(readFileSync(path), path), signedOnly ? { verification: options.verification } : {});
      if (signedOnly && floor && bundle.signed && bundle.signed.sequence < floor.sequence) {
        throw new EngineError(
          'BUNDLE_ROLLBACK',
          `its revision ${bundle.revision} (sequence ${bundle.signed.sequence}) is older than revision ${floor.revision} (sequence ${floor.sequence}), which this gateway ran last`,
        );
      }
      await options.activate(bundle);
      active = bundle;
      markActive(bundle);
      options.onActivated?.(bundle, null, `persisted:${path}`);
    } catch (err) {
      options.onWarning?.(`the last activated bundle kept at ${path} is not usable: ${messageOf(err)}`, err instanceof EngineError ? { code: err.code } : undefined);
    }
  }

  function markActive(bundle: PolicyBundle): void {
    Object.assign(status, {
      revision: bundle.revision,
      sequence: bundle.signed?.sequence ?? null,
      signed_by: bundle.signedBy,
      rollback: bundle.signed?.rollback ?? false,
      digest: bundle.digest,
      activated_at: clock().toISOString(),
      last_error: null,
      activations: status.activations + 1,
    });
  }

  async function checkOnce(): Promise<CheckOutcome> {
    if (!restored) await restore();
    status.last_check_at = clock().toISOString();
    let fetched;
    try {
      fetched = await options.source.fetch(seenVersion);
    } catch (err) {
      if (err instanceof BundleSourceError || err instanceof EngineError) return reject(err.message, null, err.code);
      throw err;
    }
    if (!fetched) return { outcome: 'unchanged' };
    seenVersion = fetched.version;
    let bundle: PolicyBundle;
    try {
      bundle = await bundleFromFiles(fetched.files, signedOnly ? { verification: options.verification } : {});
    } catch (err) {
      if (!(err instanceof EngineError)) throw err;
      return reject(err.message, revisionOf(fetched.files), err.code);
    }
    if (active && bundle.digest === active.digest) return { outcome: 'unchanged' }; // the same content again
    const refusal = rollbackRefusal(bundle);
    if (refusal) return reject(refusal, bundle.revision, 'BUNDLE_ROLLBACK' satisfies EngineErrorCode);
    try {
      await options.activate(bundle);
    } catch (err) {
      return reject(`the bundle could not be compiled: ${messageOf(err)}`, bundle.revision, null);
    }
    const previous = active;
    active = bundle;
    markActive(bundle);
    const keep = persistedPath(options.statePath);
    if (keep) {
      try {
        await persist(keep, fetched.files);
      } catch (err) {
        options.onWarning?.(`the active bundle could not be kept at ${keep}: ${messageOf(err)}; a restart will need the source`);
      }
    }
    if (bundle.signed) {
      floor = { revision: bundle.revision, sequence: bundle.signed.sequence };
      try {
        writeState(options.statePath, floor);
      } catch (err) {
        options.onWarning?.(`the policy revision floor could not be saved to ${options.statePath}: ${messageOf(err)}; after a restart an older signed bundle would not be refused`);
      }
    }
    options.onActivated?.(bundle, previous, options.source.description);
    return { outcome: 'activated', revision: bundle.revision, previous: previous?.revision ?? null };
  }

  /** Why a verified bundle must not replace the active one (anti-rollback), or null. */
  function rollbackRefusal(bundle: PolicyBundle): string | null {
    if (!bundle.signed) return null; // unsigned bundles (no keys configured) carry no revision order
    const current = active?.signed ? { revision: active.revision, sequence: active.signed.sequence } : floor;
    if (!current) return null;
    const s = bundle.signed;
    if (s.sequence > current.sequence) return null;
    if (s.sequence === current.sequence && s.revision === current.revision && !active) return null; // restart on the same revision
    const what = s.rollback ? 'a signed rollback' : 'a bundle';
    return `${what} of revision ${s.revision} (sequence ${s.sequence}) is not newer than revision ${current.revision} (sequence ${current.sequence}), which this gateway ${active ? 'runs' : 'ran last'}; an older bundle is refused (sign a rollback with \`verdict policy build --rollback\`, whose sequence is the signing time)`;
  }

  function schedule(): void {
    if (closed || options.source.pollMs === null) return;
    timer = setTimeout(() => {
      void check().finally(schedule);
    }, options.source.pollMs);
    timer.unref();
  }

  /** Checks the source now (coalescing concurrent requests); never throws for a bad bundle. */
  function check(): Promise<CheckOutcome> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let out = await checkOnce();
      while (again && !closed) {
        again = false;
        out = await checkOnce();
      }
      return out;
    })().finally(() => {
      running = null;
    });
    return running;
  }

  return {
    check,
    /** Starts polling (per the source's pollMs) and watching (when the source can). */
    start(): void {
      schedule();
      unwatch = options.source.watch?.(() => void check()) ?? null;
    },
    get active(): PolicyBundle | null {
      return active;
    },
    status(): PolicyStatus {
      return { ...status, last_error: status.last_error && { ...status.last_error } };
    },
    close(): void {
      closed = true;
      if (timer) clearTimeout(timer);
      unwatch?.();
    },
  };
}

export type BundleFollower = ReturnType<typeof createBundleFollower>;

function revisionOf(files: Map<string, Uint8Array>): string | null {
  try {
    const m = JSON.parse(Buffer.from(files.get('.manifest') ?? '').toString('utf8')) as { revision?: unknown };
    return typeof m.revision === 'string' ? m.revision : null;
  } catch {
    return null;
  }
}

function persistedPath(statePath: string | null): string | null {
  return statePath ? `${statePath}.bundle.tar.gz` : null;
}

async function persist(path: string, files: Map<string, Uint8Array>): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, await createTarGzip([...files].map(([name, data]) => ({ name, data }))));
  renameSync(tmp, path);
}

function readState(path: string | null): PersistedState | null {
  if (!path) return null;
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as PersistedState;
    return typeof s.revision === 'string' && Number.isSafeInteger(s.sequence) ? s : null;
  } catch {
    return null;
  }
}

function writeState(path: string | null, state: PersistedState): void {
  if (!path) return;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(state) + '\n');
  renameSync(tmp, path);
}
