/**
 * Migrations carry what a database of an older version holds: here, deployments written with
 * their hosts inside the document come back whole once the hosts have rows of their own.
 */
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../src/store/index.js';
import { migrations } from '../src/store/migrations.js';
import { freshPostgresUrl } from './helpers/fresh-postgres.js';

describe('migrations', () => {
  let store: Store | undefined;
  afterAll(() => store?.close());

  it("moves a deployment's hosts out of its document into rows, in order", async () => {
    const url = await freshPostgresUrl();
    const db = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
    });
    const provider = { getMigrations: () => Promise.resolve(migrations) };
    const { error } = await new Migrator({ db, provider }).migrateTo('0007_audit');
    expect(error).toBeUndefined();
    const host = (id: string, state: string, detail: string | null, previous: number | null) => ({
      hostId: id,
      hostName: `name-${id}`,
      region: 'eu',
      batch: id === 'b' ? 1 : 0,
      previous,
      state,
      detail,
    });
    const doc = {
      id: 'old-1',
      service: 'svc',
      environment: 'prod',
      kind: 'deploy',
      release: 4,
      state: 'activating',
      currentBatch: 1,
      batchCount: 2,
      failureThreshold: 0,
      // Out of id order: the order is the plan's.
      hosts: [
        host('c', 'healthy', null, 3),
        host('a', 'healthy', null, null),
        host('b', 'failed', 'HTTP 500', 3),
      ],
      deadline: 123,
      reason: null,
      cancelRequested: false,
      approval: null,
    };
    await sql`insert into deployments (id, service, environment, state, release, image_id, doc)
      values ('old-1', 'svc', 'prod', 'activating', 4, ${'c'.repeat(64)}, ${JSON.stringify(doc)})`.execute(
      db,
    );
    await db.destroy();

    store = await openStore({ engine: 'postgres', url });
    const read = (await store.deployments.get('old-1'))!.deployment;
    expect(read).toEqual(doc);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const stored = await c.query(`select doc ? 'hosts' as has from deployments`);
    await c.end();
    expect(stored.rows).toEqual([{ has: false }]);
  });
});
