// The settings every door keeps as the analysis assumes them: the statements that would change them, and the
// server reports that mean they changed anyway.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeSql, loadParser } from '../../engine/sql/postgres/analyze.ts';
import { snowflake } from '../../engine/sql/snowflake/dialect.ts';
import { reportedSettingProblem, settingsRefusal } from './settings.ts';

beforeAll(() => loadParser());

const refusal = (sql: string) => settingsRefusal(analyzeSql(sql)[0]!);

describe('settingsRefusal', () => {
  it.each([
    ['SET search_path = evil, public', /search_path/],
    ["SET standard_conforming_strings = off", /standard_conforming_strings/],
    ["SET client_encoding = 'SJIS'", /client_encoding/],
    ["SELECT set_config('search_path', 'x', false)", /set_config/],
    ["DO $$ BEGIN SET search_path = evil; END $$", /search_path/],
  ])('refuses %s', (sql, why) => expect(refusal(sql)).toMatch(why));

  it.each(['SET search_path = DEFAULT', 'SET standard_conforming_strings = on', "SET client_encoding = 'UTF8'", 'RESET ALL', 'SET work_mem = 1024', 'SELECT 1'])('lets %s run', (sql) =>
    expect(refusal(sql)).toBeNull(),
  );
});

describe('settingsRefusal (Snowflake)', () => {
  beforeAll(() => snowflake.load());
  const sf = (sql: string) => settingsRefusal(snowflake.analyze(sql, { database: 'CLINIC', schema: 'PUBLIC' })[0]!);

  it.each([
    ['USE SCHEMA OTHER', /USE SCHEMA/],
    ['USE DATABASE X', /USE DATABASE/],
    ['USE ROLE ACCOUNTADMIN', /USE ROLE/],
    ['USE SECONDARY ROLES ALL', /USE SECONDARY ROLES/],
    ['ALTER SESSION SET QUOTED_IDENTIFIERS_IGNORE_CASE = TRUE', /reads names/],
  ])('refuses %s', (sql, why) => expect(sf(sql)).toMatch(why));

  it.each(["ALTER SESSION SET TIMEZONE = 'UTC'", 'USE WAREHOUSE W', 'SELECT 1'])('lets %s run', (sql) => expect(sf(sql)).toBeNull());
});

describe('reportedSettingProblem', () => {
  it('flags values the analysis cannot read under, and a changed session_authorization', () => {
    expect(reportedSettingProblem('standard_conforming_strings', 'off', undefined)).toMatch(/standard_conforming_strings = off/);
    expect(reportedSettingProblem('client_encoding', 'LATIN1', undefined)).toMatch(/client_encoding/);
    expect(reportedSettingProblem('session_authorization', 'postgres', 'verdict')).toMatch(/changed from verdict to postgres/);
    expect(reportedSettingProblem('session_authorization', 'verdict', undefined)).toBeNull();
    expect(reportedSettingProblem('client_encoding', 'UTF8', undefined)).toBeNull();
    expect(reportedSettingProblem('application_name', 'x', 'y')).toBeNull();
  });
});
