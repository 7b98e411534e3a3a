// Analysing before a dialect's parser is loaded is a programming error with a stable code, not a denial:
// callers (the engine) load both parsers first; this pins the code they switch on.
import { describe, expect, it } from 'vitest';
import { EngineError } from '../errors.ts';
import { analyzeSql, parseTree } from './postgres/analyze.ts';
import { analyzeSnowflake } from './snowflake/analyze.ts';

describe('a dialect whose parser is not loaded', () => {
  it.each([
    ['PostgreSQL', () => analyzeSql('SELECT 1')],
    // the raw parse tree the blast-radius measurement re-parses with
    ['PostgreSQL parseTree', () => parseTree('SELECT 1')],
    ['Snowflake', () => analyzeSnowflake('SELECT 1')],
  ])('%s: throws EngineError PARSER_NOT_LOADED', (_dialect, analyze) => {
    let thrown: unknown;
    try {
      analyze();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(EngineError);
    expect((thrown as EngineError).code).toBe('PARSER_NOT_LOADED');
    expect((thrown as EngineError).message).toMatch(/await loadParser\(\)/);
  });
});
