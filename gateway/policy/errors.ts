// The policy tooling's one error module: `verdict policy check|build` failed (ToolchainError, with a stable
// `code`). A bundle that cannot be loaded or verified is the engine's EngineError.
import { CodedError } from '../../engine/errors.ts';

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
export class ToolchainError extends CodedError<ToolchainErrorCode> {
  override name = 'ToolchainError';
}
