// Keeps a long-running gateway alive when its stdout or stderr goes away (a closed terminal, a log shipper
// whose pipe broke): a failed write must not kill the process before it seals and records its stop.

/**
 * Makes write errors on stdout and stderr (EPIPE, a destroyed stream) non-fatal: without an 'error' listener
 * Node throws them as uncaught exceptions, which would end the gateway before its shutdown records
 * gateway_stop. Output that cannot be written is dropped; evidence does not depend on it.
 *
 * @example
 * surviveBrokenOutput(); const gw = await startGateway(cfg)
 */
export function surviveBrokenOutput(streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): void {
  for (const s of streams) if (!s.listeners('error').includes(ignore)) s.on('error', ignore);
}

function ignore(): void {
  // The reader is gone: there is nobody left to tell.
}
