/** The main job end to end: real agent processes, an in-process server on the embedded store. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './helpers/cluster.js';

const AGENTS = [
  { name: 'a1', region: 'r1' },
  { name: 'a2', region: 'r1' },
  { name: 'b1', region: 'r2' },
];

describe('deploy, upgrade, automatic and explicit rollback', () => {
  let c: TestCluster;
  let v1 = '';
  beforeAll(async () => {
    c = await TestCluster.start(AGENTS);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it('refuses to deploy a service before the services it runs after', async () => {
    const img = await c.build('securities-api', { version: '1', currency: 'USD' });
    await expect(
      c.client.createDeployment({ service: 'securities-api', image: img }),
    ).rejects.toMatchObject({
      code: 'POLICY',
      message: expect.stringContaining('deploy scores-api first'),
    });
  });

  it('deploys a first release to every host', async () => {
    v1 = await c.build('scores-api', { version: '1', model: 'mean-reversion' });
    const d = await c.deploy('scores-api', v1);
    expect(d.state, d.reason ?? undefined).toBe('succeeded');
    expect(d.release).toBe(1);
    expect(d.hosts.map((h) => h.state)).toEqual(['healthy', 'healthy', 'healthy']);
    for (const a of AGENTS) {
      expect(await c.fetchFrom(a.name, 'scores-api', '/scores')).toMatchObject({
        version: '1',
        model: 'mean-reversion',
      });
    }
  });

  it('upgrades and lets a dependent service reach its dependency on the same host', async () => {
    const v2 = await c.build('scores-api', { version: '2', model: 'momentum' });
    const d = await c.deploy('scores-api', v2);
    expect(d.state, d.reason ?? undefined).toBe('succeeded');
    expect(d.batchCount).toBe(2);
    expect(await c.fetchFrom('b1', 'scores-api', '/scores')).toMatchObject({
      version: '2',
      model: 'momentum',
    });
    const sec = await c.build('securities-api', { version: '1', currency: 'USD' });
    const secDeployed = await c.deploy('securities-api', sec);
    expect(secDeployed.state, secDeployed.reason ?? undefined).toBe('succeeded');
    expect(await c.fetchFrom('a1', 'securities-api', '/securities')).toMatchObject({
      version: '1',
      scoresModel: 'momentum',
    });
  });

  it('rolls a release that fails health back automatically, and the old one keeps serving', async () => {
    const broken = await c.build('scores-api', { version: '3', model: 'missing' });
    const d = await c.deploy('scores-api', broken);
    expect(d.state).toBe('rolled_back');
    expect(d.reason).toMatch(/failed health/);
    // The first batch was tried and returned; the second never moved.
    expect(d.hosts.filter((h) => h.batch === 0).every((h) => h.state === 'reverted')).toBe(true);
    expect(d.hosts.filter((h) => h.batch === 1).every((h) => h.state === 'staged')).toBe(true);
    for (const a of AGENTS) {
      expect(await c.fetchFrom(a.name, 'scores-api', '/scores')).toMatchObject({ version: '2' });
    }
    const rows = (await c.client.status()).filter((r) => r.service === 'scores-api');
    expect(rows.map((r) => [r.active, r.state])).toEqual(AGENTS.map(() => [2, 'healthy']));
  });

  it('rolls back explicitly to an older release without fetching anything', async () => {
    const fetched = async () =>
      Promise.all(
        AGENTS.map(async (a) => (await c.server.hosts.byName(a.name))!.bytesReceived.origin ?? 0),
      );
    const before = await fetched();
    expect(before.every((n) => n > 0)).toBe(true);
    const d = await c.waitFor(
      await c.client.createDeployment({ service: 'scores-api', kind: 'rollback', toVersion: 1 }),
    );
    expect(d.state, d.reason ?? undefined).toBe('succeeded');
    expect(d.kind).toBe('rollback');
    expect(d.release).toBe(1);
    for (const a of AGENTS) {
      expect(await c.fetchFrom(a.name, 'scores-api', '/scores')).toMatchObject({ version: '1' });
    }
    // Reports carry the bytes each agent fetched since it started: a rollback adds none.
    await new Promise((r) => setTimeout(r, 300));
    expect(await fetched()).toEqual(before);
  });

  it('lists releases and refuses a rollback to a release that does not exist', async () => {
    const rels = await c.client.listReleases('scores-api');
    expect(rels.map((r) => r.version)).toEqual([3, 2, 1]);
    await expect(
      c.client.createDeployment({ service: 'scores-api', kind: 'rollback', toVersion: 9 }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});
