// BackendWriter: serializes the server→client messages the gateway produces itself (auth, errors, statuses) into one
// growable buffer. Formats: https://www.postgresql.org/docs/current/protocol-message-formats.html
import {
  AuthCode,
  BackendCode,
  ErrorField,
  MAX_CANCEL_KEY_BYTES,
  MIN_CANCEL_KEY_BYTES,
  NegotiationByte,
  type TransactionStatus,
} from './constants.ts';
import { type ErrorFields, type NoticeFields, ProtocolError, type ResponseFields } from './errors.ts';

const EMPTY = Buffer.alloc(0);

// Messages whose bytes never change are encoded once at load and copied in (a few bytes of memcpy). They stay
// module-private because a Buffer cannot be frozen (Object.freeze throws on a non-empty typed array), so handing
// them out would let a caller corrupt every later message.
function fixed(code: number, authCode?: number): Buffer {
  const b = Buffer.alloc(authCode === undefined ? 5 : 9);
  b[0] = code;
  b.writeInt32BE(b.length - 1, 1);
  if (authCode !== undefined) b.writeInt32BE(authCode, 5);
  return b;
}
function readyForQueryMessage(status: TransactionStatus): Buffer {
  const b = Buffer.alloc(6);
  b[0] = BackendCode.ReadyForQuery;
  b.writeInt32BE(5, 1);
  b[5] = status.charCodeAt(0);
  return b;
}
const AUTHENTICATION_OK = fixed(BackendCode.Authentication, AuthCode.Ok);
const AUTHENTICATION_CLEARTEXT = fixed(BackendCode.Authentication, AuthCode.CleartextPassword);
const PARSE_COMPLETE = fixed(BackendCode.ParseComplete);
const BIND_COMPLETE = fixed(BackendCode.BindComplete);
const CLOSE_COMPLETE = fixed(BackendCode.CloseComplete);
const NO_DATA = fixed(BackendCode.NoData);
const EMPTY_QUERY_RESPONSE = fixed(BackendCode.EmptyQueryResponse);
const READY_IDLE = readyForQueryMessage('I');
const READY_IN_TRANSACTION = readyForQueryMessage('T');
const READY_FAILED = readyForQueryMessage('E');

// Optional ErrorResponse fields in the order PostgreSQL writes them (send_message_to_frontend in elog.c).
const OPTIONAL_FIELDS: readonly (readonly [keyof ResponseFields, number])[] = [
  ['detail', ErrorField.Detail],
  ['hint', ErrorField.Hint],
  ['position', ErrorField.Position],
  ['internalPosition', ErrorField.InternalPosition],
  ['internalQuery', ErrorField.InternalQuery],
  ['where', ErrorField.Where],
  ['schema', ErrorField.Schema],
  ['table', ErrorField.Table],
  ['column', ErrorField.Column],
  ['dataType', ErrorField.DataType],
  ['constraint', ErrorField.Constraint],
  ['file', ErrorField.File],
  ['line', ErrorField.Line],
  ['routine', ErrorField.Routine],
];
const ERROR_SEVERITIES = new Set(['ERROR', 'FATAL', 'PANIC']);
const NOTICE_SEVERITIES = new Set(['WARNING', 'NOTICE', 'DEBUG', 'INFO', 'LOG']);
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Builds server→client messages into one growable buffer; flush() hands the bytes over.
 *
 * Buffer ownership: like pg-protocol's Writer, a message's 5-byte header is reserved and its length back-filled when
 * the body is done. flush() returns a subarray (no copy) that the caller owns: the writer only ever appends past
 * it, and when the buffer is full it continues in a fresh one, so flushed bytes are never overwritten — safe to pass
 * to socket.write(), which may hold them until the kernel takes them.
 * Arguments are validated before anything is written, so a throwing call leaves the buffer as it was.
 *
 * @example
 * const w = new BackendWriter();
 * w.authenticationOk().parameterStatus('server_version', '17.0').backendKeyData(pid, key).readyForQuery('I');
 * socket.write(w.flush());
 */
export class BackendWriter {
  private readonly initialCapacity: number;
  private buf: Buffer;
  private offset = 0; // first free byte
  private flushed = 0; // first byte not yet handed out by flush()
  private header = 0; // position of the current message's type byte

