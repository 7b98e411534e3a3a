// The policy tooling's one error module: `verdict policy check|build` failed (ToolchainError, with a stable
// `code`). A bundle that cannot be loaded or verified is the engine's EngineError.

/** Why a policy check or build failed; callers `switch (err.code)`. */
export const ToolchainErrorCode = {
  /** An opa command (fmt, check, test, build) exited non-zero; its output says why. */
  OpaFailed: 'OPA_FAILED',
  /** The policy tests pass but cover less of policies/ than the threshold. */
  CoverageBelowThreshold: 'COVERAGE_BELOW_THRESHOLD',
} as const;
export type ToolchainErrorCode = (typeof ToolchainErrorCode)[keyof typeof ToolchainErrorCode];

/**
 * A policy check or build failed; `message` says which step and what to do.
 *
 * @example
 * try { policyBuild() } catch (e) { if (e instanceof ToolchainError && e.code === 'OPA_FAILED') process.exitCode = 1 }
 */
export class ToolchainError extends Error {
  override name = 'ToolchainError';
  readonly code: ToolchainErrorCode;

  constructor(code: ToolchainErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
