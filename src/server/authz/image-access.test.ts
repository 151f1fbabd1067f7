import { describe, expect, it } from 'vitest';
import type { Store } from '../../store/index.js';
import { GoalBook } from '../app/goal-book.js';
import { ImageAccess } from './image-access.js';

/**
 * A store where each host's goal names its own service's release 1 (image `img-<host>`), or,
 * with `shared`, every host's names service `s` (image `img-s`); reads are counted.
 */
function storeOfHosts(shared = false) {
  const reads: string[] = [];
  const batches: number[] = [];
  const releaseReads: string[] = [];
  const store = {
    listen: () => () => {},
    hosts: {
      byIds: (ids: string[]) => {
        reads.push(...ids);
        batches.push(ids.length);
        return Promise.resolve(
          ids.filter((id) => id !== 'gone').map((id) => ({ id, region: 'r1', relay: false })),
        );
      },
    },
    goals: {
      ofHosts: (ids: string[]) =>
        Promise.resolve(
          ids.map((id) => ({
            hostId: id,
            service: shared ? 's' : id,
            stageVersion: 1,
            activeVersion: null,
          })),
        ),
    },
    jobs: { openOnHosts: () => Promise.resolve([]) },
    releases: {
      get: (service: string, version: number) => {
        releaseReads.push(`${service}:${version}`);
        return Promise.resolve({ version, imageId: `img-${service}`, config: {} });
      },
      list: () => Promise.resolve([]),
    },
  } as unknown as Store;
  // Releases are looked up through the goal book, as the server does.
  const book = new GoalBook(store);
  const release = (service: string, version: number) => book.release(service, version);
  return { store, release, reads, batches, releaseReads };
}

const agent = (hostId: string) => ({ kind: 'agent' as const, hostId });

describe('image access', () => {
  it('keeps the most recent hosts when full, not none of them', async () => {
    const { store, release, reads } = storeOfHosts();
    const access = new ImageAccess(store, release, Date.now, 3);
    for (const h of ['h1', 'h2', 'h3', 'h4']) await access.checkImage(agent(h), `img-${h}`);
    expect(reads).toEqual(['h1', 'h2', 'h3', 'h4']);
    // h2..h4 are still known; h1 went first.
    for (const h of ['h2', 'h3', 'h4']) await access.checkImage(agent(h), `img-${h}`);
    expect(reads).toHaveLength(4);
    await access.checkImage(agent('h1'), 'img-h1');
    expect(reads).toEqual(['h1', 'h2', 'h3', 'h4', 'h1']);
    await expect(access.checkImage(agent('h2'), 'img-h1')).rejects.toThrow(
      /not in this host's goal/,
    );
    access.stop();
  });

  it('reads the hosts that ask at once together, and each release once', async () => {
    const { store, release, batches, releaseReads } = storeOfHosts(true);
    const access = new ImageAccess(store, release);
    const hosts = Array.from({ length: 300 }, (_, i) => `h${i}`);
    // Each host asks for two chunks' worth at once, as a fetch does.
    await Promise.all(
      hosts.flatMap((h) => [
        access.checkImage(agent(h), 'img-s'),
        access.checkImage(agent(h), 'img-s'),
      ]),
    );
    expect(batches).toEqual([300]);
    expect(releaseReads).toEqual(['s:1']);
    await expect(access.checkImage(agent('h1'), 'img-other')).rejects.toThrow(
      /not in this host's goal/,
    );
    // A host that is not registered may download nothing.
    await expect(access.checkImage(agent('gone'), 'img-s')).rejects.toThrow(
      /not in this host's goal/,
    );
    access.stop();
  });
});
