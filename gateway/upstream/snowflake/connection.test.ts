// The Snowflake connector against the local Snowflake (the REST protocol snowflake-sdk speaks): key-pair login
// that fails loudly, binds, every value as text with its rowtype, DML counts, Snowflake's error codes, cancel.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import snowflake from 'snowflake-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSnowflakeEmulator, type SnowflakeEmulator } from '../../emulators/snowflake/emulator.ts';
import { SnowflakeSession, type SnowflakeTarget } from './connection.ts';
import { SnowflakeUpstreamError } from './errors.ts';

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }) as string;
let sf: SnowflakeEmulator;
let target: SnowflakeTarget;

snowflake.configure({ logLevel: 'OFF' });

beforeAll(async () => {
  sf = await startSnowflakeEmulator({
    account: 'VERDICT_CONN',
    clinic: true,
    users: [{ name: 'svc_verdict', publicKeys: [keys.publicKey], roles: ['ANALYST', 'CONTRACTOR'], defaultRole: 'ANALYST' }],
    resultWaitMs: 1000,
  });
  target = { name: 'warehouse', account: sf.account, user: 'svc_verdict', privateKey: pem(keys.privateKey), accessUrl: sf.url, database: 'CLINIC', schema: 'PUBLIC' };
}, 120_000);
afterAll(async () => sf?.close());

describe('SnowflakeSession', () => {
  it('refuses a login with a key Snowflake does not know (the SDK promise would have resolved)', async () => {
    const err = await SnowflakeSession.open({ ...target, privateKey: pem(stranger.privateKey) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnowflakeUpstreamError);
    expect((err as Error).message).toMatch(/login to Snowflake account VERDICT_CONN failed/);
  });

  it('runs a select with binds and returns every value as text with its rowtype', async () => {
    const s = await SnowflakeSession.open(target, { role: 'CONTRACTOR' });
    try {
      const r = await s.execute('SELECT ID, NAME, SSN, DOB FROM PATIENTS WHERE ID <= ? ORDER BY ID', ['2']);
      expect(r.columns.map((c) => [c.name, c.type])).toEqual([['ID', 'fixed'], ['NAME', 'text'], ['SSN', 'text'], ['DOB', 'date']]);
      expect(r.rows).toEqual([
        ['1', 'Ada Lovelace', '123-45-6789', '1815-12-10'],
        ['2', 'Alan Turing', '234-56-7890', '1912-06-23'],
      ]);
      expect(r.queryId).toMatch(/\S/);
      expect(sf.sessions().at(-1)).toMatchObject({ role: 'CONTRACTOR' });
    } finally {
      await s.close();
    }
  });

  it('counts the rows a write changes, and reports Snowflake errors with their code and SQLSTATE', async () => {
    const s = await SnowflakeSession.open(target);
    try {
      await s.execute('CREATE TEMPORARY TABLE T (ID NUMBER)');
      const ins = await s.execute('INSERT INTO T (ID) VALUES (?), (?)', ['1', '2']);
      expect(ins.rowsAffected).toBe(2);
      const err = await s.execute('SELECT * FROM NO_SUCH_TABLE').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SnowflakeUpstreamError);
      expect((err as SnowflakeUpstreamError).code).toBe('002003');
      expect((err as SnowflakeUpstreamError).sqlstate).toBe('42S02');
    } finally {
      await s.close();
    }
    await expect(s.execute('SELECT 1')).rejects.toThrow(/closed/);
  });

  it('takes array binds per marker (a column of values each) and keeps NULL distinct from the text NULL', async () => {
    const s = await SnowflakeSession.open(target);
    try {
      await s.execute('CREATE TEMPORARY TABLE A (ID NUMBER, BODY VARCHAR, TAG VARCHAR)');
      const ins = await s.execute('INSERT INTO A (ID, BODY, TAG) VALUES (?, ?, ?)', [['1', '2', '3'], ['a', null, 'NULL'], 'same']);
      expect(ins.rowsAffected).toBe(3);
      const r = await s.execute('SELECT ID, BODY, TAG FROM A ORDER BY ID');
      expect(r.rows).toEqual([
        ['1', 'a', 'same'],
        ['2', null, 'same'],
        ['3', 'NULL', 'same'],
      ]);
    } finally {
      await s.close();
    }
  });

  it('cancels a running statement when its signal aborts', async () => {
    const s = await SnowflakeSession.open(target);
    try {
      const ac = new AbortController();
      const running = s.execute('SELECT COUNT(*) FROM RANGE(1, 4000000000)', [], { signal: ac.signal });
      setTimeout(() => ac.abort(), 300);
      await expect(running).rejects.toThrow(/cancel|abort/i);
    } finally {
      await s.close();
    }
  });
});
