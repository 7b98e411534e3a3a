// Preload for @modelcontextprotocol/conformance 0.1.16's CLI (`node --import ./preload.mjs …/dist/index.js server --url …`),
// which has no way to send a bearer token and does not start on Node 20:
// 1. every request its server scenarios make (SDK v1 client and raw fetch through globalThis.fetch; undici.request in
//    dns-rebinding-protection) gets `Authorization: Bearer $MCP_CONFORMANCE_BEARER`, for MCP_CONFORMANCE_AUTH_ORIGIN only;
// 2. its import of fs.globSync (Node ≥ 22, used only by `tier-check`) resolves to a stand-in.
import { register } from 'node:module';
import { authorization } from './authorization.mjs';

register('./hooks.mjs', import.meta.url);

const realFetch = globalThis.fetch;
globalThis.fetch = async function fetchWithBearer(input, init) {
  const h = authorization(input instanceof Request ? input.url : String(input));
  if (!h) return realFetch(input, init);
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
  if (!headers.has('authorization')) headers.set('authorization', h);
  return realFetch(input, { ...init, headers });
};
