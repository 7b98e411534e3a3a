// Typed access to the pinned CLI tools the policy tooling runs (found or installed by gateway/tools/install.mjs).
import { ensureTool } from '../tools/install.mjs';

export const opaPath = (): string => ensureTool('opa');
export const actionlintPath = (): string => ensureTool('actionlint');
