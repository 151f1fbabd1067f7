import { describe, expect, it } from 'vitest';
import type { Store } from '../../store/index.js';
import { ImageAccess } from './image-access.js';

/** A store where each host's goal names its own image; host reads are counted. */
function storeOfHosts() {
  const reads: string[] = [];
  const store = {
    listen: () => () => {},
    hosts: {
      byId: (id: string) => {
        reads.push(id);
        return Promise.resolve({ id, region: 'r1', relay: false });
      },
    },
    goals: {
      ofHosts: (ids: string[]) =>
        Promise.resolve(
          ids.map((id) => ({ hostId: id, service: id, stageVersion: 1, activeVersion: null })),
        ),
    },
    releases: {
      get: (service: string) => Promise.resolve({ imageId: `img-${service}` }),
      list: () => Promise.resolve([]),
    },
  } as unknown as Store;
  return { store, reads };
}

const agent = (hostId: string) => ({ kind: 'agent' as const, hostId });

describe('image access', () => {
  it('keeps the most recent hosts when full, not none of them', async () => {
    const { store, reads } = storeOfHosts();
    const access = new ImageAccess(store, Date.now, 3);
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
});
