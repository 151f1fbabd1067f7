import { describe, expect, it } from 'vitest';
import type { GoalRow, Store } from '../../store/index.js';
import { GoalBook } from './goal-book.js';

/** A store whose goal and release reads are counted. */
function countingStore() {
  const goals = new Map<string, GoalRow[]>();
  const reads = { goals: 0, hostsAsked: 0, releases: 0, jobs: 0 };
  const store = {
    goals: {
      ofHosts: (ids: readonly string[]) => {
        reads.goals++;
        reads.hostsAsked += ids.length;
        return Promise.resolve(ids.flatMap((id) => goals.get(id) ?? []));
      },
    },
    jobs: {
      openOnHosts: () => {
        reads.jobs++;
        return Promise.resolve([]);
      },
    },
    releases: {
      get: (service: string, version: number) => {
        reads.releases++;
        return Promise.resolve(
          version > 0 ? { service, version, imageId: `img-${version}`, config: {} } : undefined,
        );
      },
    },
  } as unknown as Store;
  return { goals, reads, store };
}

const goal = (hostId: string, stage: number): GoalRow => ({
  hostId,
  service: 'web',
  stageVersion: stage,
  activeVersion: null,
});

describe('the goal book', () => {
  it('reads the goals of every host asking at once in one statement per thousand hosts', async () => {
    const { goals, reads, store } = countingStore();
    const book = new GoalBook(store);
    const ids = Array.from({ length: 2_500 }, (_, i) => `h${i}`);
    for (const id of ids) goals.set(id, [goal(id, 1)]);
    const got = await Promise.all(ids.map((id) => book.goalsOf(id, 1)));
    expect(got.every((g, i) => g[0]!.hostId === ids[i])).toBe(true);
    expect(reads.goals).toBe(3);
    expect(reads.hostsAsked).toBe(2_500);
  });

  it('answers goals learned from an announcement without reading them, never going back', async () => {
    const { goals, reads, store } = countingStore();
    const book = new GoalBook(store);
    goals.set('a', [goal('a', 9)]);
    book.learn([{ id: 'a', goalGeneration: 4, goals: [goal('a', 2)] }]);
    expect(await book.goalsOf('a', 4)).toEqual([goal('a', 2)]);
    expect(reads.goals).toBe(0);
    // An older read (one that was under way when the newer goals were learned) is ignored.
    book.learn([{ id: 'a', goalGeneration: 3, goals: [goal('a', 1)] }]);
    expect(await book.goalsOf('a', 3)).toEqual([goal('a', 2)]);
    // A generation past what was learned is read from the store.
    expect(await book.goalsOf('a', 5)).toEqual([goal('a', 9)]);
    expect(reads.goals).toBe(1);
  });

  it('reads a host again only when its generation moved past the one read', async () => {
    const { goals, reads, store } = countingStore();
    const book = new GoalBook(store);
    goals.set('h1', [goal('h1', 1)]);
    expect((await book.goalsOf('h1', 4))[0]!.stageVersion).toBe(1);
    expect((await book.goalsOf('h1', 4))[0]!.stageVersion).toBe(1);
    expect((await book.goalsOf('h1', 3))[0]!.stageVersion).toBe(1);
    expect(reads.goals).toBe(1);
    goals.set('h1', [goal('h1', 2)]);
    expect((await book.goalsOf('h1', 5))[0]!.stageVersion).toBe(2);
    expect(reads.goals).toBe(2);
    book.forget('h1');
    await book.goalsOf('h1', 5);
    expect(reads.goals).toBe(3);
  });

  it('reads neither goals nor jobs for a host just enrolled, until its generation moves', async () => {
    const { reads, store } = countingStore();
    const book = new GoalBook(store);
    book.enrolled('new', 0);
    expect(await book.goalsOf('new', 0)).toEqual([]);
    expect(await book.jobsOf('new', 0)).toEqual([]);
    expect(reads).toMatchObject({ goals: 0, jobs: 0 });
    await book.jobsOf('new', 1);
    expect(reads.jobs).toBe(1);
  });

  it('reads a release once, and a missing one again', async () => {
    const { reads, store } = countingStore();
    const book = new GoalBook(store);
    await Promise.all([book.release('web', 1), book.release('web', 1), book.release('web', 2)]);
    expect(await book.release('web', 1)).toEqual({ version: 1, imageId: 'img-1', config: {} });
    expect(reads.releases).toBe(2);
    expect(await book.release('web', 0)).toBeNull();
    expect(await book.release('web', 0)).toBeNull();
    expect(reads.releases).toBe(4);
  });
});
