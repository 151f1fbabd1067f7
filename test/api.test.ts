/**
 * The REST API's guard rails: tokens, roles, verified chunks, safe manifests, all-at-once
 * validation; and manifests gzipped on the wire for agents that accept it.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { parseCidr } from '../src/core/index.js';
import { buildImage } from '../src/cli/index.js';
import { SLIPWAY_BIN } from './harness/local-fleet.js';
import { httpGet } from '../src/distribution/index.js';
import { PEERS_SENT } from '../src/server/index.js';
import type { Store } from '../src/store/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('API guard rails', () => {
  let dir: string;
  let store: Store;
  let s: InProcessServer;
  let url: string;
  let admin: string;
  let join_: string;
  beforeAll(async () => {
    s = await startInProcessServer({
      // The large region below advertises addresses its reports do not come from (NAT).
      peerNetworks: [parseCidr('10.9.0.0/24')],
    });
    ({ dir, store, url, adminToken: admin, joinToken: join_ } = s);
  });
  afterAll(async () => {
    await s.stop();
  });

  it('refuses a request without a token, or with an unknown one', async () => {
    const res = await fetch(`${url}/v1/hosts`);
    expect(res.status).toBe(401);
    const body: unknown = await res.json();
    expect(body).toEqual({
      error: {
        code: 'UNAUTHENTICATED',
        message: expect.stringContaining('missing API token'),
        details: {},
      },
    });
    const bad = await fetch(`${url}/v1/hosts`, {
      headers: { authorization: 'Bearer slw_admin_nope' },
    });
    expect(bad.status).toBe(401);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('keeps roles apart: the join token only enrolls, an agent cannot deploy', async () => {
    const joinClient = new SlipwayClient({ server: url, token: join_ });
    await expect(joinClient.listHosts()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const { token } = await joinClient.enroll({ name: 'h1', region: 'r1', labels: {} });
    const agent = new SlipwayClient({ server: url, token });
    expect((await agent.agentGoal(-1, 0)).services).toEqual([]);
    await expect(agent.createDeployment({ service: 'x', image: 'y' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('names every relay and a bounded sample of a large region, and splits the relay’s chunks', async () => {
    const joinClient = new SlipwayClient({ server: url, token: join_ });
    const agents: SlipwayClient[] = [];
    const size = PEERS_SENT + 9;
    for (let i = 0; i < size; i++) {
      const { token } = await joinClient.enroll({
        name: `big-${i}`,
        region: 'big',
        labels: {},
        relay: i === 0,
      });
      const agent = new SlipwayClient({ server: url, token });
      await agent.agentReport({ services: [], peerUrl: `http://10.9.0.${i}:7401` });
      agents.push(agent);
    }
    const shares: number[] = [];
    for (const [i, agent] of agents.entries()) {
      const { peering } = await agent.agentGoal(-1, 0);
      const peers = peering!.peers;
      expect(peers.length, `big-${i}`).toBe(PEERS_SENT + (i === 0 ? 0 : 1));
      expect(new Set(peers.map((p) => p.name)).size).toBe(peers.length);
      expect(peers.map((p) => p.name)).not.toContain(`big-${i}`);
      expect(peers.filter((p) => p.relay).map((p) => p.name)).toEqual(i === 0 ? [] : ['big-0']);
      if (i === 0) expect(peering!.share).toBeNull();
      else {
        expect(peering!.share!.of).toBe(size - 1);
        shares.push(peering!.share!.index);
      }
    }
    // Every non-relay agent has a share of its own: together they cover every chunk once.
    expect(shares.sort((a, b) => a - b)).toEqual([...Array(size - 1).keys()]);
  });

  it('stores only token hashes, and the token files are private', async () => {
    const { stat, readFile } = await import('node:fs/promises');
    expect((await stat(join(dir, 'admin.token'))).mode & 0o777).toBe(0o600);
    expect((await readFile(join(dir, 'admin.token'), 'utf8')).trim()).toBe(admin);
    expect(await store.tokens.find(admin)).toBeUndefined();
  });

  it('serves an OpenAPI document of every route', async () => {
    const doc = (await (await fetch(`${url}/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters: { name: string; in: string }[] }>>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/deployments', '/v1/chunks/{digest}', '/v1/agent/goal']),
    );
    // Query parameters are documented too (the long poll's `after` and `waitMs`).
    const goal = doc.paths['/v1/agent/goal']?.get?.parameters.map((p) => `${p.in}:${p.name}`);
    expect(goal).toEqual(expect.arrayContaining(['query:after', 'query:waitMs']));
  });

  it('refuses a chunk whose bytes do not hash to its name', async () => {
    const c = new SlipwayClient({ server: url, token: admin });
    const good = Buffer.from('good bytes');
    await expect(c.putChunk(sha(good), Buffer.from('evil bytes'))).rejects.toMatchObject({
      code: 'INVALID',
    });
    expect((await c.missingChunks([sha(good)])).missing).toEqual([sha(good)]);
    await c.putChunk(sha(good), good);
    expect((await c.missingChunks([sha(good)])).missing).toEqual([]);
  });

  it('refuses a manifest that escapes its root, listing every problem', async () => {
    const c = new SlipwayClient({ server: url, token: admin });
    const data = Buffer.from('x');
    await c.putChunk(sha(data), data);
    const chunk = { digest: sha(data), size: 1 };
    const manifest = {
      format: 1,
      entries: [
        { path: '../etc/passwd', type: 'file', mode: 0o644, size: 1, chunks: [chunk] },
        { path: 'link', type: 'symlink', target: '../../outside' },
        { path: 'ok', type: 'file', mode: 0o644, size: 1, chunks: [chunk] },
      ],
    };
    const err = await c.createImage({ service: 'svc', manifest }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID' });
    const paths = (
      (err as { details: { problems: { path: string }[] } }).details.problems ?? []
    ).map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['entries[0].path', 'entries[1].target']));
    expect(await c.listImages()).toEqual([]);
  });

  it('reports every problem of an invalid service map with its line, and changes nothing', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      [
        'services:',
        '  web:',
        '    run: [node, web.js]',
        '    port: 99999',
        '    after: [ghost]',
        '    health: { http: /healthz, timeout: 2 seconds }',
        '  a:',
        '    run: a',
        '    after: [b]',
        '  b:',
        '    run: b',
        '    after: [a]',
        '    colour: blue',
        '',
      ].join('\n'),
    );
    const res = await promisify(execFile)(process.execPath, [
      SLIPWAY_BIN,
      'apply',
      '-f',
      file,
      '--server',
      url,
      '--token',
      admin,
    ]).catch((e: { code: number; stderr: string }) => e);
    expect('code' in res && res.code).toBe(1);
    const stderr = (res as { stderr: string }).stderr;
    expect(stderr).toMatch(/bad\.yaml:4: services\.web\.port/);
    expect(stderr).toMatch(/bad\.yaml:5: services\.web\.after\[0\]: .*ghost/);
    expect(stderr).toMatch(/bad\.yaml:6: services\.web\.health\.timeout/);
    expect(stderr).toMatch(/cycle/);
    expect(stderr).toMatch(/bad\.yaml:13: services\.b.*colour/);
    const c = new SlipwayClient({ server: url, token: admin });
    await expect(c.getServiceMap()).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('builds an image without setuid or world-writable bits, saying so once, and refuses a manifest with them', async () => {
    const c = new SlipwayClient({ server: url, token: admin });
    const tree = join(dir, 'setuid-tree');
    await mkdir(tree);
    for (const name of ['su', 'sg']) await writeFile(join(tree, name), '#!/bin/sh\n');
    await chmod(join(tree, 'su'), 0o4755);
    await chmod(join(tree, 'sg'), 0o2777);
    const lines: string[] = [];
    const { imageId } = await buildImage(c, tree, 'svc', [], (l) => lines.push(l));
    const warnings = lines.filter((l) => l.startsWith('warning:'));
    expect(warnings).toEqual([expect.stringContaining('2 path(s) had setuid, setgid, sticky')]);
    const manifest = (await c.getManifest(imageId)) as {
      entries: { path: string; mode: number }[];
    };
    expect(manifest.entries.map((e) => [e.path, e.mode])).toEqual([
      ['sg', 0o775],
      ['su', 0o755],
    ]);
    // A client that does not strip them is refused.
    const data = Buffer.from('#!/bin/sh\n');
    await c.putChunk(sha(data), data).catch(() => undefined);
    await expect(
      c.createImage({
        service: 'svc',
        manifest: {
          format: 1,
          entries: [
            {
              path: 'su',
              type: 'file',
              mode: 0o4755,
              size: data.length,
              chunks: [{ digest: sha(data), size: data.length }],
            },
          ],
        },
      }),
    ).rejects.toThrow(/"su" has mode 0o4755 \(setuid\)/);
  });

  it('gzips a manifest for an agent that accepts gzip, and it decodes to the same manifest', async () => {
    const c = new SlipwayClient({ server: url, token: admin });
    const tree = join(dir, 'gzip-tree');
    await mkdir(tree);
    await writeFile(join(tree, 'model.bin'), randomBytes(1_500_000));
    await writeFile(join(tree, 'curves.bin'), randomBytes(900_000));
    const { imageId } = await buildImage(c, tree, 'svc', [], () => {});
    // Raw answers: fetch would gunzip and hide what was on the wire.
    const get = (encoding: string) =>
      httpGet(`${url}/v1/images/${imageId}/manifest`, {
        headers: { authorization: `Bearer ${admin}`, 'accept-encoding': encoding },
        maxBytes: 1 << 20,
      });

    const plain = await get('identity');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    const manifest = JSON.parse(plain.body.toString('utf8')) as { entries: unknown[] };
    expect(manifest.entries.length).toBeGreaterThan(0);

    // Twice: the second answer comes from the kept copy and must be the same bytes.
    for (let i = 0; i < 2; i++) {
      const zipped = await get('gzip, deflate');
      expect(zipped.status).toBe(200);
      expect(zipped.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
      // Hex digests compress: the manifest of ~40 chunks shrinks by at least a third.
      expect(zipped.body.length).toBeLessThan((plain.body.length * 2) / 3);
    }

    // The client (fetch) decodes it without being told.
    expect(await c.getManifest(imageId)).toEqual(manifest);
    await expect(c.getManifest('0'.repeat(64))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
