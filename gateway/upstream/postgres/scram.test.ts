// SCRAM-SHA-256 math checked against the RFC 7677 section 3 test vector, plus the checks that make a
// server prove it knows the password.
import { describe, expect, it } from 'vitest';
import { UpstreamError } from './errors.ts';
import { saslprep, scramClientFinal, scramClientFirst, scramVerifyServerFinal } from './scram.ts';

const CLIENT_NONCE = 'rOprNGfwEbeRWgbNEkqO';
const SERVER_FIRST = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
const CLIENT_FINAL = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
const SERVER_FINAL = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof UpstreamError ? e.code : 'not an UpstreamError';
  }
  return undefined;
}

describe('SCRAM-SHA-256 (RFC 7677 test vector)', () => {
  it('builds the client-first message with the gs2 header', () => {
    const first = scramClientFirst({ user: 'user', nonce: CLIENT_NONCE });
    expect(first.message).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    expect(first.clientFirstBare).toBe('n=user,r=rOprNGfwEbeRWgbNEkqO');
  });

  it('computes the client proof and the server signature', async () => {
    const first = scramClientFirst({ user: 'user', nonce: CLIENT_NONCE });
    const final = await scramClientFinal(first, SERVER_FIRST, 'pencil');
    expect(final.message).toBe(CLIENT_FINAL);
    expect(`v=${final.serverSignature.toString('base64')}`).toBe(SERVER_FINAL);
    expect(() => scramVerifyServerFinal(SERVER_FINAL, final.serverSignature)).not.toThrow();
  });

  it('rejects a server that cannot prove the password', async () => {
    const first = scramClientFirst({ user: 'user', nonce: CLIENT_NONCE });
    const final = await scramClientFinal(first, SERVER_FIRST, 'pencil');
    const forged = Buffer.from(final.serverSignature);
    forged[0]! ^= 1;
    expect(codeOf(() => scramVerifyServerFinal(`v=${forged.toString('base64')}`, final.serverSignature))).toBe('AUTH_FAILED');
    expect(codeOf(() => scramVerifyServerFinal('v=AAAA', final.serverSignature))).toBe('AUTH_FAILED');
    expect(codeOf(() => scramVerifyServerFinal('e=invalid-proof', final.serverSignature))).toBe('AUTH_FAILED');
    expect(codeOf(() => scramVerifyServerFinal('x=1', final.serverSignature))).toBe('PROTOCOL');
  });

  it('uses a fresh random nonce and an empty user name by default (PostgreSQL takes the startup user)', () => {
    const a = scramClientFirst();
    const b = scramClientFirst();
    expect(a.clientNonce).not.toBe(b.clientNonce);
    expect(a.message).toMatch(/^n,,n=,r=[A-Za-z0-9+/=]{24}$/);
  });

  it('escapes = and , in the user name', () => {
    expect(scramClientFirst({ user: 'a=b,c', nonce: 'x' }).clientFirstBare).toBe('n=a=3Db=2Cc,r=x');
  });

  it.each([
    ['a nonce that does not extend ours', 'r=somethingelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'],
    ['a nonce equal to ours', `r=${CLIENT_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`],
    ['no salt', `r=${CLIENT_NONCE}abc,i=4096`],
    ['a zero iteration count', `r=${CLIENT_NONCE}abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0`],
    ['a non-numeric iteration count', `r=${CLIENT_NONCE}abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4k`],
    ['a mandatory extension', `m=ext,r=${CLIENT_NONCE}abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`],
    ['garbage', 'hello'],
  ])('rejects a server-first message with %s', async (_, serverFirst) => {
    const first = scramClientFirst({ user: 'user', nonce: CLIENT_NONCE });
    await expect(scramClientFinal(first, serverFirst, 'pencil')).rejects.toMatchObject({ code: 'PROTOCOL' });
  });
});

describe('saslprep', () => {
  it('leaves ASCII untouched, as PostgreSQL does', () => {
    expect(saslprep('pencil \t~')).toBe('pencil \t~');
  });
  it('maps non-ASCII spaces, drops soft hyphens and applies NFKC', () => {
    expect(saslprep('I\u00adX')).toBe('IX');
    expect(saslprep('a\u00a0b')).toBe('a b');
    expect(saslprep('\u2168')).toBe('IX'); // ROMAN NUMERAL NINE
    expect(saslprep('e\u0301')).toBe('\u00e9');
  });
  it('falls back to the raw password when the prepared one has prohibited characters', () => {
    expect(saslprep('\u00e9\u0007')).toBe('\u00e9\u0007');
    expect(saslprep('\u00e9\ue000')).toBe('\u00e9\ue000');
  });
});
