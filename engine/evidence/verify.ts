// The verifier: a pure function over the repository's files (path → bytes) that re-derives every hash,
// link, signature and cross-reference and returns findings that keep the evidence (docs/evidence-format.md § Verification).
import { canonicalJson, isCanonicalJson, sha256Hex } from '../canonical.ts';
import { rebuildInput } from '../policy/input.ts';
import { decodeCheckpoint, verifyCheckpointSignature } from './checkpoint.ts';
import { finding, type Finding } from './errors.ts';
import { recordProblem, type EvidenceRecord, type StatementDecided } from './events.ts';
import { mergeKeySets, publicKeyOf, type RingKey } from './keys.ts';
import { ROTATION_RULE, rotationProblem } from './rotation.ts';
import { batchPath, checkpointOf, isEvidenceArea, keySetPath, parseEvidencePath } from './layout.ts';

/** What the verifier reads: a Map<string, Uint8Array> fits; so does a lazy reader over a directory. */
export interface FileSource {
  keys(): Iterable<string>;
  get(path: string): Uint8Array | undefined;
}

/** A stream head recorded earlier (e.g. from a previous report's `heads`): the stream must still contain it. */
export type RecordedHeads = Record<string, { seq: number; hash: string }>;

export interface VerifyOptions {
  /** Heads recorded by an earlier verification: detects rewritten or truncated history. */
  recordedHeads?: RecordedHeads;
  /**
   * Keys pinned out of band (RFC 7638 thumbprints, e.g. each stream's first key): every checkpoint must be
   * signed by a pinned key or by a key a pinned key endorsed through signed rotations.
   */
  pinnedThumbprints?: string[];
  /** Called for every well-formed line, in chain order per stream (replay and reports use it). */
  onRecord?: (record: EvidenceRecord, file: string, line: number) => void;
  /** Called after each batch with files done / files total. */
  onProgress?: (done: number, total: number) => void;
}

export interface StreamSummary {
  stream: string;
  lines: number;
  batches: number;
  checkpoints: number;
  head: { seq: number; hash: string | null };
  first_ts: string | null;
  last_ts: string | null;
  /** Key ids that signed this stream's checkpoints. */
  kids: string[];
  gaps: number;
  /**
   * The stream's trust anchor: the key its first key_rotation line announced. Every later key is vouched
   * for by signed rotations from it, so pinning this thumbprint (--pin) pins the whole stream.
   */
  anchor: { kid: string; thumbprint: string } | null;
}

export interface VerifyReport {
  /** No error findings (warnings such as recorded gaps may exist). */
  ok: boolean;
  /** No findings at all. */
  clean: boolean;
  findings: Finding[];
  streams: StreamSummary[];
  files: number;
  lines: number;
  /** The chain heads now: record them and pass them as recordedHeads next time. */
  heads: RecordedHeads;
}

interface StreamFiles {
  batches: Map<number, string>;
  checkpoints: Map<number, string>;
  keySets: { path: string; fromSeq: number }[];
}

interface ApprovalFacts {
  refs: { id: string; file: string; line: number; stream: string; seq: number }[];
  granted: Set<string>;
  rejected: Set<string>;
  expired: Set<string>;
  withdrawn: Set<string>;
  /** Decision ids of statement lines, and responses that refer to one. */
  decisions: Set<string>;
  responses: { id: string; file: string; line: number; stream: string; seq: number }[];
}

/**
 * Verifies an evidence repository given as its files. Never throws on bad evidence: everything wrong is
 * a finding with file, line and the compared values. `ok` is false when any finding is an error.
 *
 * @example
 * const report = await verifyEvidence(new Map([[path, bytes], ...]), { recordedHeads: previous.heads })
 * for (const f of report.findings) console.log(`${f.file}:${f.line ?? ''} ${f.code} ${f.message}`)
 */
