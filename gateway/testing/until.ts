// Polling for an eventually true condition in integration tests, with what was last seen in the failure.

/**
 * Calls `probe` every 100 ms until `ok` accepts its value (returned), or throws after `ms` naming `what`
 * and the last value seen.
 *
 * @example
 * await until('rev-2 active', () => gateway.revision, (r) => r === 'rev-2');
 */
export async function until<T>(what: string, probe: () => T | Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
