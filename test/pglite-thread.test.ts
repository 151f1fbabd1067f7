/**
 * The embedded database runs on a thread of its own: this thread stays free while it works, its
 * values and errors arrive as PGlite made them, and its thread dying fails every query clearly.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openStore } from '../src/store/index.js';
import { PGliteThread, startPGliteWorker } from '../src/store/pglite-thread.js';

const opened: PGliteThread[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close().catch(() => {})));
});

async function open(
  dataDir: string | null = null,
  onStopped?: (e: Error) => void,
): Promise<{ db: PGliteThread; worker: ReturnType<typeof startPGliteWorker> }> {
  const worker = startPGliteWorker(dataDir);
  const db = new PGliteThread(worker, dataDir ? `in ${dataDir}` : 'in memory', onStopped);
  opened.push(db);
  await db.waitReady;
  return { db, worker };
}

/** Counts the ticks of a 10 ms interval while `work` runs. */
async function ticksDuring(work: Promise<unknown>): Promise<number> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  try {
    await work;
  } finally {
    clearInterval(timer);
  }
  return ticks;
}

describe('the embedded database on its own thread', () => {
  let db: PGliteThread;
  beforeAll(async () => {
    db = new PGliteThread(startPGliteWorker(null), 'in memory');
    await db.waitReady;
  });
  afterAll(async () => {
    await db.close();
  });

  it('lets timers run while a query takes a second (PGlite runs it synchronously)', async () => {
    // On this thread the interval could not tick at all until the query returned; ~100 ticks
    // fit in the second, and even a loaded machine lets a free event loop run ten of them.
    const ticks = await ticksDuring(db.query('select pg_sleep(1)'));
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  it('lets timers run between the queries of a backlog on the store', async () => {
    const store = await openStore({ engine: 'pglite', dataDir: null });
    try {
      const total = 1000;
      let done = 0;
      const seen: number[] = []; // how many queries had completed at each tick
      const timer = setInterval(() => seen.push(done), 1);
      await Promise.all(
        Array.from({ length: total }, () => store.hosts.byName('nobody').then(() => done++)),
      );
      clearInterval(timer);
      // With the database on this thread, each result starts the next query in a microtask:
      // no timer runs before the whole backlog is through.
      expect(seen.some((n) => n > 0 && n < total)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("carries PostgreSQL's error message and fields (a unique violation is code 23505)", async () => {
    await db.query('create table t (k text primary key)');
    await db.query('insert into t values ($1)', ['a']);
    const dup = await db.query('insert into t values ($1)', ['a']).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(Error);
    expect(dup).toMatchObject({
      message: 'duplicate key value violates unique constraint "t_pkey"',
      code: '23505',
      constraint: 't_pkey',
      table: 't',
    });
    await expect(db.query('select 1/0')).rejects.toMatchObject({ code: '22012' });
    // The session goes on after an error.
    expect((await db.query('select count(*)::int as n from t')).rows).toEqual([{ n: 1 }]);
  });

  it('round-trips parameters and values as PGlite makes them', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const { rows } = await db.query(
      `select $1::timestamptz as at, $2::bytea as bytes, $3::int8 as small, $4::int8 as big,
              $5::text as none, $6::jsonb as doc, $7::text[] as list, $8::bool as yes`,
      [
        at,
        new Uint8Array([0, 1, 255]),
        42n,
        9007199254740993n,
        null,
        '{"a":[1,"x"]}',
        ['a', 'b'],
        true,
      ],
    );
    expect(rows).toEqual([
      {
        at,
        bytes: new Uint8Array([0, 1, 255]),
        small: 42,
        big: 9007199254740993n,
        none: null,
        doc: { a: [1, 'x'] },
        list: ['a', 'b'],
        yes: true,
      },
    ]);
    expect(rows[0]).toHaveProperty('at', expect.any(Date));
    const update = await db.query('select 1 union all select 2');
    expect(update.affectedRows).toBe(0);
  });

  it('delivers notifications to listeners', async () => {
    const heard: string[] = [];
    await db.listen('changes', (p) => heard.push(p));
    await db.query(`select pg_notify('changes', 'one')`);
    await db.query(`select pg_notify('other', 'two')`);
    await db.query(`select pg_notify('changes', 'three')`);
    await vi.waitFor(() => expect(heard).toEqual(['one', 'three']));
  });

  it('fails pending and later queries with a clear error when its thread dies, and says so once', async () => {
    const onStopped = vi.fn();
    const { db, worker } = await open(null, onStopped);
    const pending = db.query('select pg_sleep(30)');
    pending.catch(() => {});
    // What a crash or an out-of-memory end of the thread looks like from this side.
    await worker.terminate();
    await expect(pending).rejects.toThrow(
      /^the embedded database in memory stopped: its thread exited with code 1$/,
    );
    await expect(db.query('select 1')).rejects.toThrow(/embedded database in memory stopped/);
    expect(onStopped).toHaveBeenCalledTimes(1);
    expect(onStopped.mock.calls[0]?.[0]).toMatchObject({ code: 'UNAVAILABLE' });
    await db.close(); // nothing left to close
  });

  it('says which database could not be opened, and why', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-pglite-'));
    try {
      await writeFile(join(dir, 'file'), '');
      const db = new PGliteThread(startPGliteWorker(join(dir, 'file', 'db')), 'in x/file/db');
      await expect(db.waitReady).rejects.toThrow(
        /^cannot open the embedded database in x\/file\/db: /,
      );
      await expect(db.query('select 1')).rejects.toThrow(/^cannot open the embedded database/);
      await db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('closes its data directory consistently: what was committed is there when reopened', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-pglite-'));
    try {
      const onStopped = vi.fn();
      const first = await open(dir, onStopped);
      await first.db.query('create table t (v int)');
      await first.db.query('insert into t values (7)');
      await first.db.close();
      await expect(first.db.query('select 1')).rejects.toThrow(/is closed/);
      expect(onStopped).not.toHaveBeenCalled();
      const again = await open(dir);
      expect((await again.db.query('select v from t')).rows).toEqual([{ v: 7 }]);
    } finally {
      await Promise.all(opened.splice(0).map((db) => db.close()));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
