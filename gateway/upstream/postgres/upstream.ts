// The upstream side of a session: one real PostgreSQL connection per client, opened with credentials the
// gateway holds (TLS, then trust / cleartext / md5 / SCRAM-SHA-256), handed over as a raw socket.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import type { BackendMessage, DatabaseError, ParameterStatusMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';
import { serialize } from 'pg-protocol/dist/serializer.js';
import { messageOf } from '../../../engine/errors.ts';
import { UpstreamError } from './errors.ts';
import { SCRAM_SHA_256, scramClientFinal, scramClientFirst, scramVerifyServerFinal, type ScramClientFinal, type ScramClientFirst } from './scram.ts';
import { resolveSecret, type SecretRef } from './secrets.ts';
import { AuthCode, BackendCode, NegotiationByte } from '../../postgres/protocol/constants.ts';

export { UpstreamError, type UpstreamErrorCode } from './errors.ts';
export { resolveSecret, type SecretRef } from './secrets.ts';

/** One configured PostgreSQL server the gateway connects to on behalf of its clients. */
export interface UpstreamTarget {
  name: string;
  /** Host name or IP; a path starting with '/' means the Unix socket directory (like libpq). */
  host: string;
  port: number;
  database: string;
  user: string;
  password?: SecretRef;
  /** Default `prefer`, as in libpq. `require` with `ca` also verifies the chain (libpq's verify-ca). */
  tls?: { mode: 'disable' | 'prefer' | 'require' | 'verify-full'; ca?: string; servername?: string };
  /** Covers TCP connect, TLS and authentication up to ReadyForQuery. Default 10 000. */
  connectTimeoutMs?: number;
  applicationName?: string;
  /** Extra startup parameters, passed through as configured. */
  options?: Record<string, string>;
}

/** An authenticated session, ready for queries. */
export interface UpstreamConnection {
  /**
   * The socket after ReadyForQuery, with no-delay and keep-alive on. It is paused and has no listeners:
   * attach 'data'/'error'/'close', then `resume()`. From here on the caller reads and writes raw bytes.
   */
  socket: net.Socket | tls.TLSSocket;
  /** From BackendKeyData; with `secretKey`, what a CancelRequest needs. 0 if the server sent none. */
  processId: number;
  secretKey: Buffer;
  /** ParameterStatus values (server_version, client_encoding, ...) to replay to the client. */
  parameters: Map<string, string>;
  /** Bytes that arrived after ReadyForQuery; feed them to the data path's parser first. */
  leftover: Buffer;
  /** Sends Terminate and ends the socket. Safe to call twice. */
  close(): void;
}

// Message type bytes and Authentication codes: the one set of the wire codec (protocol-flow.html, protocol-message-formats.html).
const Backend = BackendCode;
const Auth = AuthCode;

const UNSUPPORTED_AUTH: Record<number, string> = {
  [Auth.KerberosV5]: 'Kerberos V5',
  [Auth.SCMCredential]: 'SCM credentials',
  [Auth.GSS]: 'GSSAPI',
  [Auth.GSSContinue]: 'GSSAPI',
  [Auth.SSPI]: 'SSPI',
};

const CANCEL_REQUEST_CODE = 80877102;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Startup messages are small; a bigger length means we are not talking to PostgreSQL. */
const MAX_STARTUP_MESSAGE = 1 << 20;
const KEEPALIVE_DELAY_MS = 60_000;
/** Gateway-owned startup keys: a caller cannot switch the role or database the gateway logs in as. */
const GATEWAY_OWNED = new Set(['user', 'database', 'client_encoding', 'role', 'session_authorization']);
/** Keys that would change what the session may do (replication, arbitrary GUCs via -c); refused. */
const REFUSED_EXTRA = new Set(['replication', 'options']);

/**
 * Opens an authenticated connection to `target` and returns its socket right after ReadyForQuery.
 *
 * @example
 * const up = await connectUpstream({ name: 'crm', host: 'db.internal', port: 5432, database: 'crm',
 *   user: 'verdict', password: { env: 'CRM_PG_PASSWORD' }, tls: { mode: 'verify-full', ca: '/etc/verdict/ca.pem' } },
 *   { extraStartup: { application_name: 'psql' }, signal });
 * up.socket.on('data', onUpstreamBytes); up.socket.resume();
 */
