// undici for the conformance CLI, with the bearer header added to request() (dns-rebinding-protection uses it).
import { request as realRequest } from 'undici';
import { authorization } from './authorization.mjs';
export * from 'undici';
export function request(url, opts = {}) {
  const h = authorization(url);
  if (h && !Object.keys(opts.headers ?? {}).some((k) => k.toLowerCase() === 'authorization')) {
    opts = { ...opts, headers: { ...(opts.headers ?? {}), authorization: h } };
  }
  return realRequest(url, opts);
}
