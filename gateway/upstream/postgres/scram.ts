// SCRAM-SHA-256 client side (RFC 5802 + RFC 7677) as functions over strings, so the math is checked
// against the RFC test vector without a server; upstream.ts only moves these messages over the wire.
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { UpstreamError } from './errors.ts';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';

/** base64('n,,'): gs2 header "no channel binding, no authzid", echoed back in client-final. */
const CHANNEL_BINDING_NONE = 'c=biws';

// The key derivation runs 4096+ HMAC rounds; off the event loop (libuv pool) so one new session cannot
// stall every proxied query.
const pbkdf2Async = promisify(pbkdf2);

export interface ScramClientFirst {
  /** The SASLInitialResponse payload: gs2 header + client-first-message-bare. */
  message: string;
  clientFirstBare: string;
  clientNonce: string;
}

export interface ScramClientFinal {
  /** The SASLResponse payload: client-final-message with the proof. */
  message: string;
  /** What the server must send back as `v=` to prove it knows the password too. */
  serverSignature: Buffer;
}

/**
 * Builds the client-first message. PostgreSQL takes the user from the startup packet and ignores the
 * SCRAM user name, so (like libpq) the default is an empty one.
 *
 * @example
 * const first = scramClientFirst(); socket.write(serialize.sendSASLInitialResponseMessage(SCRAM_SHA_256, first.message));
 */
export function scramClientFirst(opts: { user?: string; nonce?: string } = {}): ScramClientFirst {
  const clientNonce = opts.nonce ?? randomBytes(18).toString('base64');
  const clientFirstBare = `n=${saslName(opts.user ?? '')},r=${clientNonce}`;
  return { message: `n,,${clientFirstBare}`, clientFirstBare, clientNonce };
}

/**
 * Answers the server-first message: derives the keys from the password, salt and iteration count, and
 * returns the client-final message plus the server signature to expect.
 *
 * @example
 * const final = await scramClientFinal(first, serverFirst, password);
 * socket.write(serialize.sendSCRAMClientFinalMessage(final.message));
 */
export async function scramClientFinal(first: ScramClientFirst, serverFirst: string, password: string): Promise<ScramClientFinal> {
  const attrs = parseAttributes(serverFirst);
  if (attrs.has('m')) throw protocol('the server sent a mandatory SCRAM extension this client does not know');
  const nonce = attrs.get('r');
  const saltB64 = attrs.get('s');
  const iterText = attrs.get('i');
  if (!nonce || !saltB64 || !iterText) throw protocol('SCRAM server-first message lacks r, s or i');
  // The server nonce must extend ours; otherwise this could be a replayed or foreign exchange.
  if (!nonce.startsWith(first.clientNonce) || nonce.length === first.clientNonce.length) {
    throw protocol('SCRAM server nonce does not extend the client nonce');
  }
  const salt = Buffer.from(saltB64, 'base64');
  const iterations = /^[1-9][0-9]{0,9}$/.test(iterText) ? Number(iterText) : NaN;
  if (salt.length === 0 || !Number.isSafeInteger(iterations)) throw protocol('SCRAM server-first message has a bad salt or iteration count');

  const salted = await pbkdf2Async(saslprep(password), salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = createHash('sha256').update(clientKey).digest();
  const withoutProof = `${CHANNEL_BINDING_NONE},r=${nonce}`;
  const authMessage = `${first.clientFirstBare},${serverFirst},${withoutProof}`;
  const clientSignature = hmac(storedKey, authMessage);
  const proof = Buffer.alloc(clientKey.length);
  for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
  const serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
  return { message: `${withoutProof},p=${proof.toString('base64')}`, serverSignature };
}

/**
 * Checks the server-final message. A server that answers with an error or a wrong signature does not
 * know the password — possibly an impostor — and the connection must not be used.
 *
 * @example
 * scramVerifyServerFinal(serverFinal, final.serverSignature); // throws UpstreamError AUTH_FAILED
 */
export function scramVerifyServerFinal(serverFinal: string, expected: Buffer): void {
  const attrs = parseAttributes(serverFinal);
  const err = attrs.get('e');
  if (err !== undefined) throw new UpstreamError('AUTH_FAILED', `the server rejected the SCRAM exchange: ${err}`);
  const v = attrs.get('v');
  if (!v) throw protocol('SCRAM server-final message lacks the server signature');
  const got = Buffer.from(v, 'base64');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw new UpstreamError('AUTH_FAILED', 'the server could not prove it knows the password (SCRAM server signature mismatch)');
  }
}

/**
 * SASLprep (RFC 4013) as PostgreSQL applies it to passwords: ASCII passes unchanged; otherwise spaces are
 * mapped, invisible characters dropped and NFKC applied — and if the result has prohibited characters
 * the raw password is used, exactly as the server does when it hashes it. Bidi rules are not checked.
 *
 * @example
 * saslprep('pass\u00a0word'); // 'pass word'
 */
export function saslprep(password: string): string {
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  const mapped = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
  return PROHIBITED.test(mapped) ? password : mapped;
}

// Tables from RFC 3454 (stringprep) as PostgreSQL's saslprep.c uses them; U+200B is a space there.
const NON_ASCII_SPACE = /[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/gu;
const MAPPED_TO_NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]/gu;
// C.2 controls, C.3 private use, C.4 non-characters, C.5 surrogates, C.6-C.9, A.1 unassigned (approx. \p{Cn}).
const PROHIBITED =
  /[\u0000-\u001f\u007f-\u009f\u0340\u0341\u06dd\u070f\u180e\u200e\u200f\u2028-\u202e\u2060-\u2063\u206a-\u206f\u2ff0-\u2ffb\ue000-\uf8ff\ufdd0-\ufdef\ufff9-\ufffd\u{1d173}-\u{1d17a}\u{e0001}\u{e0020}-\u{e007f}\u{f0000}-\u{10ffff}\p{Cs}\p{Cn}]/u;

function saslName(user: string): string {
  return user.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** `k=v,k=v` with single-letter keys; values may contain '=' (base64), so split on the first one. */
function parseAttributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw protocol('malformed SCRAM message');
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

function protocol(message: string): UpstreamError {
  return new UpstreamError('PROTOCOL', message);
}
