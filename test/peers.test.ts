/** Staging through a region's relay and peers, with real agent processes. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './helpers/cluster.js';

describe('staging inside a region', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start([
      { name: 'a1', region: 'r1', relay: true },
      { name: 'a2', region: 'r1' },
      { name: 'a3', region: 'r1' },
      { name: 'b1', region: 'r2' },
    ]);
  });
  afterAll(async () => {
    await c?.stop();
  });

  const model = randomBytes(3 << 20);

  it('pulls each byte from the origin once per region and the rest from the relay and peers', async () => {
    const image = await c.build(
      'scores-api',
      { version: '1', model: 'momentum' },
      {
        'model.bin': model,
      },
    );
    const d = await c.waitFor(
      await c.client.createDeployment({ service: 'scores-api', image, kind: 'stage' }),
    );
    expect(d.state).toBe('succeeded');
    const hosts = new Map((await c.client.listHosts()).map((h) => [h.name, h]));
    const got = (name: string, kind: string) => hosts.get(name)?.bytesReceived[kind] ?? 0;
    // The relay of r1 fetched the image from the origin; its peers did not touch the origin.
    expect(got('a1', 'origin')).toBeGreaterThanOrEqual(model.length);
    // What the host's fetch ran into, to read when it did go to the origin.
    const problems = async (name: string) =>
      (await c.agentLog(name))
        .split('\n')
        .filter((l) => l.includes('fetch:'))
        .join('\n');
    expect(got('a2', 'origin'), await problems('a2')).toBe(0);
    expect(got('a3', 'origin'), await problems('a3')).toBe(0);
    for (const name of ['a2', 'a3']) {
      expect(got(name, 'relay') + got(name, 'peer')).toBeGreaterThanOrEqual(model.length);
    }
    // Origin bytes for r1 stay close to one copy of the image.
    const r1Origin = got('a1', 'origin') + got('a2', 'origin') + got('a3', 'origin');
    expect(r1Origin).toBeLessThan(model.length * 1.2 + 100_000);
    // r2 has no relay and no other peer: its only host fetched from the origin.
    expect(got('b1', 'origin')).toBeGreaterThanOrEqual(model.length);
    expect(hosts.get('a1')).toMatchObject({
      relay: true,
      peerUrl: expect.stringMatching(/^http:/),
    });
  });

  it('moves a small change as deltas against the chunks the hosts hold', async () => {
    // Two overwrites and an insertion of 4 KiB each, far apart: three changed chunks.
    const edited = Buffer.concat([
      model.subarray(0, 500_000),
      randomBytes(4096),
      model.subarray(504_096, 1_500_000),
      randomBytes(4096), // inserted
      model.subarray(1_500_000, 2_600_000),
      randomBytes(4096),
      model.subarray(2_604_096),
    ]);
    const changed = 3 * 4096;
    const before = new Map((await c.client.listHosts()).map((h) => [h.name, h]));
    const image = await c.build(
      'scores-api',
      { version: '2', model: 'momentum' },
      { 'model.bin': edited },
    );
    const d = await c.waitFor(
      await c.client.createDeployment({ service: 'scores-api', image, kind: 'stage' }),
    );
    expect(d.state).toBe('succeeded');
    const total = (r: Record<string, number> | undefined) =>
      Object.values(r ?? {}).reduce((a, b) => a + b, 0);
    for (const h of await c.client.listHosts()) {
      const received = total(h.bytesReceived) - total(before.get(h.name)?.bytesReceived);
      // Whole chunks would be at least 3 × 64 KiB (the smallest chunk); deltas are ~the edits.
      expect(received, h.name).toBeGreaterThan(0);
      expect(received, h.name).toBeLessThan(changed * 1.5 + 4096);
    }
  });
});
