// The gateway's evidence writer: spool (durability) + publish loop (git) behind one small API, and the
// `evidence:` section of verdict.yaml it is built from. This is what the gateway wires in.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { JWK } from 'jose';
import { z } from 'zod';
import { EvidenceError } from '../../engine/evidence/errors.ts';
import type { EvidenceEvent, GatewayStart, PolicyInputPart } from '../../engine/evidence/events.ts';
import { signingKeyFromJwk, type SigningKey } from '../../engine/evidence/keys.ts';
import { auditorKey, type AuditorKey } from '../../engine/evidence/response.ts';
import { keySetPath, STREAM_ID } from '../../engine/evidence/layout.ts';
import { createLocalGitPublisher } from './local-git.ts';
import { startPublishLoop, type PublishLoop, type PublishStatus } from './publish-loop.ts';
import type { EvidencePublisher } from './publisher.ts';
import { openSpool, type RecoveryReport, type SpoolStatus, type SpoolOptions } from './spool.ts';

/**
 * The `evidence:` section of verdict.yaml. Plug it into gateway/config/schema.ts as
 * `evidence: evidenceConfigSchema.default({})`.
 */
export const evidenceConfigSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Stream id of this gateway instance (one chain per instance); default: the host name, sanitized. */
  instance: z.string().regex(STREAM_ID, 'lower case letters, digits, . _ - (max 63)').optional(),
  /** Spool root; each instance uses <spool_dir>/<instance>. */
  spool_dir: z.string().default('.verdict/evidence/spool'),
  /** Refuse statements whose evidence cannot be made durable (fail closed). */
  require_durable: z.boolean().default(true),
  batch: z
    .strictObject({ max_lines: z.number().int().min(1).max(100_000).default(1000), max_age_ms: z.number().int().min(10).default(5000) })
    .default({ max_lines: 1000, max_age_ms: 5000 }),
  /** File with the private Ed25519 JWK that signs checkpoints; default: a key generated in the spool. */
  signing_key_file: z.string().optional(),
  /**
   * The private JWK of the key signing_key_file replaces, for the start that rotates to the new key: the
   * rotation is signed by the key it replaces (docs/evidence-format.md § Keys). Remove it afterwards.
   */
  previous_signing_key_file: z.string().optional(),
  /**
   * Files with the auditors' public JWKs (EC, X25519 or RSA). Rows a decision asks to keep (capture_rows) are
   * encrypted to all of them; without any, only the digest of each result is kept.
   */
  auditor_keys: z.array(z.string()).default([]),
  publisher: z
    .discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('local-git'), repo: z.string().default('.verdict/evidence/repo'), branch: z.string().default('main') }),
      z.strictObject({ kind: z.literal('none') }),
      z.strictObject({
        kind: z.literal('github'),
        owner: z.string().min(1),
        repo: z.string().min(1),
        branch: z.string().default('main'),
        /** https://api.github.com by default; GitHub Enterprise Server: https://ghe.example.com/api/v3 */
        base_url: z.string().url().optional(),
        /** A token (env/file), or a GitHub App installation: app_id, installation_id and its private key. */
        token: z.union([z.strictObject({ env: z.string() }), z.strictObject({ file: z.string() })]).optional(),
        app: z
          .strictObject({
            app_id: z.number().int().positive(),
            installation_id: z.number().int().positive(),
            private_key: z.union([z.strictObject({ env: z.string() }), z.strictObject({ file: z.string() })]),
          })
          .optional(),
      }),
    ])
    .default({ kind: 'local-git', repo: '.verdict/evidence/repo', branch: 'main' }),
  max_batches_per_commit: z.number().int().min(1).max(1000).default(20),
});
export type EvidenceConfig = z.infer<typeof evidenceConfigSchema>;

export interface EvidenceWriterOptions {
  stream: string;
  /** This stream's spool directory. */
  spoolDir: string;
  requireDurable?: boolean;
  batchMaxLines?: number;
  batchMaxAgeMs?: number;
  signingKey?: SigningKey;
  /** Keys `signingKey` may replace; the rotation to it is signed by the one the chain announced last. */
  previousKeys?: SigningKey[];
  /** The auditors' public keys captured rows are encrypted to. */
  auditorKeys?: AuditorKey[];
  /** Where sealed batches go; null keeps them in the spool's outbox. */
  publisher?: EvidencePublisher | null;
  maxBatchesPerCommit?: number;
  clock?: () => Date;
  /** Appended right after opening (recovery runs first). */
  start?: GatewayStart;
  onWarning?: (message: string, fields?: Record<string, unknown>) => void;
  /** Called after each group of events became durable, with how long its write took (seconds; metrics). */
  onDurable?: (seconds: number) => void;
  /** Fault injection in tests: the spool's group write (SpoolOptions.io). */
  io?: SpoolOptions['io'];
}

