/** Opens the store: PGlite in a data directory by default, PostgreSQL when a URL is given. */
import { mkdir } from 'node:fs/promises';
import { Kysely, Migrator, PostgresDialect, sql, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { SlipwayError } from '../core/index.js';
import { migrations } from './migrations.js';
import {
  DEFAULT_LEADERSHIP_TIMING,
  PostgresLeadership,
  SoleLeadership,
  type LeadershipTiming,
} from './leadership.js';
import { PGliteDialect } from './pglite-dialect.js';
import { PGliteThread, startPGliteWorker } from './pglite-thread.js';
import type { Channel, Leadership, Store } from './repositories.js';
import type { Database } from './schema.js';
import { CHANNELS, KyselyStore, Listeners } from './store.js';

export type StoreOptions =
  | {
      engine: 'pglite';
      dataDir: string | null /* null: in memory */;
      /**
       * Called if the embedded database stops by itself (its thread crashed or ran out of
       * memory): every query fails from then on, so a server should exit and be restarted.
       */
      onStopped?: (e: Error) => void;
    }
  | { engine: 'postgres'; url: string; leadership?: LeadershipTiming };

const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };
const channels = Object.entries(CHANNELS) as [Channel, string][];

/** Opens the database, applies pending migrations, starts listening and returns the store. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const listeners = new Listeners();
  let db: Kysely<Database>;
  let close: () => Promise<void>;
  // Every lead handed out, given up when the store closes (a closed store leads nothing).
  const leads = new Set<Leadership>();
  const newLead =
    opts.engine === 'pglite'
      ? () => new SoleLeadership()
      : (name: string) =>
          new PostgresLeadership(opts.url, name, opts.leadership ?? DEFAULT_LEADERSHIP_TIMING);
  const leadership = (name: string): Leadership => {
    const lead = newLead(name);
    leads.add(lead);
    return lead;
  };
  const releaseLeads = async () => {
    await Promise.all([...leads].map((l) => l.release()));
    leads.clear();
  };
  if (opts.engine === 'pglite') {
    if (opts.dataDir) await mkdir(opts.dataDir, { recursive: true });
    // On a thread of its own: PGlite runs queries synchronously, which on this thread would keep
    // it from answering anything else while the database works.
    const where = opts.dataDir ? `in ${opts.dataDir}` : 'in memory';
    const pglite = new PGliteThread(startPGliteWorker(opts.dataDir), where, opts.onStopped);
    try {
      await pglite.waitReady;
      // Before any query of Kysely's: PGlite is one session, and LISTEN issued inside someone's
      // transaction would be undone with it.
      for (const [channel, name] of channels)
        await pglite.listen(name, (payload) => listeners.dispatch(channel, payload));
    } catch (e) {
      await pglite.close().catch(() => {});
      throw e;
    }
    db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
    close = async () => {
      await db.destroy();
      await pglite.close();
    };
  } else {
    const pool = new pg.Pool({ connectionString: opts.url, max: 10 });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
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
    const listener = new PostgresListener(opts.url, listeners);
    await listener.start();
    close = async () => {
      await listener.stop();
      await db.destroy();
    };
  }
  try {
    await migrate(db);
  } catch (e) {
    await close();
    throw e;
  }
  const closeAll = async () => {
    await releaseLeads();
    await close();
  };
  return new KyselyStore(db, opts.engine, listeners, leadership, closeAll);
}

/**
 * One dedicated connection that LISTENs on Slipway's channels: how a server process hears of
 * changes other processes on the same database commit. A lost connection is made again with
 * backoff; what was announced meanwhile is lost, so once it listens again it tells the store's
 * `onMissed` callbacks (readers of events and goals also poll; the token cache is dropped).
 */
class PostgresListener {
  private client: pg.Client | null = null;
  private listenedBefore = false;
  private stopped = false;
  private retryMs = 250;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly url: string,
    private readonly listeners: Listeners,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('notification', (n) => {
      const channel = channels.find(([, name]) => name === n.channel)?.[0];
      if (channel) this.listeners.dispatch(channel, n.payload ?? '');
    });
    client.on('error', () => this.reconnect(client));
    client.on('end', () => this.reconnect(client));
    await client.connect();
    for (const [, name] of channels) await client.query(`LISTEN ${name}`);
    this.client = client;
    this.retryMs = 250;
    if (this.listenedBefore) this.listeners.missed();
    this.listenedBefore = true;
  }

  private reconnect(failed: pg.Client): void {
    if (this.stopped || this.client !== failed) return;
    this.client = null;
    failed.end().catch(() => {});
    this.timer = setTimeout(() => {
      this.timer = null;
      this.start().catch(() => {
        this.retryMs = Math.min(this.retryMs * 2, 10_000);
        this.client = failed; // so that the next reconnect is not refused
        this.reconnect(failed);
      });
    }, this.retryMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/**
 * Applies pending migrations; with none pending it changes nothing (no DDL, no lock), so a
 * server may run as a role that owns nothing once `slipway db migrate` has run as the owner.
 */
async function migrate(db: Kysely<Database>): Promise<void> {
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return;
  const { error } = await new Migrator({ db, provider }).migrateToLatest();
  if (!error) return;
  const message = error instanceof Error ? error.message : JSON.stringify(error);
  const denied = /permission denied|must be owner/i.test(message);
  throw new SlipwayError(
    'INTERNAL',
    denied
      ? `the database schema is behind (pending: ${pending.join(', ')}) and this role may not change it (${message}): run \`slipway db migrate --database-url <URL of the owner role>\` first`
      : `database migration failed: ${message}`,
    { pending },
    { cause: error },
  );
}

/** Migrations not yet applied, in order (all of them on a new database). */
async function pendingMigrations(db: Kysely<Database>): Promise<string[]> {
  let applied: string[];
  try {
    const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
    applied = rows.map((r) => r.name);
  } catch {
    applied = [];
  }
  return Object.keys(migrations)
    .sort()
    .filter((m) => !applied.includes(m));
}

/**
 * `slipway db migrate`: applies pending migrations as the role of `url` (the owner of the
 * schema), then, given a runtime role, grants it what a server needs and no more: reading and
 * writing the tables, but only INSERT and SELECT on the audit trail.
 */
export async function migrateDatabase(
  url: string,
  opts: { runtimeRole?: string } = {},
): Promise<{ applied: string[]; granted: string | null }> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    const applied = await pendingMigrations(db);
    await migrate(db);
    const role = opts.runtimeRole;
    if (role === undefined) return { applied, granted: null };
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) {
      throw new SlipwayError(
        'INVALID',
        `runtime role ${JSON.stringify(role)}: expected a plain lowercase PostgreSQL role name`,
      );
    }
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
    const schema = `"${rows[0]!.schema.replace(/"/g, '""')}"`;
    await sql
      .raw(
        [
          `grant usage on schema ${schema} to ${role}`,
          `grant select, insert, update, delete on all tables in schema ${schema} to ${role}`,
          `grant usage, select on all sequences in schema ${schema} to ${role}`,
          // The trail is appended and read, never changed: PostgreSQL itself refuses the rest.
          `revoke update, delete, truncate on audit from ${role}`,
        ].join(';\n'),
      )
      .execute(db);
    return { applied, granted: role };
  } catch (e) {
    if (e instanceof SlipwayError) throw e;
    throw new SlipwayError(
      'UNAVAILABLE',
      `migrating ${redact(url)}: ${(e as Error).message}`,
      {},
      { cause: e },
    );
  } finally {
    await db.destroy();
  }
}