  constructor(initialCapacity = 16 * 1024) {
    if (!Number.isSafeInteger(initialCapacity) || initialCapacity < 16) {
      throw new RangeError(`initialCapacity must be an integer of at least 16, got ${initialCapacity}`);
    }
    this.initialCapacity = initialCapacity;
    this.buf = Buffer.allocUnsafeSlow(initialCapacity);
  }

  /** Bytes written since the last flush(). */
  get length(): number {
    return this.offset - this.flushed;
  }

  /**
   * Everything written since the last flush, as a buffer the caller owns; the writer starts empty again.
   *
   * @example
   * socket.write(writer.readyForQuery('I').flush())
   */
  flush(): Buffer {
    if (this.offset === this.flushed) return EMPTY;
    const out = this.buf.subarray(this.flushed, this.offset);
    this.flushed = this.offset;
    return out;
  }

  /**
   * The single byte answering an SSLRequest: 'S' (go ahead with TLS) or 'N' (continue unencrypted or hang up).
   *
   * @example
   * socket.write(writer.sslResponse(true).flush()) // then upgrade the socket to TLS
   */
  sslResponse(accept: boolean): this {
    return this.byte(accept ? NegotiationByte.SslAccept : NegotiationByte.Refuse);
  }

  /**
   * The single byte answering a GSSENCRequest: 'G' (go ahead with GSSAPI encryption) or 'N'.
   *
   * @example
   * socket.write(writer.gssEncResponse(false).flush())
   */
  gssEncResponse(accept: boolean): this {
    return this.byte(accept ? NegotiationByte.GssEncAccept : NegotiationByte.Refuse);
  }

  /** AuthenticationOk ('R', 0). @example writer.authenticationOk() */
  authenticationOk(): this {
    return this.constant(AUTHENTICATION_OK);
  }

  /**
   * AuthenticationCleartextPassword ('R', 3): the client answers with a 'p' PasswordMessage.
   *
   * @example
   * writer.authenticationCleartextPassword()
   */
  authenticationCleartextPassword(): this {
    return this.constant(AUTHENTICATION_CLEARTEXT);
  }

  /**
   * AuthenticationSASL ('R', 10): the mechanisms offered, in order of preference.
   *
   * @example
   * writer.authenticationSASL(['SCRAM-SHA-256'])
   */
  authenticationSASL(mechanisms: readonly string[]): this {
    for (const m of mechanisms) checkText(m, 'SASL mechanism');
    this.begin(BackendCode.Authentication);
    this.int32(AuthCode.SASL);
    for (const m of mechanisms) this.cstring(m);
    this.byte(0);
    return this.end();
  }

  /**
   * AuthenticationSASLContinue ('R', 11) with the server-first-message.
   *
   * @example
   * writer.authenticationSASLContinue('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096')
   */
  authenticationSASLContinue(data: Buffer | string): this {
    return this.saslData(AuthCode.SASLContinue, data);
  }

  /**
   * AuthenticationSASLFinal ('R', 12) with the server-final-message.
   *
   * @example
   * writer.authenticationSASLFinal('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=')
   */
  authenticationSASLFinal(data: Buffer | string): this {
    return this.saslData(AuthCode.SASLFinal, data);
  }

  /**
   * ParameterStatus ('S'): a run-time parameter the client should know (server_version, client_encoding, ...).
   *
   * @example
   * writer.parameterStatus('client_encoding', 'UTF8')
   */
  parameterStatus(name: string, value: string): this {
    checkText(name, 'parameter name');
    checkText(value, `value of parameter "${name}"`);
    this.begin(BackendCode.ParameterStatus);
    this.cstring(name);
    this.cstring(value);
    return this.end();
  }

  /**
   * BackendKeyData ('K'): the process id and secret key a CancelRequest must quote. A number is a 4-byte key
   * (protocol 3.0); a Buffer may be 4 to 256 bytes (protocol 3.2).
   *
   * @example
   * writer.backendKeyData(4242, randomBytes(32)) // only to a client that negotiated 3.2
   */
  backendKeyData(processId: number, secretKey: Buffer | number): this {
    checkInt32(processId, 'process id');
    if (typeof secretKey === 'number') checkInt32(secretKey, 'secret key');
    else if (secretKey.length < MIN_CANCEL_KEY_BYTES || secretKey.length > MAX_CANCEL_KEY_BYTES) {
      throw new ProtocolError(
        'INVALID_ARGUMENT',
        `secret key must be ${MIN_CANCEL_KEY_BYTES} to ${MAX_CANCEL_KEY_BYTES} bytes, got ${secretKey.length}`,
      );
    }
    this.begin(BackendCode.BackendKeyData);
    this.int32(processId);
    if (typeof secretKey === 'number') this.int32(secretKey);
    else this.bytes(secretKey);
    return this.end();
  }

