/** Opens the store: PGlite in a data directory by default, PostgreSQL when a URL is given. */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, Migrator, PostgresDialect, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { SlipwayError } from '../core/index.js';
import { migrations } from './migrations.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { Database } from './schema.js';
import { Store } from './store.js';

export type StoreOptions =
  | { engine: 'pglite'; dataDir: string | null /* null: in memory */ }
  | { engine: 'postgres'; url: string };

const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };

/** Opens the database, applies pending migrations and returns the store. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  let db: Kysely<Database>;
  let close: () => Promise<void>;
  if (opts.engine === 'pglite') {
    if (opts.dataDir) await mkdir(opts.dataDir, { recursive: true });
    const pglite = opts.dataDir ? new PGlite(opts.dataDir) : new PGlite();
    await pglite.waitReady;
    db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
    close = async () => {
      await db.destroy();
      await pglite.close();
    };
  } else {
    const pool = new pg.Pool({ connectionString: opts.url, max: 10 });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    close = () => db.destroy();
    try {
      await pool.query('select 1');
    } catch (e) {
      await db.destroy();
      throw new SlipwayError(
        'UNAVAILABLE',
        `cannot connect to PostgreSQL at ${redact(opts.url)}: ${(e as Error).message}`,
        {},
        { cause: e },
      );
    }
  }
  const { error } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    await close();
    throw new SlipwayError(
      'INTERNAL',
      `database migration failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
      {},
      { cause: error },
    );
  }
  return new Store(db, opts.engine, close);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
