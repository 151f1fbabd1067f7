import { describe, expect, it } from 'vitest';
import type { HostRow, Store } from '../../store/index.js';
import { FULL_READ_MS, HostCache } from './host-cache.js';

const row = (id: string, generation = 0): HostRow => ({
  id,
  name: `n-${id}`,
  region: 'r1',
  labels: {},
  createdAt: new Date(0),
  lastSeenAt: null,
  report: null,
  bytesReceived: {},
  goalGeneration: generation,
  relay: false,
});

/** A store of host rows stamped with a clock the test moves; reads are recorded. */
function stampedStore() {
  let clock = 1_000;
  const rows = new Map<string, { row: HostRow; at: number }>();
  const reads: number[] = [];
  const singles: string[] = [];
  /** While set, a read of changes takes what the store holds at once but answers after it. */
  let held: Promise<void> | null = null;
  const store = {
    hosts: {
      changedSince: async (since: Date) => {
        reads.push(since.getTime());
        const hosts = [...rows.values()].filter((r) => r.at > since.getTime()).map((r) => r.row);
        const now = new Date(clock);
        if (held) await held;
        return { hosts, now };
      },
      byId: (id: string) => {
        singles.push(id);
        return Promise.resolve(rows.get(id)?.row);
      },
      byName: () => Promise.resolve(undefined),
      goalStates: (ids: readonly string[] | 'all') =>
        Promise.resolve(
          [...rows.values()]
            .filter((r) => ids === 'all' || ids.includes(r.row.id))
            .map((r) => ({ id: r.row.id, goalGeneration: r.row.goalGeneration, goals: [] })),
        ),
    },
  } as unknown as Store;
  const write = (r: HostRow) => rows.set(r.id, { row: r, at: clock });
  /** A goal change: the generation moves, the row's write time does not. */
  const setGeneration = (id: string, goalGeneration: number) => {
    const r = rows.get(id)!;
    r.row = { ...r.row, goalGeneration };
  };
  const remove = (id: string) => rows.delete(id);
  const tick = (ms: number) => (clock += ms);
  /** Holds the answers of reads of changes until the returned function is called. */
  const holdChangeReads = () => {
    let release!: () => void;
    held = new Promise<void>((r) => (release = r));
    return () => {
      held = null;
      release();
    };
  };
  return { store, write, setGeneration, remove, tick, reads, singles, holdChangeReads };
}

describe('the host cache', () => {
  it('reads every row once, then only the rows written since (with an overlap)', async () => {
    const s = stampedStore();
    let now = 0;
    const cache = new HostCache(s.store, () => now);
    s.write(row('a'));
    s.write(row('b'));
    s.tick(5_000);
    expect((await cache.all()).map((h) => h.id).sort()).toEqual(['a', 'b']);
    s.write(row('b', 1));
    s.tick(5_000);
    await cache.refresh();
    expect(s.reads).toEqual([0, 6_000 - 2_000]);
    expect((await cache.byId('b'))!.goalGeneration).toBe(1);
    expect(s.singles).toEqual([]);
    // Removed elsewhere: gone at the next full read.
    s.remove('a');
    await cache.refresh();
    expect(await cache.byId('b')).toBeDefined();
    expect((await cache.all()).map((h) => h.id)).toContain('a');
    now += FULL_READ_MS;
    await cache.refresh();
    expect((await cache.all()).map((h) => h.id)).toEqual(['b']);
  });

  it('reads a host it does not hold on its own, and gives each caller a read begun after its call', async () => {
    const s = stampedStore();
    const cache = new HostCache(s.store);
    await cache.refresh();
    s.write(row('new'));
    expect((await cache.byId('new'))!.id).toBe('new');
    expect(s.singles).toEqual(['new']);
    expect(await cache.byId('none')).toBeUndefined();
    const before = s.reads.length;
    await Promise.all([cache.refresh(), cache.refresh(), cache.refresh()]);
    // One read for the three calls made together.
    expect(s.reads.length).toBe(before + 1);
  });
});

describe('the host cache, told which hosts changed', () => {
  it('reads the generations of hosts whose goals changed, which a read of changes does not see', async () => {
    const s = stampedStore();
    const cache = new HostCache(s.store);
    s.write(row('a'));
    s.write(row('b'));
    s.tick(10_000);
    await cache.refresh();
    // A goal change does not mark the row written.
    s.setGeneration('a', 7);
    s.setGeneration('b', 3);
    await cache.refresh();
    expect((await cache.byId('a'))!.goalGeneration).toBe(0);
    await cache.readGoals(['a', 'gone']);
    expect((await cache.byId('a'))!.goalGeneration).toBe(7);
    expect((await cache.byId('b'))!.goalGeneration).toBe(0);
    await cache.readGoals('all');
    expect((await cache.byId('b'))!.goalGeneration).toBe(3);
    expect(s.singles).toEqual([]);
  });
});

describe('the host cache, written to while it reads', () => {
  it('keeps a row this server put after a read began over what that read brings', async () => {
    const s = stampedStore();
    s.write(row('a'));
    const cache = new HostCache(s.store);
    await cache.refresh();
    // A read begins; the store answers it only after this server wrote a newer row.
    const answer = s.holdChangeReads();
    const reading = cache.refresh();
    await new Promise((r) => setImmediate(r));
    cache.put(row('a', 5));
    answer();
    await reading;
    expect(cache.peek('a')!.goalGeneration).toBe(5);
    // A read begun after the put brings what the store holds.
    s.write(row('a', 6));
    await cache.refresh();
    expect(cache.peek('a')!.goalGeneration).toBe(6);
  });
});

describe('the host cache, told of a goal change while it reads changes', () => {
  it('keeps the new generation over what a read begun before the change brings', async () => {
    const s = stampedStore();
    s.write(row('a', 1));
    const cache = new HostCache(s.store);
    await cache.refresh();
    // A read of changes begins before the goal change commits and ends after it was announced.
    const answer = s.holdChangeReads();
    const reading = cache.refresh();
    await new Promise((r) => setImmediate(r));
    s.setGeneration('a', 2);
    await cache.readGoals(['a']);
    expect(cache.peek('a')!.goalGeneration).toBe(2);
    answer();
    await reading;
    expect(cache.peek('a')!.goalGeneration).toBe(2);
  });
});

describe('the host cache, reading one host while this server writes it', () => {
  it('answers the row it put during the read, not the older one the read brings', async () => {
    const s = stampedStore();
    const cache = new HostCache(s.store);
    await cache.refresh();
    // Enrolled elsewhere: not cached yet, so byId reads it; this server puts a newer row meanwhile.
    s.write(row('late', 1));
    const reading = cache.byId('late');
    cache.put(row('late', 4));
    expect((await reading)!.goalGeneration).toBe(4);
    expect(cache.peek('late')!.goalGeneration).toBe(4);
  });
});