export interface EvidenceWriterStatus extends SpoolStatus {
  publish: PublishStatus | null;
}

export interface EvidenceWriter {
  readonly stream: string;
  /** The auditors' public keys captured rows are encrypted to (empty: rows are never kept, only digests). */
  readonly auditorKeys?: readonly AuditorKey[];
  readonly requireDurable: boolean;
  /** What crash recovery found when the writer was opened. */
  readonly recovery: RecoveryReport;
  /**
   * Appends an event; resolves once it is durable in the spool. With require_durable it rejects with
   * EvidenceError SPOOL_UNAVAILABLE when it cannot be: refuse the statement.
   */
  append(event: EvidenceEvent, parts?: readonly PolicyInputPart[]): Promise<void>;
  /**
   * Appends an event nobody waits for (statement results, session and approval events) without a promise
   * per event; `onError(err, event)` runs when it is refused or cannot be made durable (require_durable).
   * Optional so that stand-in writers (tests) need only `append`; callers fall back to it.
   */
  post?(event: EvidenceEvent, onError: (err: unknown, event: EvidenceEvent) => void, parts?: readonly PolicyInputPart[]): void;
  /**
   * Work that will append an event once it finishes (rows being encrypted for a statement_response): close()
   * waits for it before recording the stop, so no such event is lost to shutdown.
   */
  track?(work: Promise<unknown>): void;
  /** Seals the open batch now and waits (up to timeoutMs) until the outbox is published; true when it is. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Rotates the checkpoint signing key (key_rotation line + new key set); returns the new kid. */
  rotateKey(next?: SigningKey): Promise<string>;
  status(): EvidenceWriterStatus;
  /** Appends gateway_stop, seals, publishes (waiting up to publishTimeoutMs, default 10 s), releases the spool. */
  close(options?: { reason?: string; publishTimeoutMs?: number }): Promise<void>;
}

/**
 * Opens the evidence writer of one gateway instance (recovering its spool) and starts publishing.
 *
 * @example
 * const evidence = await createEvidenceWriter({ stream: 'gw-1', spoolDir: '/var/lib/verdict/spool/gw-1',
 *   publisher: createLocalGitPublisher({ repo: '/var/lib/verdict/evidence.git' }) })
 * await evidence.append({ type: 'statement', data: { ... } })   // before executing the statement
 * await evidence.close({ reason: 'shutdown' })
 */
