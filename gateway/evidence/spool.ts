// The local evidence spool: events are appended to an open batch file with group fsync and acknowledged
// only once durable; batches are sealed by size or age into an outbox that mirrors the repository layout.
import { constants } from 'node:fs';
import { open, readFile, rename, rm, truncate, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { sha256Hex, wellFormed } from '../../engine/canonical.ts';
import { decodeCheckpoint } from '../../engine/evidence/checkpoint.ts';
import { EvidenceError } from '../../engine/evidence/errors.ts';
import { eventProblem, recordProblem, type EvidenceEvent, type EvidenceRecord, type PolicyInputPart } from '../../engine/evidence/events.ts';
import { generateSigningKey, type SigningKey } from '../../engine/evidence/keys.ts';
import { assertStreamId, parseEvidencePath, seqName } from '../../engine/evidence/layout.ts';
import { closingEvents, emptyOpenState, observeRecord, type OpenState } from '../../engine/evidence/open-state.ts';
import { createStreamWriter, EMPTY_POSITION, type StreamPosition } from '../../engine/evidence/writer.ts';
import { ensureDir, fsyncDir, listFiles, lockDir, writeFileDurable } from './durable-fs.ts';
import { currentSigningKey, latestKeySet, loadSigningKey, saveKeySet, saveSigningKey } from './keystore.ts';

// Spool directory (one per stream):
//   LOCK                     pid of the owning process
//   open/<first-seq>.jsonl   the open batch: appended with O_APPEND, fdatasync'd per group
//   outbox/streams/...       sealed batches + checkpoints, at their repository paths, until published
//   outbox/keys/...          key set snapshots, until published
//   head.json                where the chain stood at the last seal (recovery starts here)
//   signing-keys/, keyring/  private keys (0600) and announced key set snapshots
//   quarantine/              bytes recovery had to cut off (kept for forensics, never published)

export interface SpoolOptions {
  /** The spool directory of this stream. */
  dir: string;
  /** Stream (gateway instance) id: lower case letters, digits, . _ - */
  stream: string;
  /** Signing key; default: the spool's own (generated on first use, kept in signing-keys/). */
  key?: SigningKey;
  /**
   * Keys the chain may have announced before `key` (e.g. the previous signing_key_file): when `key` replaces
   * one, the rotation must be signed by it. Keys the spool generated itself are kept in signing-keys/.
   */
  previousKeys?: SigningKey[];
  /** Seal a batch at this many lines (default 1000). */
  batchMaxLines?: number;
  /** Seal an open batch this long after its first line (default 5000 ms). */
  batchMaxAgeMs?: number;
  /**
   * true (default): an append whose event cannot be made durable rejects with SPOOL_UNAVAILABLE, so the
   * gateway refuses the statement. false: it resolves anyway; the loss is counted and recorded as a gap.
   */
  requireDurable?: boolean;
  /** Most events written by one write+fsync (default 4096). */
  maxGroup?: number;
  clock?: () => Date;
  /** Called after a batch was sealed into the outbox (the publish loop wakes up). */
  onSealed?: () => void;
  /** Reports problems the spool handled itself (recovery, failed writes). */
  onWarning?: (message: string, fields?: Record<string, unknown>) => void;
  /** Called after each group of events became durable, with how long its write took (seconds). */
  onDurable?: (seconds: number) => void;
  /**
   * Test seam for fault injection: replaces write+fdatasync of a group. The open batch file is opened with
   * O_DSYNC, so a write alone is already durable when it returns.
   */
  io?: { writeAndSync(fh: FileHandle, data: Buffer): Promise<void> };
}

/** What recovery found and did when the spool was opened. */
export interface RecoveryReport {
  adoptedLines: number;
  discardedBytes: number;
  gapWritten: boolean;
  sealedBatches: number;
  completedSeals: number;
  /**
   * The previous run stopped without its gateway_stop: what recovery closed for it (gateway_unclean_stop,
   * session_end per open session, approval_withdrawn per held request). null after a clean stop.
   */
  uncleanStop: { sessions: string[]; withdrawnApprovals: string[] } | null;
}

export interface SpoolStatus {
  stream: string;
  head: { seq: number; hash: string | null };
  openLines: number;
  /** false after a write failed, until the spool recovered. */
  writable: boolean;
  /** Events that could not be made durable since start. */
  lostEvents: number;
  /** Events appended and not yet written (the spool's queue). */
  pending: number;
  kid: string;
}

interface Pending {
  event: EvidenceEvent;
  /** Policy-input parts a statement event refers to: written before it unless its batch has them already. */
  parts?: readonly PolicyInputPart[] | undefined;
  resolve: () => void;
  /** Called with the event too, so `post` callers need no closure per event. */
  reject: (err: unknown, event: EvidenceEvent) => void;
}

const NOOP = (): void => undefined;

// The open batch is opened O_DSYNC: each write(2) returns once its data (and the size needed to read it
// back) is on disk — the guarantee fdatasync gives — so a group costs one thread-pool round trip instead
// of two (write, then fdatasync). Under bench:gateway (8 clients, ~16 events per group) that halved the
// futex/epoll wake-ups per statement (strace -c) and ~5 µs of system CPU per statement.
const APPEND_DSYNC = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC;

const defaultIo = {
  async writeAndSync(fh: FileHandle, data: Buffer): Promise<void> {
    let off = 0;
    while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
  },
};

/**
 * Opens (and recovers) a spool. Resolves once recovery is done: torn tails cut off (a gap record written
 * for them), unsealed lines sealed, interrupted seals completed, the signing key announced.
 *
 * @example
 * const spool = await openSpool({ dir: '.verdict/evidence/spool/gw-1', stream: 'gw-1' })
 * await spool.append({ type: 'gateway_start', data: { instance: 'gw-1', version: '0.1.0' } }) // durable now
 * await spool.close()
 */
export async function openSpool(options: SpoolOptions): Promise<Spool> {
  assertStreamId(options.stream);
  await ensureDir(options.dir);
  const release = await lockDir(options.dir);
  try {
    const spool = new Spool(options, release);
    await spool.recover(true);
    return spool;
  } catch (err) {
    await release();
    throw err;
  }
}

interface HeadFile {
  v: 1;
  stream: string;
  head: { seq: number; hash: string | null };
  lastTs: string;
  announcedKid: string | null;
  prevCheckpoint: StreamPosition['prevCheckpoint'];
  /** What the stream has open at `head` (absent in spools written before it was kept). */
  open?: OpenState;
}

export class Spool {
  readonly stream: string;
  readonly dir: string;
  readonly requireDurable: boolean;
  recovery: RecoveryReport = { adoptedLines: 0, discardedBytes: 0, gapWritten: false, sealedBatches: 0, completedSeals: 0, uncleanStop: null };

  private writer!: ReturnType<typeof createStreamWriter>;
  /** Sessions, held approvals and the running gateway at the head of the chain (kept in head.json at each seal). */
  private openState: OpenState = emptyOpenState();
  private fh: FileHandle | null = null;
  private openSince = 0;
  private pending: Pending[] = [];
  private flushScheduled = false;
  private readonly flushAllFn = (): Promise<void> => this.flushAll();
  private serialTail: Promise<unknown> = Promise.resolve();
  private failure: unknown = null;
  private failedAt = 0;
  private lostEvents = 0;
  private unrecordedLoss = 0;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly clock: () => Date;
  private readonly maxLines: number;
  private readonly maxAgeMs: number;
  private readonly maxGroup: number;
  /** Hashes of the policy-input parts written in the open batch (whose first seq is partsBatch). */
  private readonly batchParts = new Set<string>();
  private partsBatch: number | null = null;
  private readonly io: NonNullable<SpoolOptions['io']>;

  constructor(
    private readonly options: SpoolOptions,
    private readonly release: () => Promise<void>,
  ) {
    this.stream = options.stream;
    this.dir = options.dir;
    this.requireDurable = options.requireDurable ?? true;
    this.clock = options.clock ?? (() => new Date());
    this.maxLines = options.batchMaxLines ?? 1000;
    this.maxAgeMs = options.batchMaxAgeMs ?? 5000;
    this.maxGroup = options.maxGroup ?? 4096;
    this.io = options.io ?? defaultIo;
  }

  /** The outbox directory: sealed files at their repository paths, waiting to be published. */
  get outbox(): string {
    return join(this.dir, 'outbox');
  }

  /**
   * Appends an event; resolves when it is durable (fdatasync'd) in the spool. Rejects with
   * SPOOL_UNAVAILABLE (require_durable) when it cannot be, EVENT_INVALID for a malformed event.
   *
   * @example
   * await spool.append({ type: 'statement', data: { ... } }) // only now execute the statement
   */
  append(event: EvidenceEvent, parts?: readonly PolicyInputPart[]): Promise<void> {
    const problem = this.refusal(event);
    if (problem) return Promise.reject(problem);
    return new Promise<void>((resolve, reject) => this.enqueue({ event, parts, resolve, reject }));
  }

  /**
   * Appends an event nobody waits for (a statement's result, session events): like `append`, without a
   * promise. `onError(err, event)` runs when the event is refused, or cannot be made durable while
   * require_durable is on (with it off, lost events become a gap record, as with `append`).
   *
   * @example
   * spool.post({ type: 'session_end', data: { ... } }, (err) => log.error('evidence append failed', err))
   */
  post(event: EvidenceEvent, onError: (err: unknown, event: EvidenceEvent) => void, parts?: readonly PolicyInputPart[]): void {
    const problem = this.refusal(event);
    if (problem) return onError(problem, event);
    this.enqueue({ event, parts, resolve: NOOP, reject: onError });
  }

  /** Seals the open batch now (no-op when empty). */
  seal(): Promise<void> {
    return this.serial(() => this.sealOpen());
  }

  /**
   * Switches to a new signing key: seals the open batch with the old key, announces the new one with a
   * key_rotation line and a new key set snapshot (old key's validity closed). Returns the new kid.
   *
   * @example
   * const kid = await spool.rotateKey()
   */
  rotateKey(next?: SigningKey): Promise<string> {
    return this.serial(async () => {
      this.assertWritable();
      await this.sealOpen();
      const k = next ?? (await generateSigningKey());
      if (!this.options.key) await saveSigningKey(this.dir, k);
      this.writer.useKey(k);
      await this.announce();
      return k.kid;
    });
  }

  status(): SpoolStatus {
    const p = this.writer.position;
    return { stream: this.stream, head: p.head, openLines: this.writer.openLines, writable: this.failure === null, lostEvents: this.lostEvents, pending: this.pending.length, kid: this.writer.key.kid };
  }

  /**
   * Flushes pending appends, seals the open batch and releases the spool. Appends after close reject.
   *
   * @example
   * await spool.close()
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.serial(async () => {
      if (this.failure === null) await this.sealOpen().catch(() => undefined);
      await this.fh?.close().catch(() => undefined);
      this.fh = null;
    });
    await this.release();
  }

  // ---- internals -------------------------------------------------------------------------------

  private refusal(event: EvidenceEvent): EvidenceError | null {
    if (this.closed) return new EvidenceError('SPOOL_CLOSED', 'the evidence spool is closed');
    const problem = eventProblem(event?.type, event?.data);
    return problem ? new EvidenceError('EVENT_INVALID', `evidence event rejected: ${problem}`) : null;
  }

  private enqueue(p: Pending): void {
    this.pending.push(p);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      void this.serial(this.flushAllFn);
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.serialTail.then(fn);
    this.serialTail = p.catch(() => undefined);
    return p;
  }

  private assertWritable(): void {
    if (this.failure !== null)
      throw new EvidenceError('SPOOL_UNAVAILABLE', `the evidence spool ${this.dir} cannot be written (${(this.failure as Error).message ?? String(this.failure)}); statements are refused until it recovers`, {
        cause: this.failure,
      });
  }

  private async flushAll(): Promise<void> {
    while (this.pending.length > 0) {
      // Retry the disk at most once a second while it is failing; meanwhile appends fail fast.
      if (this.failure !== null && Date.now() - this.failedAt >= 1000) await this.tryHeal();
      if (this.failure !== null) {
        const group = this.pending.splice(0);
        this.fail(group, this.failure);
        break;
      }
      const room = this.maxLines - this.writer.openLines;
      const taken = this.pending.splice(0, Math.max(1, Math.min(this.maxGroup, room)));
      const { text, group } = this.serialize(taken);
      if (group.length === 0) continue;
      const writeStarted = this.options.onDurable ? performance.now() : 0;
      try {
        await this.writeText(text);
        this.options.onDurable?.((performance.now() - writeStarted) / 1000);
      } catch (err) {
        this.failure = err;
        this.failedAt = Date.now();
        this.options.onWarning?.('evidence spool write failed', { error: (err as Error).message });
        this.fail(group, err);
        continue;
      }
      for (const g of group) g.resolve();
      if (this.writer.openLines >= this.maxLines) await this.sealOpen();
    }
    this.flushScheduled = false;
  }

  private fail(group: Pending[], err: unknown): void {
    this.batchParts.clear(); // what the failed write held may be gone: write parts again

    this.lostEvents += group.length;
    this.unrecordedLoss += group.length;
    const e = new EvidenceError('SPOOL_UNAVAILABLE', `evidence could not be made durable in ${this.dir}: ${(err as Error).message ?? String(err)}`, { cause: err });
    for (const g of group) (this.requireDurable ? g.reject(e, g.event) : g.resolve());
  }

  /**
   * Puts a group's events on the chain. An event JCS cannot represent (a lone surrogate from a malformed
   * client string) is repaired with U+FFFD; one that still fails (NaN in an extra field) is rejected alone.
   */
  private serialize(taken: Pending[]): { text: string; group: Pending[] } {
    const now = this.clock();
    const parts: string[] = [];
    const group: Pending[] = [];
    for (const p of taken) {
      if (p.parts) this.appendParts(p.parts, now, parts);
      let line;
      try {
        line = this.writer.append(p.event, now);
      } catch {
        try {
          line = this.writer.append(wellFormed(p.event), now);
        } catch (err) {
          p.reject(new EvidenceError('EVENT_INVALID', `evidence event cannot be serialized as RFC 8785 JSON: ${(err as Error).message}`, { cause: err }), p.event);
          continue;
        }
      }
      observeRecord(this.openState, line.record);
      parts.push(line.text, '\n');
      group.push(p);
    }
    return { text: parts.join(''), group };
  }

  /**
   * Writes `policy_input` lines for the parts the open batch does not hold yet, so every batch is enough on its
   * own to rebuild the inputs of its statements (docs/evidence-format.md § Policy inputs).
   */
  private appendParts(partsOf: readonly PolicyInputPart[], now: Date, out: string[]): void {
    if (this.writer.openFirstSeq !== this.partsBatch) this.batchParts.clear();
    for (const part of partsOf) {
      if (this.batchParts.has(part.hash)) continue;
      try {
        out.push(this.writer.append({ type: 'policy_input', data: part }, now).text, '\n');
        this.batchParts.add(part.hash);
      } catch {
        // not representable as RFC 8785 JSON: the statement line still records input_hash; replay reports it
      }
    }
    this.partsBatch = this.writer.openFirstSeq;
  }

  /** Serializes events onto the chain and writes them with one write + fdatasync (recovery's own lines). */
  private async writeEvents(events: EvidenceEvent[]): Promise<void> {
    const now = this.clock();
    const lines = events.map((e) => this.writer.append(wellFormed(e), now));
    for (const l of lines) observeRecord(this.openState, l.record);
    await this.writeText(lines.map((l) => l.text + '\n').join(''));
  }

  private async writeText(text: string): Promise<void> {
    if (!this.fh) {
      const first = this.writer.openFirstSeq;
      if (first === null) throw new Error('no open batch');
      await ensureDir(join(this.dir, 'open'));
      this.fh = await open(join(this.dir, 'open', `${seqName(first)}.jsonl`), APPEND_DSYNC);
      await fsyncDir(join(this.dir, 'open'));
      this.openSince = Date.now();
    }
    await this.io.writeAndSync(this.fh, Buffer.from(text, 'utf8'));
  }

  /** After a failed write the chain in memory may be ahead of the disk: rebuild it from the disk. */
  private async tryHeal(): Promise<void> {
    try {
      await this.fh?.close().catch(() => undefined);
      this.fh = null;
      this.failure = null;
      await this.recover();
      this.options.onWarning?.('evidence spool recovered after a write failure', { lost_events: this.lostEvents });
    } catch (err) {
      this.failure = err;
      this.failedAt = Date.now();
    }
  }

  private async sealOpen(): Promise<void> {
    if (this.writer.openLines === 0) return;
    const first = this.writer.openFirstSeq!;
    const sealed = await this.writer.seal(this.clock());
    if (!sealed) return;
    await this.fh?.close();
    this.fh = null;
    // Checkpoint first, then the batch: an open file with a checkpoint in the outbox means "rename me".
    await writeFileDurable(join(this.outbox, sealed.checkpointPath), sealed.checkpoint);
    const target = join(this.outbox, sealed.batchPath);
    await ensureDir(dirname(target));
    await rename(join(this.dir, 'open', `${seqName(first)}.jsonl`), target);
    await fsyncDir(dirname(target));
    await fsyncDir(join(this.dir, 'open'));
    await this.saveHead();
    this.options.onSealed?.();
  }

  private async saveHead(): Promise<void> {
    const p = this.writer.position;
    const head: HeadFile = { v: 1, stream: this.stream, head: p.head, lastTs: p.lastTs, announcedKid: p.announcedKid, prevCheckpoint: p.prevCheckpoint, open: this.openState };
    await writeFileDurable(join(this.dir, 'head.json'), JSON.stringify(head) + '\n');
  }

  private async announce(): Promise<void> {
    const a = await this.writer.announceKey(this.clock());
    observeRecord(this.openState, a.line.record);
    const fromSeq = this.writer.position.head.seq;
    await saveKeySet(this.dir, fromSeq, a.keySet);
    await writeFileDurable(join(this.outbox, a.keySetPath), a.keySet);
    await this.writeText(a.line.text + '\n');
  }

  /**
   * Rebuilds the writer from disk: head.json, newer checkpoints in the outbox, the open batch. `initial`: the
   * spool is being opened by a new process, so a run without gateway_stop before it stopped uncleanly.
   */
  async recover(initial = false): Promise<void> {
    const report: RecoveryReport = { adoptedLines: 0, discardedBytes: 0, gapWritten: false, sealedBatches: 0, completedSeals: 0, uncleanStop: null };
    let position: StreamPosition = { ...EMPTY_POSITION };
    const headFile = await readFile(join(this.dir, 'head.json'), 'utf8').then(
      (t) => JSON.parse(t) as HeadFile,
      () => null,
    );
    if (headFile) position = { head: headFile.head, lastTs: headFile.lastTs, announcedKid: headFile.announcedKid, prevCheckpoint: headFile.prevCheckpoint, keySet: null };
    // The open state is known when head.json kept it (or the stream is new); lines after it are replayed below.
    const saved = headFile ? (headFile.open?.seq === headFile.head.seq ? headFile.open : null) : emptyOpenState();
    let openKnown = saved !== null;
    const openState = saved ?? emptyOpenState();
    const observe = (rec: unknown) => {
      const r = rec as EvidenceRecord;
      if (r.seq > openState.seq) observeRecord(openState, r);
    };

    // A crash between writing a checkpoint and head.json leaves a newer checkpoint in the outbox.
    const outboxFiles = await listFiles(this.outbox);
    const checkpoints = new Map<number, { path: string; bytes: Buffer }>();
    for (const f of outboxFiles) {
      const p = parseEvidencePath(f);
      if (p?.kind === 'checkpoint' && p.stream === this.stream) checkpoints.set(p.firstSeq, { path: f, bytes: await readFile(join(this.outbox, f)) });
    }
    for (const [, c] of [...checkpoints].sort((a, b) => a[0] - b[0])) {
      const d = decodeCheckpoint(c.bytes);
      if (!d.ok || d.payload.batch.last_seq <= position.head.seq) continue;
      // Sealed after head.json was written: its lines move the open state on, if the batch is still here.
      const batch = await readFile(join(this.outbox, d.payload.batch.path)).catch(() => null);
      if (!batch) openKnown = false;
      else for (const line of batch.toString('utf8').split('\n')) if (line) observe(JSON.parse(line));
      position = {
        head: { seq: d.payload.head.seq, hash: d.payload.head.hash },
        lastTs: d.payload.sealed_at > position.lastTs ? d.payload.sealed_at : position.lastTs,
        announcedKid: d.header.kid,
        prevCheckpoint: { path: c.path, sha256: sha256Hex(c.bytes), sealedAt: d.payload.sealed_at, lastSeq: d.payload.batch.last_seq },
        keySet: null,
      };
    }
    position.keySet = await latestKeySet(this.dir, position.head.seq + 1);

    const key = this.options.key ?? (await currentSigningKey(this.dir));
    // Seal recovered lines with the key that was announced for them, when we still hold it.
    const announcedKey =
      position.announcedKid && position.announcedKid !== key.kid
        ? ((this.options.previousKeys ?? []).find((k) => k.kid === position.announcedKid) ?? (await loadSigningKey(this.dir, position.announcedKid)))
        : null;
    // A rotation is vouched for by the key it replaces (docs/evidence-format.md § Keys): without that key the
    // gateway cannot continue this stream under a new key, and says which key it needs.
    if (position.announcedKid && position.announcedKid !== key.kid && !announcedKey)
      throw new EvidenceError(
        'KEY_INVALID',
        `stream ${this.stream} is signed by key ${position.announcedKid}, and the configured signing key is ${key.kid}: the rotation must be signed by ${position.announcedKid}, which is not available. Set evidence.previous_signing_key_file to its private JWK for this start, or start a new stream (evidence.instance)`,
      );
    this.writer = createStreamWriter(this.stream, announcedKey ?? key, position);

    const openDir = join(this.dir, 'open');
    const openFiles = (await listFiles(openDir)).filter((n) => /^\d{12,}\.jsonl$/.test(n)).sort();
    let gap = null as { discarded: number; completeLines: number; quarantined: string } | null;
    for (const name of openFiles) {
      const first = Number(name.slice(0, -6));
      const path = join(openDir, name);
      const cp = checkpoints.get(first);
      const bytes = await readFile(path);
      if (cp) {
        const d = decodeCheckpoint(cp.bytes);
        if (d.ok && sha256Hex(bytes) === d.payload.batch.sha256) {
          // Sealed but not moved: finish the seal.
          const target = join(this.outbox, d.payload.batch.path);
          await ensureDir(dirname(target));
          await rename(path, target);
          await fsyncDir(dirname(target));
          report.completedSeals++;
          continue;
        }
      }
      if (first <= this.writer.position.head.seq) {
        // Left over from a seal whose batch already reached the outbox (or was published): not ours to keep.
        await this.quarantine(name, bytes);
        await rm(path);
        continue;
      }
      let good = 0;
      let off = 0;
      while (off < bytes.length) {
        const nl = bytes.indexOf(0x0a, off);
        if (nl < 0) break;
        const text = bytes.subarray(off, nl).toString('utf8');
        let rec: unknown;
        try {
          rec = JSON.parse(text);
        } catch {
          break;
        }
        if (recordProblem(rec) !== null || !this.writer.adopt(text, rec as Parameters<typeof this.writer.adopt>[1])) break;
        observe(rec);
        report.adoptedLines++;
        off = nl + 1;
        good = off;
      }
      if (good < bytes.length) {
        const cut = bytes.subarray(good);
        const quarantined = await this.quarantine(name, cut);
        let completeLines = 0;
        for (const b of cut) if (b === 0x0a) completeLines++;
        gap = { discarded: (gap?.discarded ?? 0) + cut.length, completeLines: (gap?.completeLines ?? 0) + completeLines, quarantined };
        await truncate(path, good);
        const fh = await open(path, 'r+');
        await fh.sync();
        await fh.close();
        report.discardedBytes += cut.length;
      }
      if (good === 0) {
        await rm(path);
        await fsyncDir(openDir);
      } else this.fh = await open(path, APPEND_DSYNC);
    }

    this.openState = openState;
    // What the previous run left open, as it stood when it stopped (before recovery writes lines of its own).
    const unclean = initial && openKnown && openState.running ? (structuredClone(openState) as OpenState) : null;
    if (initial && !openKnown)
      this.options.onWarning?.('evidence spool: cannot tell whether the previous run stopped cleanly (its state predates this version or was published before it was saved)');

    if (this.writer.needsAnnouncement || announcedKey) {
      // The open batch is sealed by the key its lines announced last: the recovered rotation's key when the
      // crash came right after a rotation line, else the key the chain announced before.
      if (this.writer.position.announcedKid === key.kid) this.writer.useKey(key);
      if (announcedKey && this.writer.openLines > 0) await this.sealOpen();
      this.writer.useKey(key);
      if (this.writer.needsAnnouncement) await this.announce();
    }
    const lost = this.unrecordedLoss;
    if (gap || lost > 0) {
      const after = this.writer.position.head.seq;
      const detail = gap
        ? `recovery cut ${gap.discarded} byte(s) off the open batch (${gap.completeLines} complete but unchainable line(s), the rest a torn write); they were never acknowledged; kept in ${gap.quarantined}`
        : `${lost} event(s) could not be written to the spool`;
      await this.writeEvents([
        {
          type: 'gap',
          data: {
            reason: lost > 0 ? 'spool_write_failed' : gap!.completeLines > 0 ? 'spool_corrupt' : 'torn_tail',
            after_seq: after,
            lost_events: lost > 0 ? lost : null,
            discarded_bytes: gap?.discarded ?? 0,
            detail: lost > 0 && gap ? `${lost} event(s) could not be written to the spool; ${detail}` : detail,
          },
        },
      ]);
      this.unrecordedLoss = 0;
      report.gapWritten = true;
    }
    if (unclean) {
      // Nothing is left dangling: the stop, each open session and each held approval get an explicit end.
      await this.writeEvents(
        closingEvents(unclean, 'the previous run of this gateway stopped without recording its stop (killed, crashed or lost power); recorded when the gateway started again'),
      );
      report.uncleanStop = { sessions: Object.keys(unclean.sessions), withdrawnApprovals: Object.keys(unclean.held) };
      this.options.onWarning?.('evidence: the previous run stopped uncleanly; its open sessions and held approvals were closed', {
        sessions: report.uncleanStop.sessions.length,
        approvals: report.uncleanStop.withdrawnApprovals.length,
      });
    }
    if (this.writer.openLines > 0 && (report.adoptedLines > 0 || report.gapWritten || unclean)) {
      await this.sealOpen();
      report.sealedBatches++;
    }
    this.recovery = report;
    if (report.discardedBytes > 0 || report.completedSeals > 0) this.options.onWarning?.('evidence spool recovered', { ...report });
    if (!this.timer) {
      this.timer = setInterval(() => {
        if (this.writer.openLines > 0 && Date.now() - this.openSince >= this.maxAgeMs && !this.closed) void this.seal().catch(() => undefined);
      }, Math.max(10, Math.min(1000, Math.floor(this.maxAgeMs / 4))));
      this.timer.unref();
    }
    if (report.sealedBatches > 0 || report.completedSeals > 0) this.options.onSealed?.();
  }

  private async quarantine(name: string, bytes: Uint8Array): Promise<string> {
    const path = join(this.dir, 'quarantine', `${name}.${Date.now()}.bin`);
    await writeFileDurable(path, bytes);
    return path;
  }
}
