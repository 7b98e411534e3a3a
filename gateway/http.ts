// HTTP plumbing the HTTP listeners share (the MCP and Snowflake doors, the GitHub webhook): reading a request
// body within a size limit, so no listener holds more of a sender's bytes than it allows.
import type { IncomingMessage } from 'node:http';

/** A request body past its listener's limit, declared (content-length) or counted as it arrived. */
export class BodyTooLargeError extends Error {
  static readonly code = 'BODY_TOO_LARGE';
  readonly code = BodyTooLargeError.code;
  override name = 'BodyTooLargeError';

  constructor(readonly limit: number) {
    super(`the request body is larger than ${limit} bytes`);
  }
}

/**
 * The whole body of `req`, at most `limit` bytes. Rejects with BodyTooLargeError as soon as content-length
 * declares more than `limit` or the bytes received pass it (a chunked sender, or one whose content-length
 * lies, is cut off there); what follows is read and dropped, never kept, so the caller can still answer.
 * A stream error rejects with that error. What each listener answers a BodyTooLargeError with:
 * - the MCP door: HTTP 413, JSON-RPC error -32600 naming mcp.max_request_bytes;
 * - the GitHub webhook: HTTP 413 `Payload Too Large`, with `connection: close`;
 * - the Snowflake door: its BAD_REQUEST error in Snowflake's shape (HTTP 200, `success: false`, like its
 *   other request errors), with `connection: close`.
 *
 * @example
 * const body = await readBody(req, 1024 * 1024).catch((e: unknown) => (e instanceof BodyTooLargeError ? null : Promise.reject(e)));
 * if (body === null) return reply(res, 413, 'Payload Too Large');
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const drop = () => {
      req.removeListener('data', onData);
      chunks.length = 0;
      req.resume();
      reject(new BodyTooLargeError(limit));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) drop();
      else chunks.push(chunk);
    };
    req.on('error', reject);
    if (Number(req.headers['content-length'] ?? NaN) > limit) return drop();
    req.on('data', onData);
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
  });
}
