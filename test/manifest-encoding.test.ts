/** The origin sends manifests gzipped to agents that accept it, and plain to those that do not. */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './helpers/cluster.js';

/** The raw answer, undecoded (fetch would gunzip it and hide what was on the wire). */
function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; encoding: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          encoding: res.headers['content-encoding'],
          body: Buffer.concat(parts),
        }),
      );
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

describe('manifest encoding', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await TestCluster.start([]);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('gzips a manifest for an agent that accepts gzip, and it decodes to the same manifest', async () => {
    const image = await c.build(
      'scores-api',
      { version: '1', model: 'momentum' },
      { 'model.bin': randomBytes(1_500_000), 'curves.bin': randomBytes(900_000) },
    );
    const url = `${c.fleet.url}/v1/images/${image}/manifest`;
    const auth = { authorization: `Bearer ${c.fleet.adminToken}` };

    const plain = await rawGet(url, { ...auth, 'accept-encoding': 'identity' });
    expect(plain.status).toBe(200);
    expect(plain.encoding).toBeUndefined();
    const manifest = JSON.parse(plain.body.toString('utf8')) as { entries: unknown[] };
    expect(manifest.entries.length).toBeGreaterThan(0);

    // Twice: the second answer comes from the kept copy and must be the same bytes.
    for (let i = 0; i < 2; i++) {
      const zipped = await rawGet(url, { ...auth, 'accept-encoding': 'gzip, deflate' });
      expect(zipped.status).toBe(200);
      expect(zipped.encoding).toBe('gzip');
      expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
      // Hex digests compress: the manifest of ~40 chunks shrinks by at least a third.
      expect(zipped.body.length).toBeLessThan((plain.body.length * 2) / 3);
    }

    // The client (fetch) decodes it without being told.
    expect(await c.client.getManifest(image)).toEqual(manifest);
    await expect(c.client.getManifest('0'.repeat(64))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
