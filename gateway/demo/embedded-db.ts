// The embedded upstream for `npm start`: PGlite (PostgreSQL compiled to WASM) served over the wire
// protocol on loopback, seeded with the synthetic clinic dataset. A real upstream replaces it via config.
import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** The least-privilege role the gateway's sessions run as: the clinic tables, nothing of the server. */
export const GATEWAY_ROLE = 'verdict_gateway';

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
  // PGlite is one backend that ignores the startup user: every connection shares this session, so it runs as
  // a role without superuser rights (no server files, no role changes) from here on, as a real upstream would.
  await db.exec(`
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${GATEWAY_ROLE}') THEN
        CREATE ROLE ${GATEWAY_ROLE} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
      END IF;
    END $$;
    GRANT USAGE ON SCHEMA public TO ${GATEWAY_ROLE};
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO ${GATEWAY_ROLE};
    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${GATEWAY_ROLE};
    SET SESSION AUTHORIZATION ${GATEWAY_ROLE};
  `);
  const port = options.port ?? 0;
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: 100 });
  await server.start();
  const conn = server.getServerConn();
  const actualPort = Number(conn.slice(conn.lastIndexOf(':') + 1));
  return {
    host: '127.0.0.1',
    port: actualPort,
    database: 'postgres',
    user: GATEWAY_ROLE,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
