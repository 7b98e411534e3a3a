// Micro-benchmark of FrontendReader framing: 100k pipelined Bind/Execute/Sync triples in 16 KiB chunks, the shape of
// a busy extended-protocol client. Run: npm run bench:codec — prints one JSON line.
import { serialize } from 'pg-protocol';
import { FrontendReader } from '../postgres/protocol/reader.ts';
import { BackendWriter } from '../postgres/protocol/writer.ts';

const TRIPLES = 100_000;
const CHUNK = 16 * 1024;
const ROUNDS = 7;

function buildStream(): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < TRIPLES; i++) {
    parts.push(serialize.bind({ statement: 'q1', values: [String(i), 'active', null] }), serialize.execute(), serialize.sync());
  }
  return Buffer.concat(parts);
}

function frameOnce(stream: Buffer): number {
  const reader = new FrontendReader();
  reader.startupDone();
  let messages = 0;
  let checksum = 0;
  for (let at = 0; at < stream.length; at += CHUNK) {
    reader.push(stream.subarray(at, at + CHUNK));
    for (let msg = reader.next(); msg !== null; msg = reader.next()) {
      messages++;
      if (msg.type === 'bind') checksum += msg.params.length; // touch the decoded fields so nothing is elided
    }
  }
  if (messages !== TRIPLES * 3 || checksum !== TRIPLES * 3) throw new Error(`framed ${messages} messages, checksum ${checksum}`);
  return messages;
}

function writeOnce(): number {
  // What the gateway answers per triple when it short-circuits: BindComplete, CommandComplete, ReadyForQuery.
  const writer = new BackendWriter();
  let bytes = 0;
  for (let i = 0; i < TRIPLES; i++) {
    writer.bindComplete().commandComplete('SELECT 1').readyForQuery('I');
    if (writer.length >= CHUNK) bytes += writer.flush().length;
  }
  return bytes + writer.flush().length;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const stream = buildStream();
const readMs: number[] = [];
const writeMs: number[] = [];
frameOnce(stream); // warm-up
writeOnce();
for (let r = 0; r < ROUNDS; r++) {
  let t = process.hrtime.bigint();
  frameOnce(stream);
  readMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  t = process.hrtime.bigint();
  writeOnce();
  writeMs.push(Number(process.hrtime.bigint() - t) / 1e6);
}
const read = median(readMs);
const write = median(writeMs);
const messages = TRIPLES * 3;
console.log(
  JSON.stringify({
    bench: 'postgres-protocol-codec',
    node: process.version,
    triples: TRIPLES,
    chunkBytes: CHUNK,
    streamBytes: stream.length,
    rounds: ROUNDS,
    readMsMedian: Math.round(read * 100) / 100,
    readMessagesPerSec: Math.round(messages / (read / 1000)),
    readMBPerSec: Math.round((stream.length / 1e6 / (read / 1000)) * 10) / 10,
    readNsPerMessage: Math.round((read * 1e6) / messages),
    writeMsMedian: Math.round(write * 100) / 100,
    writeMessagesPerSec: Math.round(messages / (write / 1000)),
  }),
);
