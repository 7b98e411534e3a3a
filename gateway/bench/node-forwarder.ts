// The floor any Node.js proxy stands on, for bench:gateway: a TCP forwarder that does nothing but copy bytes
// between each client and its own upstream connection, on one event loop, as Verdict's PostgreSQL door does
// (net sockets, Nagle off, a write per read, no streams piping). It reads no message, decides nothing and
// records nothing, so what it costs is what Node.js and the kernel cost to relay one transaction; Verdict's
// cost above it is Verdict's own.
//
// Run as its own process, like pgbouncer: `tsx gateway/bench/node-forwarder.ts <upstream-port>`; it prints
// `listening <port>` on stdout once it accepts connections on 127.0.0.1.
import { connect, createServer, type Socket } from 'node:net';

const upstreamPort = Number(process.argv[2]);
if (!Number.isInteger(upstreamPort) || upstreamPort <= 0) {
  process.stderr.write('usage: node-forwarder <upstream-port>\n');
  process.exit(2);
}

/** Each socket's bytes written to the other; either side's end or error ends both. */
function relay(a: Socket, b: Socket): void {
  a.on('data', (chunk: Buffer) => {
    if (!b.write(chunk)) {
      a.pause();
      b.once('drain', () => a.resume());
    }
  });
  a.on('error', () => b.destroy());
  a.on('close', () => b.destroy());
}

const server = createServer((client) => {
  client.setNoDelay(true);
  const upstream = connect(upstreamPort, '127.0.0.1');
  upstream.setNoDelay(true);
  relay(client, upstream);
  relay(upstream, client);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`);
});
