// The SQLSTATEs Verdict sends or records, in one table every door and connector shares: SQLSTATE is the SQL
// standard's vocabulary, not any one wire protocol's, so it lives beside the engine and imports nothing.

/**
 * SQLSTATEs the gateway answers with or records, named as PostgreSQL's "Appendix A. PostgreSQL Error Codes"
 * spells their condition names (https://www.postgresql.org/docs/current/errcodes-appendix.html), in PascalCase.
 * A SQLSTATE is five characters: a two-character class and a three-character subclass, where subclass '000'
 * is the class's general condition (SQL:2016, ISO/IEC 9075-2, Subclause 24.1 "SQLSTATE"). Classes starting
 * with 0-4 or A-H are the standard's; others (such as 53, 57, 58, XX) are PostgreSQL's.
 *
 * @example
 * SqlState.InsufficientPrivilege // '42501', what a policy refusal carries
 * code.slice(0, 2) === SqlState.DataException.slice(0, 2) // the error is in class 22, data exception
 */
export const SqlState = {
  // Class 01 — Warning
  Warning: '01000',
  // Class 02 — No Data
  NoData: '02000',
  // Class 08 — Connection Exception
  SqlclientUnableToEstablishSqlconnection: '08001',
  ConnectionDoesNotExist: '08003',
  SqlserverRejectedEstablishmentOfSqlconnection: '08004',
  ConnectionFailure: '08006',
  ProtocolViolation: '08P01',
  // Class 0A — Feature Not Supported
  FeatureNotSupported: '0A000',
  // Class 22 — Data Exception
  DataException: '22000',
  CharacterNotInRepertoire: '22021',
  // Class 25 — Invalid Transaction State
  InFailedSqlTransaction: '25P02',
  // Class 28 — Invalid Authorization Specification
  InvalidAuthorizationSpecification: '28000',
  InvalidPassword: '28P01',
  // Class 3D — Invalid Catalog Name
  InvalidCatalogName: '3D000',
  // Class 42 — Syntax Error or Access Rule Violation
  InsufficientPrivilege: '42501',
  SyntaxError: '42601',
  UndefinedFunction: '42883',
  UndefinedTable: '42P01',
  // Class 53 — Insufficient Resources
  TooManyConnections: '53300',
  // Class 54 — Program Limit Exceeded
  TooManyArguments: '54023',
  // Class 57 — Operator Intervention
  QueryCanceled: '57014',
  AdminShutdown: '57P01',
  // Class 58 — System Error (errors external to PostgreSQL itself)
  SystemError: '58000',
  IoError: '58030',
  // Class XX — Internal Error
  InternalError: 'XX000',
} as const;
export type SqlState = (typeof SqlState)[keyof typeof SqlState];
