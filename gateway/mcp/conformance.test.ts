// The MCP door against @modelcontextprotocol/conformance's server scenarios (0.1.16), with a real token.
// The scenarios that apply to a tools-only server run and must pass every check:
//   server-initialize, ping, tools-list, dns-rebinding-protection (the URL is loopback).
// Those that do not apply, and why:
//   tools-call-simple-text / -image / -audio / -embedded-resource / -mixed-content / -error / -with-progress,
//   json-schema-2020-12 — they call fixture tools of the reference server by name (test_simple_text, …);
//   tools-call-with-logging, logging-set-level — no logging capability; completion-complete — no completions;
//   tools-call-sampling, tools-call-elicitation, elicitation-sep1034-defaults, elicitation-sep1330-enums — the
//   server never asks the agent's model or user anything; resources-* and prompts-* — no resources or prompts;
//   server-sse-multiple-streams, server-sse-polling — server-initiated SSE streams (the door answers each
//   request on its own, and has no reconnection tool).
// The CLI sends no token and needs Node 22; conformance/preload.mjs adds the header and the missing fs.globSync.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../testing/stack.ts';

const run = promisify(execFile);
const preload = fileURLToPath(new URL('./conformance/preload.mjs', import.meta.url));
const cli = fileURLToPath(new URL('../../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url));
const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'];

let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({ mcp: { host: '127.0.0.1', port: 0 } });
}, 180_000);
afterAll(async () => stack?.stop());

async function scenario(name: string, bearer: string): Promise<{ code: number; checks: { id: string; status: string; errorMessage?: string }[] }> {
  const url = stack.gateway.mcp!.url;
  const out = mkdtempSync(join(tmpdir(), 'verdict-conformance-'));
  const env = { ...process.env, MCP_CONFORMANCE_BEARER: bearer, MCP_CONFORMANCE_AUTH_ORIGIN: new URL(url).origin, NO_COLOR: '1' };
  let code = 0;
  try {
    await run(process.execPath, ['--import', preload, cli, 'server', '--url', url, '--scenario', name, '-o', out], { env, timeout: 60_000 });
  } catch (err) {
    code = (err as { code?: number }).code ?? 1;
  }
  const dir = readdirSync(out).find((d) => d.startsWith(`server-${name}-`));
  const checks = dir ? (JSON.parse(readFileSync(join(out, dir, 'checks.json'), 'utf8')) as { id: string; status: string; errorMessage?: string }[]) : [];
  return { code, checks };
}

describe('MCP conformance (server scenarios that apply to a tools-only server)', () => {
  it.each(SCENARIOS)('%s passes every check with a valid token', async (name) => {
    const { code, checks } = await scenario(name, await stack.issuer.mint('bob', { audience: stack.gateway.mcp!.url }));
    expect(checks.length, name).toBeGreaterThan(0);
    expect(checks.filter((c) => c.status === 'FAILURE'), name).toEqual([]);
    expect(checks.some((c) => c.status === 'SUCCESS'), name).toBe(true);
    expect(code, name).toBe(0);
  });

  it('fails with a token for another audience (the runner really authenticates through the header)', async () => {
    const { code, checks } = await scenario('tools-list', await stack.issuer.mint('bob'));
    expect(code).not.toBe(0);
    expect(checks.some((c) => c.status === 'FAILURE' && /invalid_token|401/.test(c.errorMessage ?? ''))).toBe(true);
  });
});