export async function verifyEvidence(files: FileSource, options: VerifyOptions = {}): Promise<VerifyReport> {
  const findings: Finding[] = [];
  const streams = new Map<string, StreamFiles>();
  let fileCount = 0;
  for (const path of files.keys()) {
    if (!isEvidenceArea(path)) continue;
    fileCount++;
    const p = parseEvidencePath(path);
    if (!p) {
      findings.push(finding('UNEXPECTED_FILE', path, 'this path is not part of the evidence layout'));
      continue;
    }
    let s = streams.get(p.stream);
    if (!s) streams.set(p.stream, (s = { batches: new Map(), checkpoints: new Map(), keySets: [] }));
    if (p.kind === 'keys') s.keySets.push({ path, fromSeq: p.fromSeq });
    else {
      const map = p.kind === 'batch' ? s.batches : s.checkpoints;
      const other = map.get(p.firstSeq);
      if (other) findings.push(finding('PATH_MISMATCH', path, `a second file for first seq ${p.firstSeq} (also ${other})`, { stream: p.stream, seq: p.firstSeq }));
      else map.set(p.firstSeq, path);
    }
  }

  const approvals: ApprovalFacts = { refs: [], granted: new Set(), rejected: new Set(), expired: new Set(), withdrawn: new Set(), decisions: new Set(), responses: [] };
  const summaries: StreamSummary[] = [];
  const heads: RecordedHeads = {};
  const progress = { done: 0, total: fileCount, report: options.onProgress };
  let totalLines = 0;
  for (const stream of [...streams.keys()].sort()) {
    const summary = await verifyStream(stream, streams.get(stream)!, files, options, findings, approvals, progress);
    summaries.push(summary);
    totalLines += summary.lines;
    if (summary.head.hash) heads[stream] = { seq: summary.head.seq, hash: summary.head.hash };
  }

  for (const [stream, rec] of Object.entries(options.recordedHeads ?? {})) {
    if (!streams.has(stream))
      findings.push(finding('RECORDED_HEAD_MISSING', '', `stream ${stream} was recorded at seq ${rec.seq} but is no longer in the repository`, { stream, seq: rec.seq, expected: rec.hash, computed: null }));
  }

  for (const ref of approvals.refs) {
    if (!approvals.granted.has(ref.id))
      findings.push(
        finding('APPROVAL_REFERENCE_MISSING', ref.file, `statement relies on approval ${ref.id}, but no approval_granted event for it is in the repository`, {
          line: ref.line,
          stream: ref.stream,
          seq: ref.seq,
        }),
      );
  }
  for (const r of approvals.responses)
    if (!approvals.decisions.has(r.id))
      findings.push(finding('RESPONSE_DECISION_MISSING', r.file, `a response refers to decision ${r.id}, which no statement line records`, { line: r.line, stream: r.stream, seq: r.seq }));
  for (const id of approvals.granted) {
    if (approvals.rejected.has(id) || approvals.expired.has(id) || approvals.withdrawn.has(id))
      findings.push(
        finding('APPROVAL_STATE_CONFLICT', '', `approval ${id} is recorded as granted and also as ${approvals.rejected.has(id) ? 'rejected' : approvals.expired.has(id) ? 'expired' : 'withdrawn'}`),
      );
  }

  const ok = !findings.some((f) => f.severity === 'error');
  return { ok, clean: findings.length === 0, findings, streams: summaries, files: fileCount, lines: totalLines, heads };
}

/**
 * A statement's kept input (its parts in the batch, its text, its now) must hash to the input_hash it was
 * decided with: then replaying it re-evaluates exactly what the policy saw.
 */
function checkInput(d: StatementDecided, inputs: Map<string, Record<string, unknown>>, findings: Finding[], at: { file: string; line: number; stream: string; seq: number }): void {
  const ref = d.input!;
  const context = typeof ref?.context === 'string' ? inputs.get(ref.context) : undefined;
  const statement = typeof ref?.statement === 'string' ? inputs.get(ref.statement) : undefined;
  if (!context || !statement || typeof ref.now !== 'string') {
    findings.push(finding('POLICY_INPUT_MISSING', at.file, `the statement refers to policy input parts its batch does not hold (${!context ? `context ${ref?.context}` : `statement ${ref?.statement}`})`, { line: at.line, stream: at.stream, seq: at.seq }));
    return;
  }
  let computed: string;
  try {
    computed = sha256Hex(canonicalJson(rebuildInput(context, statement, d.text, ref.now)));
  } catch {
    computed = 'unrepresentable';
  }
  if (computed !== d.input_hash)
    findings.push(finding('POLICY_INPUT_MISMATCH', at.file, 'the kept policy input does not hash to the input_hash the statement was decided with', { line: at.line, stream: at.stream, seq: at.seq, expected: d.input_hash, computed }));
}

