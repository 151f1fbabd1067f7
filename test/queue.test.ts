/**
 * One deployment at a time per service and environment: a second queues behind the first (and
 * says so) and starts when it ends; `replace` cancels the one under way instead; a queued one
 * cancelled ends having done nothing. Hosts report as agents do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SlipwayClient } from '../src/api/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';
import { tinyImage } from './helpers/tiny-image.js';
import { converge as convergeAll, enrollHosts } from './helpers/converge.js';
import { until } from './helpers/until.js';

describe('the deployment queue', () => {
  let s: InProcessServer;
  const hosts: SlipwayClient[] = [];

  beforeAll(async () => {
    s = await startInProcessServer({ tickMs: 100 });
    await s.admin.applyServiceMap({
      services: { web: { run: 'node server.js', rollout: { batchSize: 1 } } },
    });
    hosts.push(...(await enrollHosts(s, ['web-1', 'web-2'])));
    for (const v of ['v1', 'v2', 'v3', 'v4']) await tinyImage(s.admin, s.dir, 'web', v, [v]);
  });
  afterAll(() => s.stop());

  const converge = () => convergeAll(hosts);
  const ended = (id: string) =>
    until(`${id} to end`, async () => {
      await converge();
      const d = await s.admin.getDeployment(id);
      return ['succeeded', 'cancelled', 'rolled_back', 'failed'].includes(d.state) && d;
    });

  it('queues a second deployment behind the first and starts it when the first ends', async () => {
    const first = await s.admin.createDeployment({ service: 'web', image: 'v1' });
    expect(first.state).toBe('staging');
    const second = await s.admin.createDeployment({ service: 'web', image: 'v2' });
    expect([second.state, second.queuedBehind]).toEqual(['queued', first.id]);
    // Nothing of the second reaches a host while it waits.
    const goal = await hosts[0]!.agentGoal(-1, 0);
    expect(goal.services[0]!.stage.map((r) => r.version)).toEqual([first.release]);
    const third = await s.admin.createDeployment({ service: 'web', image: 'v3' });
    expect(third.queuedBehind).toBe(second.id);
    await s.admin.cancelDeployment(third.id);
    expect((await ended(first.id)).state).toBe('succeeded');
    const done = await ended(second.id);
    expect(done.state).toBe('succeeded');
    // It returns hosts to what they ran when it started: the first's release.
    expect(done.hosts.map((h) => h.previous)).toEqual([first.release, first.release]);
    const cancelled = await ended(third.id);
    expect([cancelled.state, cancelled.reason]).toEqual([
      'cancelled',
      'cancelled while queued; nothing was done',
    ]);
  });

  it('cancels the deployment under way instead, with replace', async () => {
    const old = await s.admin.createDeployment({ service: 'web', image: 'v4' });
    const replacing = await s.admin.createDeployment({
      service: 'web',
      image: 'v1',
      replace: true,
    });
    expect(replacing.queuedBehind).toBe(old.id);
    expect((await ended(old.id)).state).toBe('cancelled');
    expect((await ended(replacing.id)).state).toBe('succeeded');
  });
});
