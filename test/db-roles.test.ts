/**
 * Least privilege on PostgreSQL: `slipway db migrate` runs as the schema's owner and grants a
 * runtime role what a server needs; the server runs as that role, which owns nothing, and
 * PostgreSQL itself refuses it UPDATE and DELETE on the audit trail.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase, openStore, type Store } from '../src/store/index.js';
import { freshPostgresUrl } from './helpers/fresh-postgres.js';

describe('the two database roles', () => {
  const suffix = randomBytes(4).toString('hex');
  const owner = `slw_owner_${suffix}`;
  const runtime = `slw_rt_${suffix}`;
  let superUrl: string;
  const as = (role: string) => {
    const u = new URL(superUrl);
    u.username = role;
    u.password = 'pw';
    return u.toString();
  };
  let store: Store | undefined;

  beforeAll(async () => {
    superUrl = await freshPostgresUrl();
    const c = new pg.Client({ connectionString: superUrl });
    await c.connect();
    await c.query(`create role ${owner} login password 'pw'`);
    await c.query(`create role ${runtime} login password 'pw'`);
    // The owner owns the database, hence its public schema; the runtime role owns nothing.
    await c.query(`alter database ${new URL(superUrl).pathname.slice(1)} owner to ${owner}`);
    await c.end();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('migrates as the owner; the runtime role serves but cannot change the schema', async () => {
    // As the runtime role, before the owner migrated: a clear refusal, not a half-made schema.
    await expect(openStore({ engine: 'postgres', url: as(runtime) })).rejects.toThrow(
      /the database schema is behind .* run `slipway db migrate --database-url <URL of the owner role>` first/,
    );
    const first = await migrateDatabase(as(owner), { runtimeRole: runtime });
    expect(first.applied).toContain('0007_audit');
    expect(first.granted).toBe(runtime);
    expect((await migrateDatabase(as(owner), { runtimeRole: runtime })).applied).toEqual([]);
    store = await openStore({ engine: 'postgres', url: as(runtime) });
    await store.users.add('dana', 'person');
    await store.transaction((tx) =>
      tx.audit.append([
        {
          at: new Date(),
          actor: 'user:dana',
          tokenId: null,
          source: null,
          operation: 'createUser',
          args: {},
          target: {},
          result: 'ok',
        },
      ]),
    );
    expect((await store.audit.verify()).ok).toBe(true);
    const rt = new pg.Client({ connectionString: as(runtime) });
    await rt.connect();
    try {
      await expect(rt.query(`update audit set actor = 'user:x'`)).rejects.toThrow(
        /permission denied for table audit/,
      );
      await expect(rt.query('delete from audit')).rejects.toThrow(
        /permission denied for table audit/,
      );
      await expect(rt.query('truncate audit')).rejects.toThrow(/permission denied for table audit/);
      await expect(rt.query('drop table users')).rejects.toThrow(/must be owner/);
      await expect(rt.query('create table x (a int)')).rejects.toThrow(
        /permission denied for schema/,
      );
      // What a server does every day is allowed.
      await rt.query(`update users set kind = 'machine' where name = 'dana'`);
    } finally {
      await rt.end();
    }
  });
});