async function verifyStream(
  stream: string,
  sf: StreamFiles,
  files: FileSource,
  options: VerifyOptions,
  findings: Finding[],
  approvals: ApprovalFacts,
  progress: { done: number; total: number; report: ((done: number, total: number) => void) | undefined },
): Promise<StreamSummary> {
  const { ring, findings: keyFindings } = mergeKeySets(
    stream,
    sf.keySets.map((k) => ({ ...k, bytes: files.get(k.path) ?? new Uint8Array() })),
  );
  findings.push(...keyFindings);
  const keySetPaths = new Set(sf.keySets.map((k) => k.path));
  const pinned = options.pinnedThumbprints ? new Set(options.pinnedThumbprints) : null;
  const recorded = options.recordedHeads?.[stream];
  let recordedSeen: string | null = null;

  // Chain state carried across batches: after a break we resynchronise on the line we found, so each
  // break is reported once instead of cascading through every later line.
  let seq = 0;
  let hash: string | null = null;
  let lastTs = '';
  let firstTs: string | null = null;
  let currentKid: string | null = null;
  let anchor: { kid: string; thumbprint: string } | null = null;
  // Once a key_rotation line declares ROTATION_RULE, every later rotation of the stream must be endorsed.
  let endorsedRotations = false;
  // Keys trusted from the pins: pinned ones, and those a trusted key endorsed (only tracked with pins).
  const trustedKids = new Set<string>();
  let prevCp: { path: string; sha256: string; sealedAt: string; lastSeq: number } | null = null;
  let lines = 0;
  let gaps = 0;
  const kids = new Set<string>();
  const units = [...new Set([...sf.batches.keys(), ...sf.checkpoints.keys()])].sort((a, b) => a - b);
  let batchCount = 0;

  for (const firstSeq of units) {
    const bPath = sf.batches.get(firstSeq);
    const cPath = sf.checkpoints.get(firstSeq);
    let computed: { sha256: string; lines: number; firstSeq: number; head: { seq: number; hash: string | null }; lastTs: string } | null = null;

    if (bPath !== undefined) {
      batchCount++;
      const bytes = files.get(bPath) ?? new Uint8Array();
      const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const startSeq = seq;
      let count = 0;
      let start = 0;
      // policy_input parts of this batch by hash: a statement's input is rebuilt from its own batch.
      const inputs = new Map<string, Record<string, unknown>>();
      let lineNo = 0;
      if (buf.length > 0 && buf[buf.length - 1] !== 0x0a)
        findings.push(finding('FILE_NOT_NEWLINE_TERMINATED', bPath, 'the file does not end with a newline (truncated?)', { stream }));
      while (start < buf.length) {
        let end = buf.indexOf(0x0a, start);
        if (end < 0) end = buf.length;
        const raw = buf.subarray(start, end);
        start = end + 1;
        lineNo++;
        count++;
        const lh = sha256Hex(raw);
        const text = raw.toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          findings.push(finding('LINE_NOT_JSON', bPath, `not JSON: ${(err as Error).message}`, { line: lineNo, stream }));
          seq++;
          hash = lh;
          continue;
        }
        const problem = recordProblem(parsed);
        if (problem) {
          findings.push(finding('LINE_SCHEMA', bPath, problem, { line: lineNo, stream }));
          const r = parsed as { seq?: unknown };
          seq = typeof r?.seq === 'number' && Number.isSafeInteger(r.seq) ? r.seq : seq + 1;
          hash = lh;
          continue;
        }
        const rec = parsed as EvidenceRecord;
        if (!isCanonicalJson(text, rec))
          findings.push(finding('LINE_NOT_CANONICAL', bPath, 'the line is not the RFC 8785 canonical JSON of its record', { line: lineNo, stream, seq: rec.seq }));
        if (rec.stream !== stream)
          findings.push(finding('LINE_STREAM_MISMATCH', bPath, `the line names stream ${rec.stream}`, { line: lineNo, stream, seq: rec.seq, expected: stream, computed: rec.stream }));
        if (rec.seq !== seq + 1)
          findings.push(finding('SEQ_MISMATCH', bPath, `expected seq ${seq + 1}, found ${rec.seq}`, { line: lineNo, stream, seq: rec.seq, expected: seq + 1, computed: rec.seq }));
        if (rec.prev !== hash)
          findings.push(
            finding('PREV_HASH_MISMATCH', bPath, `prev is not the hash of the line before it (seq ${seq}) as that line is now`, { line: lineNo, stream, seq: rec.seq, expected: rec.prev, computed: hash }),
          );
        if (rec.ts < lastTs)
          findings.push(finding('TIME_REGRESSION', bPath, `ts goes back from ${lastTs}`, { line: lineNo, stream, seq: rec.seq, expected: `>= ${lastTs}`, computed: rec.ts }));
        if (lineNo === 1) {
          const want = batchPath(stream, rec.seq, rec.ts);
          if (want !== bPath) findings.push(finding('PATH_MISMATCH', bPath, `the first line (seq ${rec.seq}, ${rec.ts}) belongs at ${want}`, { line: 1, stream, seq: rec.seq, expected: want, computed: bPath }));
        }
        if (recorded && rec.seq === recorded.seq) recordedSeen = lh;
        seq = rec.seq;
        hash = lh;
        if (rec.ts > lastTs) lastTs = rec.ts;
        firstTs ??= rec.ts;

        switch (rec.type) {
          case 'key_rotation': {
            const d = rec.data;
            const key = ring.get(d.kid);
            if (!key)
              findings.push(finding('KEY_UNKNOWN', bPath, `key ${d.kid} announced here is in no key set of stream ${stream}`, { line: lineNo, stream, seq: rec.seq }));
            else if (key.thumbprint !== d.thumbprint)
              findings.push(
                finding('KEY_THUMBPRINT_MISMATCH', bPath, `the published key ${d.kid} is not the key the chain announced`, { line: lineNo, stream, seq: rec.seq, expected: d.thumbprint, computed: key.thumbprint }),
              );
            const wantKeys = keySetPath(stream, rec.seq);
            if (d.keys_path !== wantKeys || !keySetPaths.has(wantKeys))
              findings.push(
                finding('KEY_SET_INCONSISTENT', bPath, `the key set announced with this rotation is not at ${wantKeys}`, { line: lineNo, stream, seq: rec.seq, expected: wantKeys, computed: d.keys_path }),
              );
            if (currentKid === null) {
              anchor ??= { kid: d.kid, thumbprint: d.thumbprint };
              if (pinned?.has(d.thumbprint)) trustedKids.add(d.kid);
            } else {
              const endorsed = await checkRotation(rec.seq, d, currentKid, ring, endorsedRotations || d.rotations === ROTATION_RULE, stream, bPath, lineNo, findings);
              if (pinned && ((endorsed && trustedKids.has(currentKid)) || pinned.has(d.thumbprint))) trustedKids.add(d.kid);
            }
            if (d.rotations === ROTATION_RULE) endorsedRotations = true;
            currentKid = d.kid;
            break;
          }
          case 'gap':
            gaps++;
            findings.push(
              finding('GAP_RECORDED', bPath, `the writer recorded a gap after seq ${rec.data.after_seq} (${rec.data.reason}): ${rec.data.detail}`, {
                line: lineNo,
                stream,
                seq: rec.seq,
                computed: rec.data.lost_events,
              }),
            );
            break;
          case 'statement':
            approvals.decisions.add(rec.data.decision_id);
            if (rec.data.approval) approvals.refs.push({ id: rec.data.approval.request_id, file: bPath, line: lineNo, stream, seq: rec.seq });
            if (rec.data.input) checkInput(rec.data, inputs, findings, { file: bPath, line: lineNo, stream, seq: rec.seq });
            break;
          case 'policy_input': {
            const computedHash = sha256Hex(canonicalJson(rec.data.value));
            if (computedHash !== rec.data.hash)
              findings.push(finding('POLICY_INPUT_HASH_MISMATCH', bPath, 'the policy input part is not the content its hash names', { line: lineNo, stream, seq: rec.seq, expected: rec.data.hash, computed: computedHash }));
            else inputs.set(rec.data.hash, rec.data.value);
            break;
          }
          case 'statement_result': {
            // A response folded into its result (no rows kept) is checked as a statement_response would be.
            const folded = rec.data.response;
            if (folded === undefined) break;
            const problem = typeof folded === 'object' && folded !== null ? responseProblem({ ...folded, encrypted: null }) : 'response must be an object';
            if (problem) findings.push(finding('RESPONSE_MALFORMED', bPath, problem, { line: lineNo, stream, seq: rec.seq }));
            approvals.responses.push({ id: rec.data.decision_id, file: bPath, line: lineNo, stream, seq: rec.seq });
            break;
          }
          case 'statement_response': {
            const problem = responseProblem(rec.data);
            if (problem) findings.push(finding('RESPONSE_MALFORMED', bPath, problem, { line: lineNo, stream, seq: rec.seq }));
            approvals.responses.push({ id: rec.data.decision_id, file: bPath, line: lineNo, stream, seq: rec.seq });
            break;
          }
          case 'approval_granted':
            approvals.granted.add(rec.data.request_id);
            break;
          case 'approval_rejected':
            approvals.rejected.add(rec.data.request_id);
            break;
          case 'approval_expired':
            approvals.expired.add(rec.data.request_id);
            break;
          case 'approval_withdrawn':
            approvals.withdrawn.add(rec.data.request_id);
            break;
        }
        options.onRecord?.(rec, bPath, lineNo);
      }
      lines += count;
      computed = { sha256: sha256Hex(buf), lines: count, firstSeq: startSeq + 1, head: { seq, hash }, lastTs };
      if (!cPath)
        findings.push(
          finding('BATCH_WITHOUT_CHECKPOINT', bPath, `${count} line(s) after seq ${startSeq} are not sealed by a checkpoint (expected ${checkpointOf(bPath)})`, { stream, seq: startSeq + 1 }),
        );
    }

    if (cPath !== undefined) {
      const cBytes = files.get(cPath) ?? new Uint8Array();
      const cHash = sha256Hex(cBytes);
      const decoded = decodeCheckpoint(cBytes);
      if (!bPath) findings.push(finding('CHECKPOINT_WITHOUT_BATCH', cPath, `the batch file it seals is missing`, { stream, seq: firstSeq }));
      if (!decoded.ok) {
        findings.push(finding('CHECKPOINT_MALFORMED', cPath, decoded.problem, { stream }));
      } else {
        const { header, payload: p } = decoded;
        const at = { stream, seq: p.batch.first_seq };
        if (p.stream !== stream) findings.push(finding('CHECKPOINT_MALFORMED', cPath, `payload names stream ${p.stream}`, { ...at, expected: stream, computed: p.stream }));
        if (checkpointOf(p.batch.path) !== cPath || p.batch.first_seq !== firstSeq)
          findings.push(finding('PATH_MISMATCH', cPath, `the checkpoint seals ${p.batch.path}, not the batch beside it`, { ...at, expected: p.batch.path, computed: cPath }));
        if (p.batch.last_seq - p.batch.first_seq + 1 !== p.batch.lines || p.head.seq !== p.batch.last_seq)
          findings.push(finding('CHECKPOINT_MALFORMED', cPath, 'first_seq, last_seq, lines and head.seq disagree', at));
        if (computed) {
          if (computed.sha256 !== p.batch.sha256)
            findings.push(finding('CHECKPOINT_BATCH_HASH_MISMATCH', bPath!, `the batch file's bytes are not the ones ${cPath} sealed`, { ...at, expected: p.batch.sha256, computed: computed.sha256 }));
          if (computed.lines !== p.batch.lines)
            findings.push(finding('CHECKPOINT_LINE_COUNT_MISMATCH', bPath!, `the checkpoint sealed ${p.batch.lines} lines, the file has ${computed.lines}`, { ...at, expected: p.batch.lines, computed: computed.lines }));
          if (computed.head.seq !== p.head.seq || computed.head.hash !== p.head.hash)
            findings.push(
              finding('CHECKPOINT_HEAD_MISMATCH', cPath, `the chain head after the batch is not the signed head`, {
                ...at,
                expected: `${p.head.seq}:${p.head.hash}`,
                computed: `${computed.head.seq}:${computed.head.hash}`,
              }),
            );
          if (p.sealed_at < computed.lastTs)
            findings.push(finding('CHECKPOINT_TIME_INVALID', cPath, 'sealed before the last line it seals', { ...at, expected: `>= ${computed.lastTs}`, computed: p.sealed_at }));
        }
        const wantPrev = prevCp ? `${prevCp.path}@${prevCp.sha256}` : null;
        const gotPrev = p.prev ? `${p.prev.path}@${p.prev.sha256}` : null;
        if (wantPrev !== gotPrev)
          findings.push(finding('CHECKPOINT_CHAIN_BROKEN', cPath, 'prev does not name the previous checkpoint of the stream as it is', { ...at, expected: gotPrev, computed: wantPrev }));
        const wantFirst = (prevCp?.lastSeq ?? 0) + 1;
        if (p.batch.first_seq !== wantFirst)
          findings.push(
            finding('CHECKPOINT_SEQ_GAP', cPath, `sequence numbers ${wantFirst}..${p.batch.first_seq - 1} are covered by no checkpoint`, { ...at, expected: wantFirst, computed: p.batch.first_seq }),
          );
        if (prevCp && p.sealed_at < prevCp.sealedAt)
          findings.push(finding('CHECKPOINT_TIME_INVALID', cPath, 'sealed before the previous checkpoint', { ...at, expected: `>= ${prevCp.sealedAt}`, computed: p.sealed_at }));

        await checkSignature(cPath, decoded.jws, header.kid, p.sealed_at, ring, findings, at);
        kids.add(header.kid);
        const key = ring.get(header.kid);
        if (pinned && key && !pinned.has(key.thumbprint) && !trustedKids.has(header.kid))
          findings.push(
            finding('KEY_NOT_PINNED', cPath, `key ${header.kid} is neither pinned nor endorsed, through signed rotations, by a pinned key`, { ...at, computed: key.thumbprint }),
          );
        if (computed && header.kid !== currentKid)
          findings.push(
            finding('KEY_NOT_ANNOUNCED', cPath, `signed by ${header.kid}, but the chain's key_rotation events make ${currentKid ?? 'no key'} current`, {
              ...at,
              expected: currentKid,
              computed: header.kid,
            }),
          );
        prevCp = { path: cPath, sha256: cHash, sealedAt: p.sealed_at, lastSeq: p.batch.last_seq };
      }
    }
    progress.done += (bPath ? 1 : 0) + (cPath ? 1 : 0);
    progress.report?.(progress.done, progress.total);
  }
  progress.done += sf.keySets.length;

  if (recorded) {
    if (recordedSeen === null)
      findings.push(
        finding('RECORDED_HEAD_MISSING', '', `stream ${stream} was recorded at seq ${recorded.seq}, but it now ends at seq ${seq}`, { stream, seq: recorded.seq, expected: recorded.hash, computed: null }),
      );
    else if (recordedSeen !== recorded.hash)
      findings.push(
        finding('RECORDED_HEAD_MISMATCH', '', `seq ${recorded.seq} of stream ${stream} is not the line recorded earlier (history rewritten)`, {
          stream,
          seq: recorded.seq,
          expected: recorded.hash,
          computed: recordedSeen,
        }),
      );
  }

  return {
    stream,
    lines,
    batches: batchCount,
    checkpoints: sf.checkpoints.size,
    head: { seq, hash },
    first_ts: firstTs,
    last_ts: lastTs || null,
    kids: [...kids].sort(),
    gaps,
    anchor,
  };
}

