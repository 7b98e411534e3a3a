// The settings a client's StartupMessage asks for, as the upstream session will get them: those the policy
// lists (data.session.startup_parameters) pass through, the rest refuse the session with a FATAL naming the
// parameter. Nothing is dropped silently. libpq's `options=-c name=value` is read as PostgreSQL reads it.
import { startupSettingRefusal } from '../pipeline/settings.ts';
import { featureNotSupported, insufficientPrivilege, SqlState, type ErrorFields } from './protocol/index.ts';

/** Parameters of the StartupMessage that are not settings: the gateway itself uses or refuses them. */
const NOT_SETTINGS = new Set(['user', 'database', 'replication', 'options']);

/**
 * Verdict's own settings: read by the gateway (the purpose of use, gateway/pipeline/purpose.ts), never sent
 * upstream. Any other `verdict.*` name is refused like an unlisted setting.
 */
const GATEWAY_SETTINGS = new Set(['verdict.purpose']);

/** What to send upstream (setting → value), or the FATAL that refuses the session. */
export type StartupSettings = { ok: true; parameters: Record<string, string> } | { ok: false; error: ErrorFields };

/**
 * The settings to start the upstream session with, from the client's startup parameters.
 *
 * Verdict's own settings (`verdict.purpose`) are the gateway's and not sent upstream. `client_encoding` must name UTF8 (SQL_ASCII, "no conversion", is served as UTF8 too); any other setting
 * must be in `allowed` and not one that changes how statements are read or whose rights apply
 * (`policyLoaded` false: no bundle is loaded, and the refusal says so). Errors: 42501 for a setting the
 * policy does not allow, 0A000 for another client encoding or startup option, 42601 for `-c` without
 * name=value.
 *
 * @example
 * startupSettings(new Map([['application_name', 'psql'], ['options', '-c statement_timeout=5s']]), allowed)
 * // { ok: true, parameters: { application_name: 'psql', statement_timeout: '5s' } }
 */
export function startupSettings(parameters: ReadonlyMap<string, string>, allowed: ReadonlySet<string>, policyLoaded = true): StartupSettings {
  const out: Record<string, string> = {};
  const settings: [string, string][] = [];
  for (const [key, value] of parameters) {
    if (key.startsWith('_pq_.')) continue; // protocol options, not settings (the reader keeps them apart)
    if (!NOT_SETTINGS.has(key)) settings.push([key, value]);
  }
  const options = parameters.get('options');
  if (options !== undefined) {
    const parsed = optionSettings(options);
    if (!Array.isArray(parsed)) return { ok: false, error: parsed };
    settings.push(...parsed);
  }
  for (const [key, value] of settings) {
    const name = key.toLowerCase(); // GUC names are case-insensitive (JDBC sends DateStyle, TimeZone)
    if (name === 'client_encoding') {
      if (!isUtf8OrAscii(value)) {
        return { ok: false, error: { ...featureNotSupported(`Verdict serves sessions in UTF8 only; the client asked for client_encoding "${value}"`), severity: 'FATAL', hint: 'set client_encoding (PGCLIENTENCODING) to UTF8' } };
      }
      continue; // the upstream session is UTF8 (the connector sends client_encoding=UTF8 itself)
    }
    if (GATEWAY_SETTINGS.has(name)) continue; // the gateway's own; not the upstream's
    const never = startupSettingRefusal(name);
    if (never) return { ok: false, error: refused(key, `Verdict does not pass the startup parameter "${key}" through: ${never}`) };
    if (!allowed.has(name)) {
      return {
        ok: false,
        error: refused(
          key,
          `Verdict does not pass the startup parameter "${key}" through: the policy does not allow it`,
          policyLoaded
            ? `settings a session may start with: ${[...allowed].sort().join(', ') || 'none'} (policy data session.startup_parameters)`
            : 'no policy bundle is loaded, so no setting may be passed (and every statement would be denied); ask the operator',
        ),
      };
    }
    out[name] = value;
  }
  return { ok: true, parameters: out };
}

function refused(key: string, message: string, hint?: string): ErrorFields {
  return { ...insufficientPrivilege(message, `startup parameter "${key}"`, hint), severity: 'FATAL' };
}

/**
 * libpq's `options` as PostgreSQL reads them (pg_split_opts, then the postgres command-line switches): words
 * split at whitespace, a backslash escaping the next character; `-c name=value`, `-cname=value` and
 * `--name=value` set a setting, with '-' in the name read as '_'. Other switches are refused.
 */
function optionSettings(options: string): [string, string][] | ErrorFields {
  const words: string[] = [];
  let i = 0;
  while (i < options.length) {
    while (i < options.length && /\s/.test(options[i]!)) i++;
    if (i >= options.length) break;
    let word = '';
    while (i < options.length && !/\s/.test(options[i]!)) {
      if (options[i] === '\\' && i + 1 < options.length) i++;
      word += options[i++];
    }
    words.push(word);
  }
  const out: [string, string][] = [];
  for (let w = 0; w < words.length; w++) {
    const word = words[w]!;
    let setting: string;
    if (word === '-c') {
      if (w + 1 >= words.length) return syntaxError('the option -c needs name=value');
      setting = words[++w]!;
    } else if (word.startsWith('-c')) setting = word.slice(2);
    else if (word.startsWith('--')) setting = word.slice(2);
    else {
      return { ...featureNotSupported(`Verdict passes only settings (-c name=value) in the startup options, not "${word}"`), severity: 'FATAL' };
    }
    const eq = setting.indexOf('=');
    if (eq <= 0) return syntaxError(`the option "${setting}" needs a value (name=value)`);
    out.push([setting.slice(0, eq).replace(/-/g, '_'), setting.slice(eq + 1)]);
  }
  return out;
}

function syntaxError(message: string): ErrorFields {
  return { severity: 'FATAL', code: SqlState.SyntaxError, message };
}

function isUtf8OrAscii(v: string): boolean {
  const n = v.trim().toLowerCase().replace(/[-_]/g, '');
  return n === 'utf8' || n === 'unicode' || n === 'sqlascii';
}
