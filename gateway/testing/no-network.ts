// Setup of the `unit` vitest project: unit tests reach nothing outside the process. A TCP or Unix socket
// connection throws, so a test that needs a server is filed as integration (vitest.config.ts) instead.
import net from 'node:net';

const refuse = function (this: net.Socket, ...args: unknown[]): never {
  throw new Error(`unit tests use no network (connect ${JSON.stringify(args[0])}); this test belongs to the integration project`);
};
net.Socket.prototype.connect = refuse as unknown as typeof net.Socket.prototype.connect;