export async function connectUpstream(
  target: UpstreamTarget,
  opts: {
    extraStartup?: Record<string, string>;
    /**
     * The role the session runs as, sent as the startup parameter `role` (a GUC set at connection start):
     * it becomes the session's default, so RESET ROLE, RESET ALL and DISCARD ALL return to it instead of
     * to the gateway's login user (SET ROLE would not survive them).
     */
    role?: string;
    signal?: AbortSignal;
  } = {},
): Promise<UpstreamConnection> {
  const where = describe(target);
  const signal = deadline(target.connectTimeoutMs, opts.signal);
  const sockets: net.Socket[] = [];
  try {
    const startup = startupParameters(target, opts.extraStartup);
    if (opts.role) startup.role = opts.role;
    const raw = await openSocket(target, signal, where);
    sockets.push(raw);
    const { socket, encrypted } = await negotiateTls(raw, target, signal, where);
    if (socket !== raw) sockets.push(socket);
    socket.write(serialize.startup(startup));
    const session = await authenticate(socket, target, encrypted || isLocal(target, raw), signal, where);
    return connection(socket, session);
  } catch (err) {
    for (const s of sockets) s.destroy();
    throw asUpstreamError(err, signal, target, where);
  }
}

/**
 * Asks the server to cancel the query running in another session: a new connection carrying only a
 * CancelRequest. Resolves once the server has read it and closed; the cancelled query then fails with
 * SQLSTATE 57014 on its own connection.
 *
 * @example
 * await cancelUpstream(target, up.processId, up.secretKey);
 */
export async function cancelUpstream(
  target: Pick<UpstreamTarget, 'host' | 'port' | 'tls'> & Partial<Pick<UpstreamTarget, 'name' | 'connectTimeoutMs'>>,
  processId: number,
  secretKey: Buffer,
): Promise<void> {
  const full: UpstreamTarget = { name: target.name ?? 'cancel', database: '', user: '', ...target };
  const where = describe(full);
  const signal = deadline(target.connectTimeoutMs, undefined);
  const sockets: net.Socket[] = [];
  try {
    const raw = await openSocket(full, signal, where);
    sockets.push(raw);
    const { socket } = await negotiateTls(raw, full, signal, where);
    if (socket !== raw) sockets.push(socket);
    // Built by hand: pg-protocol's serializer takes the key as an int32, protocol 3.2 keys are longer.
    const msg = Buffer.alloc(12 + secretKey.length);
    msg.writeInt32BE(msg.length, 0);
    msg.writeInt32BE(CANCEL_REQUEST_CODE, 4);
    msg.writeInt32BE(processId, 8);
    secretKey.copy(msg, 12);
    const closed = once(socket, 'close', { signal });
    socket.end(msg);
    socket.resume(); // the server answers nothing; drain so 'close' can fire
    await closed;
  } catch (err) {
    throw asUpstreamError(err, signal, full, where);
  } finally {
    for (const s of sockets) s.destroy();
  }
}

function describe(target: UpstreamTarget): string {
  return `upstream "${target.name}" (${target.host}:${target.port})`;
}

/** One signal for both the connect timeout and the caller's abort. */
function deadline(timeoutMs: number | undefined, outer: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  return outer ? AbortSignal.any([timeout, outer]) : timeout;
}

function asUpstreamError(err: unknown, signal: AbortSignal, target: UpstreamTarget, where: string): UpstreamError {
  if (err instanceof UpstreamError) return err;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    if ((reason as { name?: unknown } | undefined)?.name === 'TimeoutError') {
      const ms = target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      return new UpstreamError('TIMEOUT', `${where}: not ready within ${ms} ms (connectTimeoutMs)`, { cause: reason });
    }
    return new UpstreamError('CONNECT_FAILED', `${where}: connection attempt aborted`, { cause: reason });
  }
  return new UpstreamError('CONNECT_FAILED', `${where}: ${messageOf(err)}`, { cause: err });
}

function startupParameters(target: UpstreamTarget, extra: Record<string, string> = {}): Record<string, string> {
  for (const key of Object.keys(extra)) {
    if (REFUSED_EXTRA.has(key) || key.startsWith('_pq_.')) {
      throw new UpstreamError('PROTOCOL', `startup parameter "${key}" cannot be passed to ${describe(target)}`);
    }
  }
  const params: Record<string, string> = {};
  const add = (from: Record<string, string>) => {
    for (const [k, v] of Object.entries(from)) if (!GATEWAY_OWNED.has(k)) params[k] = v;
  };
  add(extra);
  if (target.applicationName !== undefined) params.application_name = target.applicationName;
  add(target.options ?? {});
  // serialize.startup() appends client_encoding=UTF8 itself.
  const all: Record<string, string> = { user: target.user, database: target.database, ...params };
  // The StartupMessage is NUL-separated key/value strings: a NUL inside one would start another parameter
  // (a second `database`, an `options` with -c settings) that the checks above never saw.
  for (const [k, v] of Object.entries(all)) {
    if (k.includes('\0') || v.includes('\0')) throw new UpstreamError('PROTOCOL', `startup parameter "${k.replace(/\0/g, '\\0')}" contains a NUL byte`);
  }
  return all;
}

