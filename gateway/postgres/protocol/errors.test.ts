// ProtocolError's stable codes and SQLSTATEs, and the named constructors for client-facing errors.
import { describe, expect, it } from 'vitest';
import {
  adminShutdown,
  connectionFailure,
  featureNotSupported,
  fromProtocolError,
  insufficientPrivilege,
  invalidAuthorization,
  invalidPassword,
  ProtocolError,
  protocolViolation,
  queryCanceled,
  tooManyConnections,
} from './errors.ts';

describe('ProtocolError', () => {
  it('carries a stable code, the SQLSTATE to answer with, and the cause', () => {
    const cause = new Error('inner');
    const err = new ProtocolError('MALFORMED_MESSAGE', 'invalid Bind message', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ProtocolError');
    expect(err.code).toBe('MALFORMED_MESSAGE');
    expect(err.sqlstate).toBe('08P01');
    expect(err.message).toBe('invalid Bind message');
    expect(err.cause).toBe(cause);
  });

  it('maps codes to the SQLSTATE PostgreSQL uses for the same violation', () => {
    expect(new ProtocolError('MESSAGE_TOO_LARGE', 'x').sqlstate).toBe('08P01');
    expect(new ProtocolError('UNKNOWN_MESSAGE', 'x').sqlstate).toBe('08P01');
    expect(new ProtocolError('INVALID_UTF8', 'x').sqlstate).toBe('08P01');
    expect(new ProtocolError('UNSUPPORTED_PROTOCOL', 'x').sqlstate).toBe('0A000');
    expect(new ProtocolError('MISSING_USER', 'x').sqlstate).toBe('28000');
  });

  it('fromProtocolError makes a FATAL with that SQLSTATE', () => {
    expect(fromProtocolError(new ProtocolError('UNSUPPORTED_PROTOCOL', 'unsupported frontend protocol 2.0'))).toEqual({
      severity: 'FATAL',
      code: '0A000',
      message: 'unsupported frontend protocol 2.0',
    });
  });
});

describe('named constructors', () => {
  it('return the fields for BackendWriter.errorResponse', () => {
    expect(protocolViolation('bad')).toEqual({ severity: 'FATAL', code: '08P01', message: 'bad' });
    expect(invalidAuthorization('who?')).toEqual({ severity: 'FATAL', code: '28000', message: 'who?' });
    expect(invalidPassword('no')).toEqual({ severity: 'FATAL', code: '28P01', message: 'no' });
    expect(adminShutdown()).toEqual({ severity: 'FATAL', code: '57P01', message: 'terminating connection due to administrator command' });
    expect(connectionFailure('upstream gone')).toEqual({ severity: 'FATAL', code: '08006', message: 'upstream gone' });
    expect(featureNotSupported('no COPY')).toEqual({ severity: 'ERROR', code: '0A000', message: 'no COPY' });
    expect(queryCanceled()).toEqual({ severity: 'ERROR', code: '57014', message: 'canceling statement due to user request' });
    expect(tooManyConnections('full')).toEqual({ severity: 'FATAL', code: '53300', message: 'full' });
  });

  it('insufficientPrivilege sets detail and hint only when given', () => {
    expect(insufficientPrivilege('denied')).toEqual({ severity: 'ERROR', code: '42501', message: 'denied' });
    expect(insufficientPrivilege('denied', 'decision d-1', 'open a PR')).toEqual({
      severity: 'ERROR',
      code: '42501',
      message: 'denied',
      detail: 'decision d-1',
      hint: 'open a PR',
    });
  });
});
