/** Garbage collection on the origin never takes what an image needs. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/image/index.js';
import { TestCluster } from './helpers/cluster.js';

describe('origin garbage collection', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start([]);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('removes unreferenced chunks past the grace time and keeps every chunk an image uses', async () => {
    const image = await c.build(
      'scores-api',
      { version: '1', model: 'momentum' },
      {
        'model.bin': randomBytes(600_000),
      },
    );
    const stray = randomBytes(70_000);
    const strayDigest = sha256Hex(stray);
    await c.client.putChunk(strayDigest, stray);

    // Within the grace time nothing goes, not even the stray chunk (a build may still need it).
    expect((await c.client.collectGarbage()).removed).toBe(0);

    const r = await c.client.collectGarbage(0);
    expect(r.removed).toBe(1);
    expect(r.bytesFreed).toBe(stray.length);
    await expect(c.client.getChunk(strayDigest)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await c.client.missingChunks([strayDigest])).toEqual({ missing: [strayDigest] });

    // Every chunk of the image is still served, byte for byte.
    const manifest = (await c.client.getManifest(image)) as {
      entries: { type: string; chunks?: { digest: string }[] }[];
    };
    const digests = manifest.entries.flatMap((e) => e.chunks?.map((ch) => ch.digest) ?? []);
    expect(digests.length).toBeGreaterThan(2);
    for (const d of digests) expect(sha256Hex(await c.client.getChunk(d))).toBe(d);
    expect(r.referenced).toBe(new Set(digests).size);
  });
});