export async function createEvidenceWriter(options: EvidenceWriterOptions): Promise<EvidenceWriter> {
  let loop: PublishLoop | null = null;
  const spool = await openSpool({
    dir: options.spoolDir,
    stream: options.stream,
    ...(options.signingKey ? { key: options.signingKey } : {}),
    ...(options.previousKeys ? { previousKeys: options.previousKeys } : {}),
    requireDurable: options.requireDurable ?? true,
    batchMaxLines: options.batchMaxLines ?? 1000,
    batchMaxAgeMs: options.batchMaxAgeMs ?? 5000,
    ...(options.clock ? { clock: options.clock } : {}),
    onSealed: () => loop?.notify(),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    ...(options.onDurable ? { onDurable: options.onDurable } : {}),
    ...(options.io ? { io: options.io } : {}),
  });
  if (options.publisher)
    loop = startPublishLoop({
      outbox: spool.outbox,
      publisher: options.publisher,
      maxBatchesPerCommit: options.maxBatchesPerCommit ?? 20,
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    });
  loop?.notify(); // publish whatever recovery found in the outbox
  const inFlight = new Set<Promise<unknown>>();
  if (options.start) await spool.append({ type: 'gateway_start', data: options.start });

  return {
    stream: spool.stream,
    auditorKeys: options.auditorKeys ?? [],
    requireDurable: spool.requireDurable,
    recovery: spool.recovery,
    append: (event, parts) => spool.append(event, parts),
    post: (event, onError, parts) => spool.post(event, onError, parts),
    async flush(timeoutMs = 10_000) {
      await spool.seal();
      return loop ? loop.drain(timeoutMs) : true;
    },
    rotateKey: (next) => spool.rotateKey(next),
    track(work) {
      const p = work.finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    status: () => ({ ...spool.status(), publish: loop?.status() ?? null }),
    async close(opts = {}) {
      await Promise.allSettled([...inFlight]);
      await spool.append({ type: 'gateway_stop', data: { reason: opts.reason ?? 'shutdown' } }).catch(() => undefined);
      await spool.close();
      if (loop) {
        await loop.drain(opts.publishTimeoutMs ?? 10_000);
        await loop.stop();
      }
    },
  };
}

/**
 * The stream this instance writes: one chain per gateway instance, kept across restarts by its spool. When the
 * spool is new but the repository already has a stream of this instance (the spool was lost: a replaced
 * volume, a pod rescheduled without its disk), a chain can neither continue (its head is gone) nor start
 * over under the same id (its files exist): the instance takes the next free id, `<instance>.2`, `.3`, …
 * An existing spool is always continued, so the choice is stable across restarts.
 */
export async function chooseStream(spoolRoot: string, instance: string, publisher: EvidencePublisher | null, warn?: EvidenceWriterOptions['onWarning']): Promise<string> {
  const ids = (n: number) => (n === 1 ? instance : `${instance}.${n}`);
  let existing: string | null = null;
  for (let n = 1; n < 1000; n++) {
    const dir = join(spoolRoot, ids(n));
    if (existsSync(dir) && readdirSync(dir).length > 0) existing = ids(n);
    else if (n > 1 && existing === null) break;
  }
  if (existing) return existing;
  if (!publisher) return instance;
  for (let n = 1; n < 1000; n++) {
    const id = ids(n);
    if (!STREAM_ID.test(id)) break;
    let taken: boolean;
    try {
      taken = (await publisher.read(keySetPath(id, 1))) !== null;
    } catch (err) {
      // The repository cannot be read now: a time-based id cannot collide with a lost chain's.
      const fallback = `${instance}.${Date.now()}`;
      warn?.('evidence repository unreadable at start; a new spool takes a fresh stream id', { stream: fallback, error: (err as Error).message });
      return STREAM_ID.test(fallback) ? fallback : instance;
    }
    if (!taken) {
      if (n > 1) warn?.('the evidence spool is new but the repository already holds this instance\'s stream (its spool was lost): starting a new stream', { instance, stream: id });
      return id;
    }
  }
  return `${instance}.${Date.now()}`;
}

/** A stream id from a host name: lower case, other characters as '-'. */
export function defaultInstanceId(host = hostname()): string {
  const id = host.toLowerCase().replace(/[^a-z0-9._-]/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 63);
  return id || 'gateway';
}

/**
 * Builds the writer from the `evidence:` config section (paths relative to `baseDir`); appends gateway_start.
 * Returns null when evidence is disabled.
 *
 * @example
 * const evidence = await createEvidenceWriterFromConfig(config.evidence, { baseDir: dirname(configPath), version: '0.1.0' })
 */
export async function createEvidenceWriterFromConfig(
  config: EvidenceConfig,
  context: { baseDir?: string; version: string; publisher?: EvidencePublisher; onWarning?: EvidenceWriterOptions['onWarning']; onDurable?: EvidenceWriterOptions['onDurable']; configHash?: string | null },
): Promise<EvidenceWriter | null> {
  if (!config.enabled) return null;
  const base = context.baseDir ?? process.cwd();
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const instance = config.instance ?? defaultInstanceId();
  const publisher = context.publisher ?? (config.publisher.kind === 'local-git' ? createLocalGitPublisher({ repo: at(config.publisher.repo), branch: config.publisher.branch }) : null);
  const stream = await chooseStream(at(config.spool_dir), instance, publisher, context.onWarning);
  const readKey = async (field: string, file: string): Promise<SigningKey> => {
    let jwk: JWK;
    try {
      jwk = JSON.parse(readFileSync(at(file), 'utf8')) as JWK;
    } catch (err) {
      throw new EvidenceError('KEY_INVALID', `evidence.${field} ${file}: ${(err as Error).message}`, { cause: err });
    }
    return signingKeyFromJwk(jwk);
  };
  const signingKey = config.signing_key_file ? await readKey('signing_key_file', config.signing_key_file) : undefined;
  const previousKey = config.previous_signing_key_file ? await readKey('previous_signing_key_file', config.previous_signing_key_file) : undefined;
  const auditorKeys: AuditorKey[] = [];
  for (const file of config.auditor_keys) {
    try {
      auditorKeys.push(await auditorKey(JSON.parse(readFileSync(at(file), 'utf8')) as JWK));
    } catch (err) {
      throw new EvidenceError('KEY_INVALID', `evidence.auditor_keys ${file}: ${(err as Error).message}`, { cause: err });
    }
  }
  return createEvidenceWriter({
    stream,
    spoolDir: join(at(config.spool_dir), stream),
    requireDurable: config.require_durable,
    batchMaxLines: config.batch.max_lines,
    batchMaxAgeMs: config.batch.max_age_ms,
    ...(signingKey ? { signingKey } : {}),
    ...(previousKey ? { previousKeys: [previousKey] } : {}),
    auditorKeys,
    publisher,
    maxBatchesPerCommit: config.max_batches_per_commit,
    start: { instance: stream, version: context.version, pid: process.pid, host: hostname(), config_hash: context.configHash ?? null },
    ...(context.onWarning ? { onWarning: context.onWarning } : {}),
    ...(context.onDurable ? { onDurable: context.onDurable } : {}),
  });
}
