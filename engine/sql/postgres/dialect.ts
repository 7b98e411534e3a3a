// PostgreSQL as a Dialect: libpg-query (PostgreSQL's own grammar, WASM) for analysis, and a lexer
// mirroring PostgreSQL's scanner for fingerprints.
import type { Dialect } from '../dialect.ts';
import { analyzeSql, loadParser } from './analyze.ts';
import { measurementQuery } from './blast-radius.ts';
import { fingerprint } from './fingerprint.ts';

/** @example await postgres.load(); postgres.analyze('SELECT ssn FROM patients')[0].reads */
export const postgres: Dialect = {
  name: 'postgres',
  load: loadParser,
  fingerprint,
  analyze: analyzeSql,
  measurementQuery,
};
