import { describe, expect, it } from 'vitest';
import type { Store } from '../../store/index.js';
import { GoalWatch } from './goal-watch.js';

/** A store that only announces: the test plays the database's notifications. */
function announcingStore() {
  let onGoals: (payload: string) => void = () => {};
  let onMissed: () => void = () => {};
  const store = {
    listen: (_channel: string, fn: (payload: string) => void) => {
      onGoals = fn;
      return () => {};
    },
    onMissed: (fn: () => void) => {
      onMissed = fn;
      return () => {};
    },
  } as unknown as Store;
  return { store, announce: (p: string) => onGoals(p), miss: () => onMissed() };
}

const settled = async <T>(p: Promise<T>) => {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
};

describe('the goal watch', () => {
  it('wakes the named hosts’ long polls once their generations are read, and no others', async () => {
    const s = announcingStore();
    const read: (string[] | 'all')[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const watch = new GoalWatch(s.store, async (ids) => {
      read.push(ids);
      await gate;
    });
    const a = watch.wait('a', 60_000);
    const b = watch.wait('b', 60_000);
    s.announce('a,c');
    expect(read).toEqual([['a', 'c']]);
    expect(await settled(a.changed)).toBe(false); // not before the generations are in
    release();
    expect(await settled(a.changed)).toBe(true);
    expect(await settled(b.changed)).toBe(false);
    b.cancel();
    expect(await settled(b.changed)).toBe(true);
    watch.stop();
  });

  it('wakes every long poll, a slice per turn, when all goals changed or announcements were missed', async () => {
    const s = announcingStore();
    const read: (string[] | 'all')[] = [];
    const watch = new GoalWatch(s.store, (ids) => {
      read.push(ids);
      return Promise.resolve();
    });
    const polls = Array.from({ length: 1_000 }, (_, i) => watch.wait(`h${i}`, 60_000));
    let woken = 0;
    for (const p of polls) void p.changed.then(() => woken++);
    s.miss();
    expect(read).toEqual(['all']);
    // Within this turn of the event loop (microtasks only), one slice is woken, not all.
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(woken).toBeGreaterThan(0);
    expect(woken).toBeLessThan(polls.length);
    await Promise.all(polls.map((p) => p.changed));
    const again = watch.wait('h1', 60_000);
    s.announce('*');
    expect(read).toEqual(['all', 'all']);
    await again.changed;
    watch.stop();
  });

  it('answers a wait that times out, and a cancelled one, once', async () => {
    const s = announcingStore();
    const watch = new GoalWatch(s.store, () => Promise.resolve());
    const w = watch.wait('a', 10);
    await w.changed;
    w.cancel(); // after the timeout: nothing more happens
    const later = watch.wait('a', 60_000);
    s.announce('a');
    await later.changed;
    watch.stop();
  });
});
