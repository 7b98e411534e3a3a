// The session settings the statement analysis depends on, and the statements and server reports that would
// change them. Every door checks statements with `settingsRefusal` before they run and the server's reports
// (PostgreSQL ParameterStatus) with `reportedSettingProblem`: SQL is read as the server reads it only while
// standard_conforming_strings is on, client_encoding is UTF8 and search_path is the session's own
// (docs/session-model.md, "Settings").
import type { StatementAnalysis } from '../../engine/sql/types.ts';

/** Settings whose value the analysis assumes, with the check of a reported value. */
const REQUIRED_SETTINGS: Readonly<Record<string, (value: string) => boolean>> = {
  standard_conforming_strings: (v) => isOn(v),
  client_encoding: (v) => isUtf8(v),
};

/**
 * Why running `a` (or a statement nested in it, such as a DO body) would leave the session unreadable to the
 * analysis, or null: SET/RESET of search_path, standard_conforming_strings off, client_encoding other than
 * UTF8, and set_config() anywhere.
 *
 * @example
 * settingsRefusal(analyzeSql("SET search_path = evil")[0]) // 'Verdict denied this statement: search_path must stay …'
 */
export function settingsRefusal(a: StatementAnalysis): string | null {
  const problem = settingProblem(a);
  if (problem) return problem;
  for (const n of a.nested) {
    const inner = settingProblem(n);
    if (inner) return inner;
  }
  if (a.functions.some(isSetConfig) || a.nested.some((n) => n.functions.some(isSetConfig))) {
    return 'Verdict denied this statement: set_config() changes settings the gateway cannot follow; use SET for the settings you may change';
  }
  return null;
}

/**
 * Why a setting the server reports (PostgreSQL ParameterStatus) means the gateway can no longer check what
 * runs, or null. `before` is the value reported earlier in the session (session_authorization must not change).
 */
export function reportedSettingProblem(name: string, value: string, before: string | undefined): string | null {
  const ok = REQUIRED_SETTINGS[name];
  if (ok && !ok(value)) {
    return `the server reports ${name} = ${value}; Verdict reads SQL as it would be read with ${name === 'client_encoding' ? 'UTF8' : 'on'}, so it can no longer check what runs`;
  }
  if (name === 'session_authorization' && before !== undefined && before !== value) {
    return `the server reports session_authorization changed from ${before} to ${value}; statements would run with rights the policy did not decide on`;
  }
  return null;
}

/** Settings a session may never start with, whatever the policy lists: each changes how SQL is read or whose rights apply. */
const NEVER_AT_STARTUP: Readonly<Record<string, string>> = {
  search_path: 'the gateway resolves table names with the session\'s own search_path, and another could make a name mean another table than the one the policy judged; qualify names with their schema instead',
  standard_conforming_strings: 'the gateway reads every statement as the server does with standard_conforming_strings on',
  backslash_quote: 'it changes how string literals are read',
  client_encoding: 'the gateway reads every statement as UTF8',
  role: 'the session runs with the role Verdict chose for your groups',
  session_authorization: 'the session runs with the role Verdict chose for your groups',
};

/**
 * Why a session may not start with setting `name` (a PostgreSQL startup parameter, lower case), or null: the
 * settings the analysis depends on and those that pick whose rights apply are never passed through.
 *
 * @example
 * startupSettingRefusal('search_path') // 'the gateway resolves table names with …'
 */
export function startupSettingRefusal(name: string): string | null {
  return Object.hasOwn(NEVER_AT_STARTUP, name) ? NEVER_AT_STARTUP[name]! : null;
}

/** Snowflake statements that move the session to other names or other rights than those decided on. */
const SNOWFLAKE_SESSION_MOVES: Readonly<Record<string, string>> = {
  'USE DATABASE': 'the gateway resolves names in the session\'s database, and another could make a name mean another table than the one the policy judged; qualify names instead',
  'USE SCHEMA': 'the gateway resolves names in the session\'s schema, and another could make a name mean another table than the one the policy judged; qualify names instead',
  'USE ROLE': 'the session runs with the role Verdict chose for your groups',
  'USE SECONDARY ROLES': 'the session runs with the role Verdict chose for your groups, and no other',
};

/** Snowflake session parameters that change how SQL text is read (identifier case). */
const SNOWFLAKE_READING = new Set(['quoted_identifiers_ignore_case']);

/** Why a SET (or RESET) would leave the session unreadable to the analysis, or null. */
function settingProblem(a: StatementAnalysis): string | null {
  const move = SNOWFLAKE_SESSION_MOVES[a.command];
  if (move) return `Verdict denied this statement: ${a.command} — ${move}`;
  if (a.command === 'ALTER SESSION' && a.setting !== null && SNOWFLAKE_READING.has(a.setting.toLowerCase())) {
    return `Verdict denied this statement: ${a.setting} changes how Snowflake reads names, and the gateway reads them as the session started`;
  }
  if (a.command !== 'SET' && a.command !== 'RESET') return null;
  const setting = a.setting;
  if (setting === null || setting === '*') return null; // RESET ALL returns every setting to its session default: the checked ones
  const value = a.setting_value;
  if (setting === 'search_path' && value !== 'DEFAULT') {
    return 'Verdict denied this statement: search_path must stay as the session started — the gateway resolves table names with it, and another path could make a name mean another table than the one the policy judged; qualify names with their schema instead';
  }
  const ok = REQUIRED_SETTINGS[setting];
  if (!ok) return null;
  if (value === 'DEFAULT' || value === 'FROM CURRENT' || (value !== null && ok(value))) return null;
  return `Verdict denied this statement: ${setting} must stay ${setting === 'client_encoding' ? 'UTF8' : 'on'} — the gateway reads every statement as the server would with that value, and a different one would let text mean something else to the server than to the policy`;
}

function isOn(v: string): boolean {
  return ['on', 'true', 'yes', '1', 't', 'y'].includes(v.trim().toLowerCase());
}

function isUtf8(v: string): boolean {
  const n = v.trim().toLowerCase().replace(/[-_]/g, '');
  return n === 'utf8' || n === 'unicode';
}

function isSetConfig(f: string): boolean {
  return f === 'set_config' || f === 'pg_catalog.set_config';
}
