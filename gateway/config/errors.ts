// The configuration's one error module: the file is missing, unreadable or invalid (the gateway refuses to start).

/** The configuration cannot be used; `message` names the file, the path inside it and the problem. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
}
