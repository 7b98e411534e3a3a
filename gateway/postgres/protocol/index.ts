// The client-facing PostgreSQL v3 codec: FrontendReader frames what clients send, BackendWriter encodes what the
// gateway answers. Bytes only; the connection state machine lives elsewhere.
export * from './constants.ts';
export * from './errors.ts';
export type * from './messages.ts';
export { FrontendReader, paramFormat, parseSASLInitialResponse, type FrontendReaderOptions } from './reader.ts';
export { eachErrorField, errorCode, errorField, errorSeverity } from './error-fields.ts';
export { BackendWriter } from './writer.ts';