async function openSocket(target: UpstreamTarget, signal: AbortSignal, where: string): Promise<net.Socket> {
  signal.throwIfAborted();
  const socket = target.host.startsWith('/')
    ? net.connect({ path: join(target.host, `.s.PGSQL.${target.port}`) })
    : net.connect({ host: target.host, port: target.port });
  // Without no-delay every small proxied message waits for Nagle + delayed ACK (~40 ms per query).
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
  try {
    await once(socket, 'connect', { signal });
    return socket;
  } catch (err) {
    socket.destroy();
    if (signal.aborted) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UpstreamError('CONNECT_FAILED', `${where}: cannot connect (${code ?? (err as Error).message})`, { cause: err });
  }
}

async function negotiateTls(
  raw: net.Socket,
  target: UpstreamTarget,
  signal: AbortSignal,
  where: string,
): Promise<{ socket: net.Socket; encrypted: boolean }> {
  const mode = target.tls?.mode ?? 'prefer';
  const required = mode === 'require' || mode === 'verify-full';
  if (mode === 'disable') return { socket: raw, encrypted: false };
  if (target.host.startsWith('/')) {
    // PostgreSQL does not offer TLS on Unix sockets (libpq skips it there too).
    if (required) throw new UpstreamError('TLS_FAILED', `${where}: TLS mode ${mode} is not possible over a Unix socket`);
    return { socket: raw, encrypted: false };
  }
  raw.write(serialize.requestSsl());
  const answer = await readSslAnswer(raw, signal, where);
  if (answer.length !== 1) {
    // Bytes after the one-byte answer were sent before the handshake, unencrypted: an injection attempt
    // (CVE-2021-23214 class). Never let them into the session.
    throw new UpstreamError('PROTOCOL', `${where}: unexpected data after the SSLRequest answer`);
  }
  if (answer[0] === NegotiationByte.Refuse) {
    if (required) throw new UpstreamError('TLS_FAILED', `${where}: the server does not support TLS but TLS mode is ${mode}`);
    return { socket: raw, encrypted: false };
  }
  if (answer[0] !== NegotiationByte.SslAccept) {
    throw new UpstreamError(required ? 'TLS_FAILED' : 'PROTOCOL', `${where}: unexpected answer to SSLRequest (0x${answer[0]!.toString(16)})`);
  }

  let ca: Buffer | undefined;
  if (target.tls?.ca) {
    try {
      ca = readFileSync(target.tls.ca);
    } catch (err) {
      throw new UpstreamError('TLS_FAILED', `${where}: cannot read CA file ${target.tls.ca} (${(err as NodeJS.ErrnoException).code})`, { cause: err });
    }
  }
  const expectedName = target.tls?.servername ?? target.host;
  const verifyChain = mode === 'verify-full' || (mode === 'require' && ca !== undefined);
  const socket = tls.connect({
    socket: raw,
    // SNI must be a DNS name (RFC 6066); an IP literal is still checked against the certificate below.
    ...(net.isIP(expectedName) ? {} : { servername: expectedName }),
    ...(ca ? { ca } : {}),
    rejectUnauthorized: verifyChain,
    checkServerIdentity: (_host, cert) => (mode === 'verify-full' ? tls.checkServerIdentity(expectedName, cert) : undefined),
  });
  try {
    await once(socket, 'secureConnect', { signal });
  } catch (err) {
    socket.destroy();
    if (signal.aborted) throw err;
    throw new UpstreamError('TLS_FAILED', `${where}: TLS handshake failed: ${(err as Error).message}`, { cause: err });
  }
  socket.setNoDelay(true);
  return { socket, encrypted: true };
}

/** The SSLRequest answer is one unframed byte ('S' or 'N'), read before any framing starts. */
function readSslAnswer(socket: net.Socket, signal: AbortSignal, where: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const settle = (finish: () => void) => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      signal.removeEventListener('abort', onAbort);
      finish();
    };
    const onData = (chunk: Buffer) => settle(() => resolve(chunk));
    const onError = (err: Error) => settle(() => reject(new UpstreamError('CONNECT_FAILED', `${where}: ${err.message}`, { cause: err })));
    const onEnd = () => settle(() => reject(new UpstreamError('CONNECT_FAILED', `${where}: the server closed the connection after SSLRequest`)));
    const onAbort = () => settle(() => reject(signal.reason));
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
    signal.addEventListener('abort', onAbort);
    if (signal.aborted) onAbort();
  });
}

