/** Hosts keep the last N releases and collect objects no kept release needs. */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_MAP, TestCluster } from './helpers/cluster.js';

const MAP = TEST_MAP.replace(
  'rollout: { batchSize: 2 }',
  'rollout: { batchSize: 2 }\n    keepReleases: 2',
);

async function objectsOf(dir: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const shard of await readdir(join(dir, 'objects'))) {
    for (const name of await readdir(join(dir, 'objects', shard))) out.add(name);
  }
  return out;
}

describe('housekeeping on a host', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start([{ name: 'a1', region: 'r1' }], MAP);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('keeps the last releases, collects what only older ones used, and rolls back without fetching', async () => {
    const images: string[] = [];
    for (let v = 1; v <= 4; v++) {
      const image = await c.build(
        'scores-api',
        { version: String(v), model: 'momentum' },
        {
          'model.bin': randomBytes(200_000),
        },
      );
      images.push(image);
      expect((await c.deploy('scores-api', image)).state).toBe('succeeded');
    }
    const chunksOf = async (image: string) => {
      const m = (await c.client.getManifest(image)) as {
        entries: { chunks?: { digest: string }[] }[];
      };
      return m.entries.flatMap((e) => e.chunks?.map((ch) => ch.digest) ?? []);
    };
    const dir = c.agentDir('a1');
    const releases = join(dir, 'services', 'scores-api', 'releases');
    await expect
      .poll(async () => (await readdir(releases)).filter((f) => /^v\d+$/.test(f)).sort(), {
        timeout: 10_000,
      })
      .toEqual(['v3', 'v4']);
    // What only v1 and v2 used is collected; everything v3 and v4 need stays.
    const kept = new Set([...(await chunksOf(images[2]!)), ...(await chunksOf(images[3]!))]);
    const dropped = [...(await chunksOf(images[0]!)), ...(await chunksOf(images[1]!))].filter(
      (d) => !kept.has(d),
    );
    expect(dropped.length).toBeGreaterThan(0);
    await expect
      .poll(
        async () => {
          const objects = await objectsOf(dir);
          return dropped.filter((d) => objects.has(d)).length;
        },
        { timeout: 10_000 },
      )
      .toBe(0);
    const objects = await objectsOf(dir);
    expect([...kept].filter((d) => !objects.has(d))).toEqual([]);
    const before = (await c.server.hosts.byName('a1'))!.bytesReceived.origin ?? 0;
    const d = await c.waitFor(
      await c.client.createDeployment({ service: 'scores-api', kind: 'rollback', toVersion: 3 }),
    );
    expect(d.state).toBe('succeeded');
    expect(await c.fetchFrom('a1', 'scores-api', '/scores')).toMatchObject({ version: '3' });
    expect((await c.server.hosts.byName('a1'))!.bytesReceived.origin ?? 0).toBe(before);
  });
});
