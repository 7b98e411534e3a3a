// subjectAnalysis: what approvers are shown the statement does, from the engine's analysis.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeSql, loadParser } from '../../engine/sql/postgres/analyze.ts';
import { subjectAnalysis } from './provider.ts';

beforeAll(() => loadParser());

describe('subjectAnalysis', () => {
  it('names the kind and tables, and an unfiltered write', () => {
    expect(subjectAnalysis(analyzeSql('DELETE FROM visits')[0]!)).toEqual({ kind: 'delete', tables: ['public.visits'], unfiltered_write: true });
  });

  it('names the kinds of what a DO block runs, so a DROP inside one is seen as DDL', () => {
    const a = subjectAnalysis(analyzeSql('DO $$ BEGIN DROP TABLE visits; INSERT INTO notes VALUES (1); END $$')[0]!);
    expect(a).toMatchObject({ kind: 'utility', nested_kinds: ['ddl', 'insert'] });
  });
});
