// readBody: the body within its limit; past it (declared or counted) BodyTooLargeError, the rest dropped.
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BodyTooLargeError, readBody } from './http.ts';

function request(chunks: string[], headers: Record<string, string> = {}): IncomingMessage {
  return Object.assign(Readable.from(chunks.map((c) => Buffer.from(c))), { headers }) as unknown as IncomingMessage;
}

describe('readBody', () => {
  it('returns the body within the limit, in one buffer', async () => {
    expect((await readBody(request(['{"a":', '1}']), 7)).toString()).toBe('{"a":1}');
    expect((await readBody(request([]), 0)).length).toBe(0);
  });

  it('refuses a declared content-length past the limit before reading anything', async () => {
    const req = request(['x'], { 'content-length': '8' });
    await expect(readBody(req, 7)).rejects.toMatchObject({ name: 'BodyTooLargeError', code: 'BODY_TOO_LARGE', limit: 7 });
  });

  it('cuts off a body whose bytes pass the limit (chunked, or a lying content-length) and drains the rest', async () => {
    const req = request(['1234', '5678', '9'], { 'content-length': '3' });
    const err = await readBody(req, 6).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BodyTooLargeError);
    expect(req.listenerCount('data')).toBe(0);
    if (!req.readableEnded) await new Promise((resolve) => req.once('end', resolve)); // drained: the sender is not left hanging
  });
});
