// Typed access to the pinned CLI tools that bootstrap.mjs installs.
import { ensureTool } from '../cli/bootstrap.mjs';

export const opaPath = (): string => ensureTool('opa');
export const actionlintPath = (): string => ensureTool('actionlint');