interface Session {
  processId: number;
  secretKey: Buffer;
  parameters: Map<string, string>;
  leftover: Buffer;
}

/** The SASL exchange's progress, so a server cannot skip a step (e.g. AuthenticationOk without proof). */
type SaslStep = 'none' | 'sent-first' | 'sent-final' | 'verified';

async function authenticate(socket: net.Socket, target: UpstreamTarget, secure: boolean, signal: AbortSignal, where: string): Promise<Session> {
  const reader = startupReader(socket, signal, where);
  const parser = new Parser();
  const decode = (frame: Buffer): BackendMessage => {
    let msg: BackendMessage | undefined;
    parser.parse(frame, (m) => (msg = m));
    if (!msg) throw new UpstreamError('PROTOCOL', `${where}: undecodable message 0x${frame[0]!.toString(16)}`);
    return msg;
  };
  let password: string | undefined;
  const secret = (): string => {
    if (!target.password) throw new UpstreamError('AUTH_FAILED', `${where}: the server asks for a password but none is configured`);
    try {
      return (password ??= resolveSecret(target.password));
    } catch (err) {
      if (err instanceof UpstreamError) throw new UpstreamError(err.code, `${where}: ${err.message}`, { cause: err });
      throw err;
    }
  };

  const session: Session = { processId: 0, secretKey: Buffer.alloc(0), parameters: new Map(), leftover: Buffer.alloc(0) };
  let sasl: SaslStep = 'none';
  let first: ScramClientFirst | undefined;
  let final: ScramClientFinal | undefined;
  for (;;) {
    const frame = await reader.next();
    switch (frame[0]) {
      case Backend.Authentication: {
        if (frame.length < 9) throw new UpstreamError('PROTOCOL', `${where}: short Authentication message`);
        const code = frame.readInt32BE(5);
        const unsupported = UNSUPPORTED_AUTH[code];
        if (unsupported) {
          throw new UpstreamError('AUTH_UNSUPPORTED', `${where}: the server asks for ${unsupported} authentication, which Verdict does not support; use scram-sha-256 for user "${target.user}" in pg_hba.conf`);
        }
        switch (code) {
          case Auth.Ok:
            if (sasl === 'sent-first' || sasl === 'sent-final') {
              throw new UpstreamError('AUTH_FAILED', `${where}: the server ended SCRAM without proving it knows the password`);
            }
            break;
          case Auth.CleartextPassword:
            // The password would cross the network readable by anyone on the path.
            if (!secure) {
              throw new UpstreamError('AUTH_UNSUPPORTED', `${where}: the server asks for a cleartext password over an unencrypted, non-local connection; enable TLS or use scram-sha-256`);
            }
            socket.write(serialize.password(secret()));
            break;
          case Auth.MD5Password: {
            const salt = (decode(frame) as unknown as { salt: Buffer }).salt;
            socket.write(serialize.password(md5Password(target.user, secret(), salt)));
            break;
          }
          case Auth.SASL: {
            if (sasl !== 'none') throw new UpstreamError('PROTOCOL', `${where}: SASL restarted mid-exchange`);
            const mechanisms = (decode(frame) as unknown as { mechanisms: string[] }).mechanisms;
            // Plain SCRAM even when -PLUS is offered: channel binding is not implemented (yet).
            if (!mechanisms.includes(SCRAM_SHA_256)) {
              throw new UpstreamError('AUTH_UNSUPPORTED', `${where}: the server offers SASL mechanisms ${mechanisms.join(', ')}, none of which Verdict supports`);
            }
            secret(); // fail on a missing secret before starting the exchange
            first = scramClientFirst();
            socket.write(serialize.sendSASLInitialResponseMessage(SCRAM_SHA_256, first.message));
            sasl = 'sent-first';
            break;
          }
          case Auth.SASLContinue: {
            if (sasl !== 'sent-first' || !first) throw new UpstreamError('PROTOCOL', `${where}: unexpected SASLContinue`);
            const data = (decode(frame) as unknown as { data: string }).data;
            final = await scramClientFinal(first, data, secret());
            socket.write(serialize.sendSCRAMClientFinalMessage(final.message));
            sasl = 'sent-final';
            break;
          }
          case Auth.SASLFinal: {
            if (sasl !== 'sent-final' || !final) throw new UpstreamError('PROTOCOL', `${where}: unexpected SASLFinal`);
            const data = (decode(frame) as unknown as { data: string }).data;
            try {
              scramVerifyServerFinal(data, final.serverSignature);
            } catch (err) {
              if (err instanceof UpstreamError) throw new UpstreamError(err.code, `${where}: ${err.message}`, { cause: err });
              throw err;
            }
            sasl = 'verified';
            break;
          }
          default:
            throw new UpstreamError('PROTOCOL', `${where}: unknown authentication request ${code}`);
        }
        break;
      }
      case Backend.ParameterStatus: {
        const m = decode(frame) as ParameterStatusMessage;
        session.parameters.set(m.parameterName, m.parameterValue);
        break;
      }
      case Backend.BackendKeyData:
        // Read raw: pg-protocol decodes the key as a signed int32, and protocol 3.2 keys are longer.
        if (frame.length < 13) throw new UpstreamError('PROTOCOL', `${where}: short BackendKeyData`);
        session.processId = frame.readInt32BE(5);
        session.secretKey = Buffer.from(frame.subarray(9));
        break;
      case Backend.ErrorResponse:
        throw serverError(decode(frame) as DatabaseError, where);
      case Backend.NoticeResponse:
      case Backend.NegotiateProtocolVersion:
        // Informational: a notice, or the server naming protocol options it ignores.
        break;
      case Backend.ReadyForQuery:
        if (sasl === 'sent-first' || sasl === 'sent-final') {
          throw new UpstreamError('AUTH_FAILED', `${where}: the server ended SCRAM without proving it knows the password`);
        }
        session.leftover = reader.detach();
        return session;
      default:
        throw new UpstreamError('PROTOCOL', `${where}: unexpected message 0x${frame[0]!.toString(16)} during startup`);
    }
  }
}

