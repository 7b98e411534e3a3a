// The frontend (client→server) messages FrontendReader returns. Only what policy needs is decoded;
// every message keeps `raw`, its exact wire bytes, so an allowed message is forwarded without re-encoding.
// Formats: https://www.postgresql.org/docs/current/protocol-message-formats.html
import type { FrontendCode } from './constants.ts';

/** Fields every message has. `raw` is the whole message, header included; see FrontendReader for its lifetime. */
interface Framed {
  readonly raw: Buffer;
}

/** StartupMessage (no type byte): protocol 3.x plus NUL-terminated key/value pairs. */
export interface StartupMessage extends Framed {
  readonly type: 'startup';
  readonly major: 3;
  /** The requested minor version; above LATEST_MINOR_VERSION the server should send NegotiateProtocolVersion. */
  readonly minor: number;
  /** Every pair except `_pq_.*` protocol options, in wire order (includes `user`, and `database` if sent). */
  readonly parameters: ReadonlyMap<string, string>;
  /** `_pq_.*` protocol extension options; the server lists the ones it does not know in NegotiateProtocolVersion. */
  readonly protocolOptions: ReadonlyMap<string, string>;
  readonly user: string;
  /** The `database` parameter, which defaults to the user name when absent. */
  readonly database: string;
}

/** SSLRequest: answer with one byte, 'S' or 'N', then (on 'S') the TLS handshake. */
export interface SSLRequestMessage extends Framed {
  readonly type: 'sslRequest';
}

/** GSSENCRequest: answer with one byte, 'G' or 'N'. */
export interface GSSENCRequestMessage extends Framed {
  readonly type: 'gssEncRequest';
}

/** CancelRequest, sent on a fresh connection. The key is 4 bytes in 3.0 and up to 256 bytes in 3.2. */
export interface CancelRequestMessage extends Framed {
  readonly type: 'cancelRequest';
  readonly processId: number;
  readonly secretKey: Buffer;
}

/** Query 'Q': simple protocol, possibly several statements. */
export interface QueryMessage extends Framed {
  readonly type: 'query';
  readonly code: typeof FrontendCode.Query;
  readonly sql: string;
}

/** Parse 'P': prepares `sql` as `statement` ('' = the unnamed statement). */
export interface ParseMessage extends Framed {
  readonly type: 'parse';
  readonly code: typeof FrontendCode.Parse;
  readonly statement: string;
  readonly sql: string;
  /** Parameter type OIDs (unsigned); 0 leaves the type for the server to infer. */
  readonly paramTypes: readonly number[];
}

/** Bind 'B': binds values to `statement`, creating `portal` ('' = unnamed). */
export interface BindMessage extends Framed {
  readonly type: 'bind';
  readonly code: typeof FrontendCode.Bind;
  readonly portal: string;
  readonly statement: string;
  /** 0 (text) or 1 (binary): none = all text, one = applies to all, else one per parameter. See paramFormat(). */
  readonly paramFormats: readonly number[];
  /** Each value as a slice of `raw`, or null for SQL NULL. */
  readonly params: readonly (Buffer | null)[];
  readonly resultFormats: readonly number[];
}

/** Describe 'D' of a prepared statement ('S') or a portal ('P'). */
export interface DescribeMessage extends Framed {
  readonly type: 'describe';
  readonly code: typeof FrontendCode.Describe;
  readonly target: 'S' | 'P';
  readonly name: string;
}

/** Execute 'E': runs `portal`; maxRows 0 means no limit. */
export interface ExecuteMessage extends Framed {
  readonly type: 'execute';
  readonly code: typeof FrontendCode.Execute;
  readonly portal: string;
  readonly maxRows: number;
}

/** Close 'C' of a prepared statement ('S') or a portal ('P'). */
export interface CloseMessage extends Framed {
  readonly type: 'close';
  readonly code: typeof FrontendCode.Close;
  readonly target: 'S' | 'P';
  readonly name: string;
}

/**
 * 'p': PasswordMessage, SASLInitialResponse, SASLResponse or GSSResponse — only the server's state tells which.
 * `payload` is the body; `text` is the body up to its first NUL as UTF-8 (the cleartext password or token).
 */
export interface PasswordMessage extends Framed {
  readonly type: 'password';
  readonly code: typeof FrontendCode.Password;
  readonly payload: Buffer;
  readonly text: string;
}

/** Messages forwarded as bytes without decoding. */
export type PassthroughType = 'sync' | 'flush' | 'terminate' | 'copyData' | 'copyDone' | 'copyFail' | 'functionCall';

export interface PassthroughMessage extends Framed {
  readonly type: PassthroughType;
  readonly code: number;
}

export type StartupPhaseMessage = StartupMessage | SSLRequestMessage | GSSENCRequestMessage | CancelRequestMessage;
export type TypedMessage =
  | QueryMessage
  | ParseMessage
  | BindMessage
  | DescribeMessage
  | ExecuteMessage
  | CloseMessage
  | PasswordMessage
  | PassthroughMessage;
export type FrontendMessage = StartupPhaseMessage | TypedMessage;
