// Setup of the `unit` vitest project: unit tests reach nothing outside the process. A TCP or Unix socket
// connection, a listening server and a child process each throw, so a test that needs one is filed as
// integration (vitest.config.ts picks it by its markers) instead of passing or failing by what the machine runs.
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

function refusal(what: string): (...args: unknown[]) => never {
  return (...args: unknown[]) => {
    throw new Error(`unit tests reach nothing outside the process (${what} ${JSON.stringify(args[0])}); this test belongs to the integration project`);
  };
}

net.Socket.prototype.connect = refusal('connect') as unknown as typeof net.Socket.prototype.connect;
net.Server.prototype.listen = refusal('listen') as unknown as typeof net.Server.prototype.listen;
for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
  (childProcess as unknown as Record<string, unknown>)[name] = refusal(name);
}
// Named imports (`import { spawn } from …`) see the replacements too.
syncBuiltinESMExports();