function serverError(err: DatabaseError, where: string): UpstreamError {
  const sqlstate = err.code;
  // Class 28: invalid authorization (28P01 wrong password, 28000 no pg_hba.conf entry / role cannot log in).
  const code = sqlstate?.startsWith('28') ? 'AUTH_FAILED' : 'SERVER_ERROR';
  const text = `${where}: ${err.severity ?? 'ERROR'} ${sqlstate ?? ''}: ${err.message}`.replace(/ {2}/g, ' ');
  return new UpstreamError(code, text, { ...(sqlstate ? { sqlstate } : {}), cause: err });
}

/** 'md5' + md5(md5(password + user) + salt), hex: PostgreSQL's md5 challenge answer. */
function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user, 'utf8').digest('hex');
  return 'md5' + createHash('md5').update(inner).update(salt).digest('hex');
}

/** Frames backend messages during startup only; detach() stops reading and returns what is left over. */
function startupReader(socket: net.Socket, signal: AbortSignal, where: string) {
  let buf: Buffer = Buffer.alloc(0);
  let failure: unknown;
  let wake: (() => void) | undefined;
  const onData = (chunk: Buffer) => {
    // Startup is a handful of small messages; concatenating here is not on the query path.
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    wake?.();
  };
  const fail = (err: unknown) => {
    failure ??= err;
    wake?.();
  };
  const onError = (err: Error) => fail(new UpstreamError('CONNECT_FAILED', `${where}: ${err.message}`, { cause: err }));
  const onEnd = () => fail(new UpstreamError('CONNECT_FAILED', `${where}: the server closed the connection during startup`));
  const onAbort = () => fail(signal.reason);
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  signal.addEventListener('abort', onAbort);
  if (signal.aborted) onAbort();

  return {
    async next(): Promise<Buffer> {
      for (;;) {
        if (buf.length >= 5) {
          const len = buf.readUInt32BE(1);
          if (len < 4 || len > MAX_STARTUP_MESSAGE) throw new UpstreamError('PROTOCOL', `${where}: bad message length ${len} — is this a PostgreSQL server?`);
          if (buf.length >= len + 1) {
            const frame = buf.subarray(0, len + 1);
            buf = buf.subarray(len + 1);
            return frame;
          }
        }
        // Frames already received come first: an ErrorResponse is usually followed by the server's close.
        if (failure !== undefined) throw failure;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
    detach(): Buffer {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      signal.removeEventListener('abort', onAbort);
      // No 'data' listener now: stop the flow until the data path attaches its own.
      socket.pause();
      return Buffer.from(buf);
    },
  };
}

function isLocal(target: UpstreamTarget, socket: net.Socket): boolean {
  if (target.host.startsWith('/')) return true;
  const addr = socket.remoteAddress ?? '';
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}

function connection(socket: net.Socket, session: Session): UpstreamConnection {
  let closed = false;
  return {
    socket,
    ...session,
    close() {
      if (closed) return;
      closed = true;
      if (socket.destroyed) return;
      // Terminate lets the server end the backend cleanly instead of logging an unexpected EOF.
      socket.end(serialize.end());
    },
  };
}
