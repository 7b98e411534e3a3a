// MCP clients for tests: the official SDK's v2 client (either protocol era) and its v1 client, connected to a
// door with a bearer token, and what a tool result looks like to them.
import { Client as V2Client, StreamableHTTPClientTransport as V2Transport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** A tool result as both SDKs return it. */
export interface ToolResult {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
  _meta?: Record<string, unknown>;
}

/** The part of a v1 or v2 client the tests use. */
export interface McpTestClient {
  listTools(): Promise<{ tools: { name: string; description?: string; inputSchema?: unknown; outputSchema?: unknown }[] }>;
  callTool(p: { name: string; arguments?: Record<string, unknown> }): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * An SDK v2 client (`auto`: the 2026-07-28 revision, `legacy`: the 2025 handshake) with `token` as its bearer.
 *
 * @example
 * const c = await v2Client(door.url, await issuer.mint('bob', { audience: door.url }));
 */
export async function v2Client(url: string, token: string, options: { mode?: 'auto' | 'legacy'; name?: string; version?: string } = {}): Promise<McpTestClient> {
  const client = new V2Client({ name: options.name ?? 'v2-test', version: options.version ?? '2.4.0' }, { versionNegotiation: { mode: options.mode ?? 'auto' } });
  await client.connect(new V2Transport(new URL(url), { authProvider: { token: async () => token } }));
  return client as unknown as McpTestClient;
}

/** An SDK v1 client (2025 revisions) sending `Authorization: Bearer <token>`. */
export async function v1Client(url: string, token: string, options: { name?: string; version?: string } = {}): Promise<McpTestClient> {
  const client = new V1Client({ name: options.name ?? 'v1-test', version: options.version ?? '1.32.2' });
  await client.connect(new V1Transport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return client as unknown as McpTestClient;
}

/** Calls a tool and returns its result as both SDKs give it. */
export async function callTool(c: McpTestClient, name: string, args: Record<string, unknown>): Promise<ToolResult> {
  return (await c.callTool({ name, arguments: args })) as ToolResult;
}

/** The text content of a result. */
export function textOf(r: ToolResult): string {
  return r.content.map((c) => c.text ?? '').join('\n');
}

/** A refusal's details (`_meta["dev.verdict/refusal"]`), if the result is one. */
export function refusalOf(r: ToolResult): { status: string; rule?: string; decision_id?: string; request_id?: string; link?: string; sqlstate?: string } | undefined {
  return r._meta?.['dev.verdict/refusal'] as ReturnType<typeof refusalOf>;
}
