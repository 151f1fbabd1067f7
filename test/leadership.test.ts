/**
 * The store's leads: on PostgreSQL one process at a time holds one (an advisory lock on a
 * connection of its own), and another takes it once the holder's session is gone; the embedded
 * engine, one process by construction, always leads.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/store/index.js';
import { freshPostgresUrl } from './helpers/fresh-postgres.js';
import { until } from './helpers/until.js';

const stores: Store[] = [];

async function open(url: string): Promise<Store> {
  const store = await openStore({
    engine: 'postgres',
    url,
    leadership: { checkMs: 200, timeoutMs: 5_000 },
  });
  stores.push(store);
  return store;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

describe('a lead on PGlite', () => {
  it('is always taken: there is no other process on an embedded database', async () => {
    const store = await openStore({ engine: 'pglite', dataDir: null });
    stores.push(store);
    const lead = store.leadership('orchestrator');
    expect(lead.held).toBe(false);
    expect(await lead.tryAcquire()).toBe(true);
    expect(lead.held).toBe(true);
    expect(await store.leadership('orchestrator').tryAcquire()).toBe(true);
  });
});

describe('a lead on PostgreSQL', () => {
  it('is held by one store at a time; closing its store lets the other take it', async () => {
    const url = await freshPostgresUrl();
    const [a, b] = [await open(url), await open(url)];
    const leadA = a.leadership('orchestrator');
    const leadB = b.leadership('orchestrator');
    expect(await leadA.tryAcquire()).toBe(true);
    expect(await leadB.tryAcquire()).toBe(false);
    expect(leadB.held).toBe(false);
    // Asking again while holding it is a yes, and the other still gets a no.
    expect(await leadA.tryAcquire()).toBe(true);
    expect(await leadB.tryAcquire()).toBe(false);
    // Another name is another lock.
    expect(await b.leadership('something-else').tryAcquire()).toBe(true);

    await a.close();
    stores.splice(stores.indexOf(a), 1);
    expect(await leadB.tryAcquire()).toBe(true);
    expect(leadB.held).toBe(true);
  });

  it('is given up by release, and taken by the next try of the other', async () => {
    const url = await freshPostgresUrl();
    const [a, b] = [await open(url), await open(url)];
    const leadA = a.leadership('orchestrator');
    const leadB = b.leadership('orchestrator');
    expect(await leadA.tryAcquire()).toBe(true);
    await leadA.release();
    expect(leadA.held).toBe(false);
    expect(await leadB.tryAcquire()).toBe(true);
    expect(await leadA.tryAcquire()).toBe(false);
  });

  it('counts as lost when its session ends, and the other store takes it', async () => {
    const url = await freshPostgresUrl();
    const [a, b] = [await open(url), await open(url)];
    const leadA = a.leadership('orchestrator');
    const leadB = b.leadership('orchestrator');
    const lost: string[] = [];
    leadA.onLost((why) => lost.push(why));
    expect(await leadA.tryAcquire()).toBe(true);
    expect(await leadB.tryAcquire()).toBe(false);

    // The database ends the holder's session, as when its process dies or the network drops it.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const { rowCount } = await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where application_name = 'slipway lead: orchestrator' and pid <> pg_backend_pid()
            and datname = current_database()
            and pid in (select pid from pg_locks where locktype = 'advisory' and granted)`,
      );
      expect(rowCount).toBe(1);
    } finally {
      await admin.end();
    }
    await until('the holder to notice its lead is gone', () => lost.length === 1);
    expect(leadA.held).toBe(false);
    expect(await until('the other store to take the lead', () => leadB.tryAcquire())).toBe(true);
    // The first one, trying again on a new connection, now stands by.
    expect(await leadA.tryAcquire()).toBe(false);
  });
});
