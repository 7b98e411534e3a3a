// Opens a page in headless Chromium and evaluates an expression in it over the DevTools protocol, for tests of
// what a real browser makes of a generated page. Run as a child process with Node's WebSocket client:
//   node --experimental-websocket --import tsx gateway/testing/chromium-page.ts <chromium> <url> <expression>
// Prints one JSON line: {loadMs, value} (the expression's value, by value), or {error}.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [chromium, url, expression] = process.argv.slice(2);
if (!chromium || !url || !expression) throw new Error('usage: chromium-page.ts <chromium> <url> <expression>');

const profile = mkdtempSync(join(tmpdir(), 'verdict-chromium-'));
const browser = spawn(
  chromium,
  ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'],
  // Its own process group: the browser's helper processes (zygote, renderers) are stopped with it.
  { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
);
const exited = new Promise((resolve) => browser.once('exit', resolve));
let finished = false;
const done = async (out: unknown, code = 0): Promise<never> => {
  if (!finished) {
    finished = true;
    process.stdout.write(JSON.stringify(out) + '\n');
    try {
      process.kill(-browser.pid!, 'SIGKILL');
    } catch {
      browser.kill('SIGKILL');
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    // Helpers may still be flushing the profile for a moment after the browser is gone.
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch {
      // a leftover temporary profile is not the test's result
    }
  }
  process.exit(code);
};
setTimeout(() => void done({ error: 'timed out after 120 s' }, 1), 120_000).unref();

const endpoint = await new Promise<string>((resolve, reject) => {
  let err = '';
  browser.stderr.on('data', (b: Buffer) => {
    err += b.toString();
    const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
    if (m) resolve(m[1]!);
  });
  browser.on('exit', (code) => reject(new Error(`chromium exited ${code}: ${err.slice(-1000)}`)));
});

const ws = new WebSocket(endpoint);
await new Promise((resolve, reject) => {
  ws.onopen = resolve;
  ws.onerror = () => reject(new Error('cannot connect to the DevTools endpoint'));
});
let nextId = 1;
const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>(); // eslint-disable-line @typescript-eslint/no-explicit-any
const events: { method: string; sessionId?: string }[] = [];
ws.onmessage = (m) => {
  const msg = JSON.parse(String(m.data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; sessionId?: string };
  if (msg.id !== undefined) {
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(msg.error.message));
    else p?.resolve(msg.result);
  } else if (msg.method) events.push({ method: msg.method, ...(msg.sessionId ? { sessionId: msg.sessionId } : {}) });
};
const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<any> => // eslint-disable-line @typescript-eslint/no-explicit-any
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
  });

try {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  await send('Page.enable', {}, sessionId);
  const started = Date.now();
  await send('Page.navigate', { url }, sessionId);
  while (!events.some((e) => e.method === 'Page.loadEventFired' && e.sessionId === sessionId)) await new Promise((r) => setTimeout(r, 20));
  const loadMs = Date.now() - started;
  const r = await send('Runtime.evaluate', { expression, returnByValue: true }, sessionId);
  if (r.exceptionDetails) await done({ error: r.exceptionDetails.text ?? 'the expression threw' }, 1);
  await done({ loadMs, value: r.result.value });
} catch (err) {
  await done({ error: (err as Error).message }, 1);
}