/**
 * Checks that a rotation after the first is endorsed by the key the chain made current before it. Without an
 * endorsement: an error once the stream follows ROTATION_RULE (`required`), a warning on a stream written
 * before endorsements existed. Returns whether a valid endorsement is there.
 */
async function checkRotation(
  seq: number,
  d: { kid: string; thumbprint: string; previous_kid: string | null; endorsement?: unknown },
  currentKid: string,
  ring: Map<string, RingKey>,
  required: boolean,
  stream: string,
  file: string,
  line: number,
  findings: Finding[],
): Promise<boolean> {
  const at = { line, stream, seq };
  if (d.endorsement === undefined) {
    if (required)
      findings.push(
        finding('KEY_ROTATION_UNSIGNED', file, `the rotation to key ${d.kid} is not signed by the key it replaces (${currentKid}), as this stream's rotations must be`, {
          ...at,
          expected: currentKid,
          computed: null,
        }),
      );
    else
      findings.push(
        finding('KEY_ROTATION_LEGACY', file, `the rotation from ${currentKid} to ${d.kid} predates signed rotations: only the new key vouches for it; pin both keys (--pin) to rule out a forged one`, at),
      );
    return false;
  }
  const previous = ring.get(currentKid);
  if (!previous) return false; // reported where the previous key was announced (KEY_UNKNOWN)
  if (d.previous_kid !== currentKid) {
    findings.push(finding('KEY_ROTATION_SIGNATURE_INVALID', file, `previous_kid names ${String(d.previous_kid)}, but the chain's current key is ${currentKid}`, { ...at, expected: currentKid, computed: d.previous_kid }));
    return false;
  }
  const problem = await rotationProblem(
    d.endorsement,
    { v: 1, type: 'key_rotation', stream, seq, kid: d.kid, thumbprint: d.thumbprint, previous_kid: currentKid, previous_thumbprint: previous.thumbprint },
    await publicKeyOf(previous.x),
  );
  if (problem) findings.push(finding('KEY_ROTATION_SIGNATURE_INVALID', file, problem, at));
  return problem === null;
}

