// Startup settings as PostgreSQL reads them (libpq options, GUC names in any case), the policy's list,
// and the settings never passed through whatever the list says.
import { describe, expect, it } from 'vitest';
import { startupSettings } from './startup-parameters.ts';

const allowed = new Set(['application_name', 'statement_timeout', 'datestyle', 'timezone', 'default_transaction_isolation']);
const settings = (params: Record<string, string>) => startupSettings(new Map(Object.entries({ user: 'bob', database: 'clinic', ...params })), allowed);

describe('startupSettings', () => {
  it('passes listed settings, from parameters and from options, names folded to lower case', () => {
    expect(settings({ application_name: 'psql', DateStyle: 'ISO', options: '-c statement_timeout=5s --default-transaction-isolation=repeatable\\ read -cTimeZone=UTC' })).toEqual({
      ok: true,
      parameters: { application_name: 'psql', datestyle: 'ISO', statement_timeout: '5s', default_transaction_isolation: 'repeatable read', timezone: 'UTC' },
    });
  });

  it("takes Verdict's own verdict.purpose for the gateway (never upstream) and refuses other verdict.* names", () => {
    expect(settings({ options: '-c verdict.purpose=treatment -c statement_timeout=5s' })).toEqual({ ok: true, parameters: { statement_timeout: '5s' } });
    const other = settings({ options: '-c verdict.bypass=on' });
    expect(other.ok).toBe(false);
    expect(!other.ok && other.error.message).toMatch(/"verdict.bypass"/);
  });

  it('keeps user, database and an empty options out of the settings', () => {
    expect(settings({ options: '   ' })).toEqual({ ok: true, parameters: {} });
  });

  it.each(['UTF8', 'utf-8', 'UNICODE', 'SQL_ASCII'])('accepts client_encoding %s (the session is UTF8)', (enc) => {
    expect(settings({ client_encoding: enc })).toEqual({ ok: true, parameters: {} });
  });

  it('refuses another client_encoding with 0A000', () => {
    const r = settings({ client_encoding: 'LATIN1' });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatchObject({ severity: 'FATAL', code: '0A000' });
  });

  it('refuses a setting the policy does not list, naming it and the list', () => {
    const r = settings({ options: '-c work_mem=64MB' });
    expect(!r.ok && r.error).toMatchObject({ severity: 'FATAL', code: '42501', detail: 'startup parameter "work_mem"' });
    expect(!r.ok && r.error.hint).toContain('application_name, datestyle, default_transaction_isolation, statement_timeout, timezone');
  });

  it.each([['search_path'], ['SEARCH_PATH'], ['role'], ['session_authorization'], ['standard_conforming_strings'], ['backslash_quote']])(
    'never passes %s, even when listed',
    (name) => {
      const r = startupSettings(new Map([[name, 'x']]), new Set([name.toLowerCase()]));
      expect(!r.ok && r.error).toMatchObject({ code: '42501' });
      expect(!r.ok && r.error.message).toContain(`"${name}"`);
    },
  );

  it('refuses options that are not settings, and settings without a value', () => {
    expect(!settings({ options: '-e' }).ok && (settings({ options: '-e' }) as { error: { code: string } }).error.code).toBe('0A000');
    expect((settings({ options: '-c statement_timeout' }) as { error: { code: string } }).error.code).toBe('42601');
    expect((settings({ options: '-c' }) as { error: { code: string } }).error.code).toBe('42601');
  });

  it('without a policy bundle nothing passes, and the refusal says why', () => {
    const r = startupSettings(new Map([['application_name', 'psql']]), new Set(), false);
    expect(!r.ok && r.error.hint).toContain('no policy bundle is loaded');
  });

  it('a backslash escapes a blank inside a value, as in libpq', () => {
    expect(settings({ options: '-c application_name=a\\ b\\\\c' })).toEqual({ ok: true, parameters: { application_name: 'a b\\c' } });
  });
});