  /**
   * ReadyForQuery ('Z') with the transaction status: 'I' idle, 'T' in a transaction, 'E' in a failed transaction.
   *
   * @example
   * writer.readyForQuery('I')
   */
  readyForQuery(status: TransactionStatus): this {
    switch (status) {
      case 'I':
        return this.constant(READY_IDLE);
      case 'T':
        return this.constant(READY_IN_TRANSACTION);
      case 'E':
        return this.constant(READY_FAILED);
      default:
        throw new ProtocolError('INVALID_ARGUMENT', `transaction status must be 'I', 'T' or 'E', got ${JSON.stringify(status)}`);
    }
  }

  /**
   * ErrorResponse ('E'). Severity goes out twice, as 'S' and as the never-localized 'V'.
   *
   * @example
   * writer.errorResponse(insufficientPrivilege('policy denied SELECT on patients.ssn', 'decision d-42')).readyForQuery('I')
   */
  errorResponse(fields: ErrorFields): this {
    return this.response(BackendCode.ErrorResponse, fields, ERROR_SEVERITIES);
  }

  /**
   * NoticeResponse ('N'): same fields as an error, with a non-error severity.
   *
   * @example
   * writer.noticeResponse({ severity: 'WARNING', code: '01000', message: 'column ssn is masked by policy' })
   */
  noticeResponse(fields: NoticeFields): this {
    return this.response(BackendCode.NoticeResponse, fields, NOTICE_SEVERITIES);
  }

  /**
   * NegotiateProtocolVersion ('v'): the newest 3.x minor version supported and the `_pq_.` options not recognized.
   * Send it when the client asked for a newer minor version or for unknown options.
   *
   * @example
   * if (startup.minor > LATEST_MINOR_VERSION || startup.protocolOptions.size > 0)
   *   writer.negotiateProtocolVersion(LATEST_MINOR_VERSION, [...startup.protocolOptions.keys()])
   */
  negotiateProtocolVersion(minor: number, unsupportedOptions: readonly string[]): this {
    if (!Number.isInteger(minor) || minor < 0 || minor > 0xffff) {
      throw new ProtocolError('INVALID_ARGUMENT', `minor protocol version must be 0 to 65535, got ${minor}`);
    }
    for (const o of unsupportedOptions) checkText(o, 'protocol option name');
    this.begin(BackendCode.NegotiateProtocolVersion);
    // The full version number (major << 16 | minor), as PostgreSQL sends FrontendProtocol.
    this.int32((3 << 16) | minor);
    this.int32(unsupportedOptions.length);
    for (const o of unsupportedOptions) this.cstring(o);
    return this.end();
  }

  /** ParseComplete ('1'). @example writer.parseComplete() */
  parseComplete(): this {
    return this.constant(PARSE_COMPLETE);
  }

  /** BindComplete ('2'). @example writer.bindComplete() */
  bindComplete(): this {
    return this.constant(BIND_COMPLETE);
  }

  /** CloseComplete ('3'). @example writer.closeComplete() */
  closeComplete(): this {
    return this.constant(CLOSE_COMPLETE);
  }

  /** NoData ('n'): the statement or portal returns no rows. @example writer.noData() */
  noData(): this {
    return this.constant(NO_DATA);
  }

  /** EmptyQueryResponse ('I'): answers an empty query string in place of CommandComplete. @example writer.emptyQueryResponse() */
  emptyQueryResponse(): this {
    return this.constant(EMPTY_QUERY_RESPONSE);
  }

  /**
   * CommandComplete ('C') with its command tag.
   *
   * @example
   * writer.commandComplete('SELECT 0')
   */
  commandComplete(tag: string): this {
    checkText(tag, 'command tag');
    this.begin(BackendCode.CommandComplete);
    this.cstring(tag);
    return this.end();
  }

