// Wire constants of PostgreSQL protocol v3 as the gateway's client-facing side sees them: message type
// bytes, startup request codes, ErrorResponse field letters, SQLSTATEs and the size limits PostgreSQL enforces.
// Reference: https://www.postgresql.org/docs/current/protocol-message-formats.html

/** Type bytes of messages a client sends once startup is over (first byte of every typed message). */
export const FrontendCode = {
  Bind: 0x42, // 'B'
  Close: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
  Describe: 0x44, // 'D'
  Execute: 0x45, // 'E'
  Flush: 0x48, // 'H'
  FunctionCall: 0x46, // 'F'
  Parse: 0x50, // 'P'
  /** PasswordMessage, GSSResponse, SASLInitialResponse and SASLResponse all share 'p'. */
  Password: 0x70, // 'p'
  Query: 0x51, // 'Q'
  Sync: 0x53, // 'S'
  Terminate: 0x58, // 'X'
} as const;
export type FrontendCode = (typeof FrontendCode)[keyof typeof FrontendCode];

/** Type bytes of server→client messages: those the gateway writes itself and those it reads from the upstream. */
export const BackendCode = {
  Authentication: 0x52, // 'R'
  BackendKeyData: 0x4b, // 'K'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  CopyBothResponse: 0x57, // 'W'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ErrorResponse: 0x45, // 'E'
  FunctionCallResponse: 0x56, // 'V'
  NegotiateProtocolVersion: 0x76, // 'v'
  NoData: 0x6e, // 'n'
  NoticeResponse: 0x4e, // 'N'
  NotificationResponse: 0x41, // 'A'
  ParameterDescription: 0x74, // 't'
  ParameterStatus: 0x53, // 'S'
  ParseComplete: 0x31, // '1'
  PortalSuspended: 0x73, // 's'
  ReadyForQuery: 0x5a, // 'Z'
  RowDescription: 0x54, // 'T'
} as const;
export type BackendCode = (typeof BackendCode)[keyof typeof BackendCode];

/** The Int32 after 'R' that says which Authentication* message it is. */
export const AuthCode = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  SCMCredential: 6,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** Single-byte answers to SSLRequest / GSSENCRequest; they are not framed messages. */
export const NegotiationByte = {
  SslAccept: 0x53, // 'S'
  GssEncAccept: 0x47, // 'G'
  Refuse: 0x4e, // 'N' (for both)
} as const;

/** The byte after a Describe's or Close's type byte: what it names, a prepared statement or a portal. */
export const TargetByte = {
  PreparedStatement: 0x53, // 'S'
  Portal: 0x50, // 'P'
} as const;

/** ReadyForQuery transaction status: idle, in a transaction block, in a failed transaction block. */
export type TransactionStatus = 'I' | 'T' | 'E';

/** Startup-phase request codes (the Int32 after the length). A protocol version is major << 16 | minor. */
export const RequestCode = {
  /** Protocol 3.0; minor versions 3.x share the major and are negotiated with NegotiateProtocolVersion. */
  Protocol3: 196608, // 3 << 16
  CancelRequest: 80877102, // 1234 << 16 | 5678
  SSLRequest: 80877103, // 1234 << 16 | 5679
  GSSENCRequest: 80877104, // 1234 << 16 | 5680
} as const;

/** The newest protocol minor version the codec understands (3.2 added variable-length cancel keys). */
export const LATEST_MINOR_VERSION = 2;

/** ErrorResponse / NoticeResponse field letters (https://www.postgresql.org/docs/current/protocol-error-fields.html). */
export const ErrorField = {
  Severity: 0x53, // 'S' (localized; we never localize, so it equals 'V')
  SeverityNonLocalized: 0x56, // 'V'
  Code: 0x43, // 'C'
  Message: 0x4d, // 'M'
  Detail: 0x44, // 'D'
  Hint: 0x48, // 'H'
  Position: 0x50, // 'P'
  InternalPosition: 0x70, // 'p'
  InternalQuery: 0x71, // 'q'
  Where: 0x57, // 'W'
  Schema: 0x73, // 's'
  Table: 0x74, // 't'
  Column: 0x63, // 'c'
  DataType: 0x64, // 'd'
  Constraint: 0x6e, // 'n'
  File: 0x46, // 'F'
  Line: 0x4c, // 'L'
  Routine: 0x52, // 'R'
} as const;

/**
 * SQLSTATEs the gateway answers with: the one table all doors share, re-exported so the codec and the PostgreSQL
 * door name them where they write them (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 */
export { SqlState } from '../../../engine/sqlstate.ts';

/** PostgreSQL's MAX_STARTUP_PACKET_LENGTH: a startup packet (length word included) may not exceed it. */
export const MAX_STARTUP_PACKET_BYTES = 10_000;
/**
 * PostgreSQL's PQ_SMALL_MESSAGE_LIMIT: Sync, Flush, Terminate, Describe, Close, Execute, CopyDone and CopyFail
 * never need more, so a bigger length word on them means the stream is garbage (postgres.c SocketBackend).
 */
export const SMALL_MESSAGE_LIMIT = 10_000;
/** PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH: the largest 'p' message (password, SASL or GSS token) it reads. */
export const MAX_AUTH_MESSAGE_BYTES = 65_535;
/** Default cap on Query, Parse, Bind, FunctionCall and CopyData (PostgreSQL's own cap is 1 GiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Protocol 3.2 cancel keys are 4 to 256 bytes long; 3.0 keys are exactly 4. */
export const MIN_CANCEL_KEY_BYTES = 4;
export const MAX_CANCEL_KEY_BYTES = 256;
