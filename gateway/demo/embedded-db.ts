// The embedded upstream for `npm start`: PGlite (PostgreSQL compiled to WASM) served over the wire
// protocol on loopback, seeded with the synthetic clinic dataset. A real upstream replaces it via config.
import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedDb {
  host: string;
  port: number;
  database: string;
  user: string;
  stop(): Promise<void>;
}

/**
 * Starts PGlite with the clinic data on 127.0.0.1:`port` (0 = a free port).
 *
 * @example
 * const db = await startEmbeddedDb({ port: 0 }); // then point an upstream at db.host:db.port
 */
export async function startEmbeddedDb(options: { port?: number; dataDir?: string } = {}): Promise<EmbeddedDb> {
  const db = await PGlite.create(options.dataDir ? { dataDir: options.dataDir } : {});
  const seeded = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'patients'");
  if (seeded.rows[0]?.n === 0) await db.exec(readFileSync(new URL('./clinic.sql', import.meta.url), 'utf8'));
  const port = options.port ?? 0;
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 100 });
  await server.start();
  const conn = server.getServerConn();
  const actualPort = Number(conn.slice(conn.lastIndexOf(':') + 1));
  return {
    host: '127.0.0.1',
    port: actualPort,
    database: 'postgres',
    user: 'postgres',
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