  /**
   * Appends bytes verbatim, e.g. an upstream message or an allowed client message's `raw`, so they go out in order
   * with the gateway's own messages in one write.
   *
   * @example
   * writer.raw(upstreamChunk)
   */
  raw(bytes: Uint8Array): this {
    this.bytes(bytes);
    return this;
  }

  private constant(message: Buffer): this {
    this.bytes(message);
    return this;
  }

  private response(code: number, fields: ResponseFields, allowed: ReadonlySet<string>): this {
    if (!allowed.has(fields.severity)) {
      throw new ProtocolError('INVALID_ARGUMENT', `severity ${JSON.stringify(fields.severity)} is not one of ${[...allowed].join(', ')}`);
    }
    if (!SQLSTATE.test(fields.code)) {
      throw new ProtocolError('INVALID_ARGUMENT', `SQLSTATE must be five digits or capital letters, got ${JSON.stringify(fields.code)}`);
    }
    checkText(fields.message, 'error message');
    const optional: [number, string][] = [];
    for (const [key, letter] of OPTIONAL_FIELDS) {
      const value = fields[key];
      if (value === undefined) continue;
      const text = String(value);
      checkText(text, `error field ${key}`);
      optional.push([letter, text]);
    }
    this.begin(code);
    this.field(ErrorField.Severity, fields.severity);
    this.field(ErrorField.SeverityNonLocalized, fields.severity);
    this.field(ErrorField.Code, fields.code);
    this.field(ErrorField.Message, fields.message);
    for (const [letter, text] of optional) this.field(letter, text);
    this.byte(0);
    return this.end();
  }

  private saslData(authCode: number, data: Buffer | string): this {
    this.begin(BackendCode.Authentication);
    this.int32(authCode);
    if (typeof data === 'string') this.string(data);
    else this.bytes(data);
    return this.end();
  }

  // Room for n more bytes. Flushed bytes belong to the caller, so rather than compacting in place the unflushed
  // remainder moves to a fresh buffer (doubling from the initial capacity until it fits).
  private ensure(n: number): void {
    if (this.buf.length - this.offset >= n) return;
    const pending = this.offset - this.flushed;
    let capacity = this.initialCapacity;
    while (capacity < pending + n) capacity *= 2;
    const next = Buffer.allocUnsafeSlow(capacity);
    this.buf.copy(next, 0, this.flushed, this.offset);
    this.header -= this.flushed;
    this.buf = next;
    this.offset = pending;
    this.flushed = 0;
  }

  // Reserves the 5-byte header; end() back-fills the length once the body is written.
  private begin(code: number): void {
    this.ensure(5);
    this.header = this.offset;
    this.buf[this.offset] = code;
    this.offset += 5;
  }

  private end(): this {
    this.buf.writeInt32BE(this.offset - this.header - 1, this.header + 1);
    return this;
  }

  private byte(b: number): this {
    this.ensure(1);
    this.buf[this.offset++] = b;
    return this;
  }

  private int32(v: number): void {
    this.ensure(4);
    // Accept both signed and unsigned 32-bit values (pids and keys are often generated as uint32).
    this.buf.writeUInt32BE(v >>> 0, this.offset);
    this.offset += 4;
  }

  private bytes(b: Uint8Array): void {
    this.ensure(b.byteLength);
    this.buf.set(b, this.offset);
    this.offset += b.byteLength;
  }

  private string(s: string): void {
    // A UTF-16 code unit never takes more than 3 UTF-8 bytes, so this bound avoids a Buffer.byteLength pass.
    this.ensure(s.length * 3);
    this.offset += this.buf.write(s, this.offset, 'utf8');
  }

  private cstring(s: string): void {
    this.string(s);
    this.byte(0);
  }

  private field(letter: number, value: string): void {
    this.byte(letter);
    this.cstring(value);
  }
}

// A NUL inside a string would end it early and desynchronize the client's framing of everything after.
function checkText(s: string, what: string): void {
  if (typeof s !== 'string') throw new ProtocolError('INVALID_ARGUMENT', `${what} must be a string, got ${typeof s}`);
  if (s.includes('\0')) throw new ProtocolError('INVALID_ARGUMENT', `${what} contains a NUL character, which the protocol cannot carry`);
}

function checkInt32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
    throw new ProtocolError('INVALID_ARGUMENT', `${what} must be a 32-bit integer, got ${v}`);
  }
}
