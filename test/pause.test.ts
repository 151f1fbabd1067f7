/**
 * Pause and resume through the API, with hosts that report as agents do: a paused deployment
 * stops before its next batch, and goes on when resumed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SlipwayClient } from '../src/api/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';
import { tinyImage } from './helpers/tiny-image.js';
import { converge as convergeAll, enrollHosts } from './helpers/converge.js';
import { until } from './helpers/until.js';

describe('pause and resume', () => {
  let s: InProcessServer;
  const hosts: SlipwayClient[] = [];

  beforeAll(async () => {
    s = await startInProcessServer({ tickMs: 100 });
    await s.admin.applyServiceMap({
      services: { web: { run: 'node server.js', rollout: { batchSize: 1 } } },
    });
    hosts.push(...(await enrollHosts(s, ['web-1', 'web-2'])));
    await tinyImage(s.admin, s.dir, 'web', 'v1', ['v1']);
  });
  afterAll(() => s.stop());

  const converge = () => convergeAll(hosts);
  const stateOf = async (id: string) => {
    await converge();
    return (await s.admin.getDeployment(id)).state;
  };

  it('stops before the next batch, says so, and goes on when resumed', async () => {
    const d = await s.admin.createDeployment({ service: 'web', image: 'v1' });
    const paused = await s.admin.pauseDeployment(d.id.slice(0, 8));
    expect(paused.state).toBe('staging');
    await until('paused', async () => (await stateOf(d.id)) === 'paused');
    const p = await s.admin.getDeployment(d.id);
    expect(p.reason).toBe('paused before batch 1/2');
    expect(p.hosts.map((h) => h.state)).toEqual(['staged', 'staged']);
    await s.admin.resumeDeployment(d.id);
    await until('succeeded', async () => (await stateOf(d.id)) === 'succeeded');
    await expect(s.admin.pauseDeployment(d.id)).rejects.toMatchObject({ code: 'CONFLICT' });
  });
});
