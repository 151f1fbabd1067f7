/**
 * A deployment asked for before the server has first read its hosts (its first second) is made:
 * that read once ran inside the deployment's transaction and, over the embedded store's one
 * connection, waited for that transaction forever, and the whole server with it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { tinyImage } from './helpers/tiny-image.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';

describe('a server in its first second', () => {
  let s: InProcessServer | undefined;
  afterAll(() => s?.stop());

  it('makes a deployment asked for before it has read its hosts', async () => {
    s = await startInProcessServer();
    await s.admin.applyServiceMap({ services: { web: { run: 'node server.js' } } });
    const host = await s.joiner.enroll({ name: 'early-1', region: 'r', labels: {} });
    await new SlipwayClient({ server: s.url, token: host.token }).agentReport({ services: [] });
    const imageId = await tinyImage(s.admin, s.dir, 'web', 'v1');
    const d = await new SlipwayClient({
      server: s.url,
      token: s.adminToken,
      timeoutMs: 10_000,
    }).createDeployment({ service: 'web', image: imageId });
    expect(d.state).toBe('staging');
    expect(d.hosts.map((h) => h.hostName)).toEqual(['early-1']);
  });
});