async function checkSignature(
  cPath: string,
  jws: string,
  kid: string,
  sealedAt: string,
  ring: Map<string, RingKey>,
  findings: Finding[],
  at: { stream: string; seq: number },
): Promise<void> {
  const key = ring.get(kid);
  if (!key) {
    findings.push(finding('KEY_UNKNOWN', cPath, `signed by key ${kid}, which no key set of the stream publishes`, { ...at, computed: kid }));
    return;
  }
  if (!(await verifyCheckpointSignature(jws, await publicKeyOf(key.x))))
    findings.push(finding('CHECKPOINT_SIGNATURE_INVALID', cPath, `the signature does not verify with key ${kid} from ${key.path}`, at));
  if (sealedAt < key.valid_from || (key.valid_until !== null && sealedAt > key.valid_until))
    findings.push(
      finding('KEY_NOT_VALID_AT_TIME', cPath, `key ${kid} was not valid at ${sealedAt}`, { ...at, expected: `${key.valid_from} .. ${key.valid_until ?? 'open'}`, computed: sealedAt }),
    );
}

/**
 * What is wrong with a statement_response's digest or encrypted rows, checked without any key: a sha256, rows
 * and bytes that fit its framing, and a General JSON JWE with at least one recipient that holds no more rows.
 */
function responseProblem(d: { sha256: string; rows: number; bytes: number; encrypted: { jwe: Record<string, unknown>; rows: number; truncated: boolean } | null }): string | null {
  if (!/^[0-9a-f]{64}$/.test(d.sha256)) return 'sha256 must be 64 hex digits';
  if (!Number.isSafeInteger(d.rows) || d.rows < 0 || !Number.isSafeInteger(d.bytes) || d.bytes < 2 * d.rows) return 'rows and bytes must be counts, at least 2 bytes a row';
  const e = d.encrypted;
  if (e === null) return null;
  const j = e.jwe as { protected?: unknown; recipients?: unknown; iv?: unknown; ciphertext?: unknown; tag?: unknown };
  if (typeof j?.protected !== 'string' || typeof j.iv !== 'string' || typeof j.ciphertext !== 'string' || typeof j.tag !== 'string' || !Array.isArray(j.recipients) || j.recipients.length === 0)
    return 'encrypted.jwe must be a JWE in General JSON serialization (protected, recipients, iv, ciphertext, tag)';
  if (!Number.isSafeInteger(e.rows) || e.rows < 0 || e.rows > d.rows || typeof e.truncated !== 'boolean' || (!e.truncated && e.rows !== d.rows))
    return `encrypted.rows (${e.rows}) must be at most rows (${d.rows}), and equal to it unless truncated`;
  return null;
}
