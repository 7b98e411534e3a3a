// The engine's error type: one class with a stable `code` that callers switch on, and the cause kept.
// What goes wrong while deciding (no entrypoint, a failed evaluation, a malformed decision) is not thrown:
// the engine fails closed with a deny whose reason rule is one of ENGINE_RULES (engine/decision/decision.ts).

export type EngineErrorCode =
  | 'BUNDLE_MISSING'
  | 'BUNDLE_ARCHIVE'
  | 'BUNDLE_MANIFEST'
  | 'BUNDLE_SIGNATURE'
  | 'BUNDLE_REVISION'
  | 'BUNDLE_ROLLBACK'
  | 'BUNDLE_WASM'
  | 'PARSER_NOT_LOADED';

/**
 * The shape of every Verdict error with a stable code: `code`, one of its area's declared codes, is what callers
 * switch on; `message` says what to fix; `cause` is kept. Each area's errors module extends it with its codes.
 *
 * @example
 * export class ToolchainError extends CodedError<ToolchainErrorCode> { override name = 'ToolchainError' }
 */
export class CodedError<C extends string> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * An error from the engine. `code` is stable; `message` says what to fix.
 *
 * @example
 * try { await loadBundle(path) } catch (e) { if (e instanceof EngineError && e.code === 'BUNDLE_SIGNATURE') ... }
 */
export class EngineError extends CodedError<EngineErrorCode> {
  override name = 'EngineError';
}

/** The message of anything thrown, including the non-Error values some libraries throw. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  if (err && typeof err === 'object' && 'message' in err && typeof err.message === 'string') return err.message;
  try {
    return JSON.stringify(err) ?? String(err); // undefined, a function, a symbol: no JSON
  } catch {
    return String(err);
  }
}
