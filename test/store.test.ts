/** The store behaves the same over embedded PGlite and a real PostgreSQL server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planDeployment } from '../src/core/index.js';
import { openStore, parseRevoked, type Store } from '../src/store/index.js';
import { freshPostgresUrl } from './helpers/fresh-postgres.js';
import { until } from './helpers/until.js';

const engines: [string, () => Promise<Store>][] = [
  ['pglite', () => openStore({ engine: 'pglite', dataDir: null })],
  ['postgres', async () => openStore({ engine: 'postgres', url: await freshPostgresUrl() })],
];

const SPEC = {
  name: 'svc',
  run: { argv: ['node', 'server.js'] },
  port: null,
  env: {},
  health: null,
  after: [],
  placement: { regions: [], labels: {} },
  rollout: { batchSize: { count: 1 }, failureThreshold: { count: 0 } },
  keepReleases: 3,
};

describe.each(engines)('store over %s', (_name, open) => {
  let store: Store;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store.close();
  });

  it('registers hosts, leaves a host alone when its name is taken, and removes one with its goals', async () => {
    const a = await store.hosts.add({
      id: 'h1',
      name: 'alpha',
      region: 'eu',
      labels: { role: 'x' },
    });
    expect(a?.goalGeneration).toBe(0);
    expect(a?.report).toBeNull();
    expect(a?.relay).toBe(false);
    const again = await store.hosts.add({ id: 'h-other', name: 'alpha', region: 'us', labels: {} });
    expect(again).toBeUndefined();
    expect(await store.hosts.byName('alpha')).toMatchObject({
      id: 'h1',
      region: 'eu',
      labels: { role: 'x' },
    });
    const gone = await store.hosts.add({ id: 'h-gone', name: 'gone', region: 'eu', labels: {} });
    await store.hosts.setRelay(gone!.id, true);
    expect((await store.hosts.byId('h-gone'))?.relay).toBe(true);
    await store.goals.change('svc', [{ hostId: 'h-gone', stage: 1 }]);
    expect(await store.transaction((tx) => tx.hosts.remove('h-gone'))).toBe(true);
    expect(await store.hosts.byId('h-gone')).toBeUndefined();
    expect(await store.goals.ofHost('h-gone')).toEqual([]);
    expect(await store.hosts.remove('h-gone')).toBe(false);
    expect((await store.hosts.list()).map((h) => h.name)).toEqual(['alpha']);
  });

  it('writes hosts’ reports and last-seen times in one call, a touch keeping the report', async () => {
    const report = { services: [], bytesReceived: { origin: 10 } };
    const at = new Date('2026-01-01T00:00:00Z');
    await store.hosts.saveLiveState(
      new Map([['h1', { report, bytesReceived: { origin: 10 }, seenAt: at }]]),
    );
    expect((await store.hosts.byId('h1'))?.report).toMatchObject(report);
    expect((await store.hosts.byId('h1'))?.bytesReceived).toEqual({ origin: 10 });
    const later = new Date('2026-01-01T00:01:00Z');
    await store.hosts.saveLiveState(new Map([['h1', { seenAt: later }]]));
    const row = await store.hosts.byName('alpha');
    expect(row?.report).toMatchObject(report);
    expect(row?.lastSeenAt?.toISOString()).toBe(later.toISOString());
  });

  it('numbers releases per service, checks their config, and keeps images, tags and chunks', async () => {
    await store.chunks.add('a'.repeat(64), 10);
    expect(await store.chunks.present(['a'.repeat(64), 'b'.repeat(64)])).toEqual(
      new Set(['a'.repeat(64)]),
    );
    const id = 'c'.repeat(64);
    await store.images.add({ id, service: 'svc', size: 10, files: 1, chunks: 1 }, '{}');
    await store.images.setTag('svc', 'latest', id);
    expect(await store.images.byTag('svc', 'latest')).toBe(id);
    expect((await store.images.byId(id))?.tags).toEqual(['latest']);
    // A prefix is only ever a prefix: LIKE's own wildcards in it match nothing.
    expect(await store.images.idsWithPrefix('svc', 'ccc', 5)).toEqual([id]);
    expect(await store.images.idsWithPrefix('svc', 'c%', 5)).toEqual([]);
    expect(await store.images.idsWithPrefix('svc', '__', 5)).toEqual([]);
    expect(await store.images.idsWithPrefix('other', 'ccc', 5)).toEqual([]);
    const r1 = await store.transaction((tx) =>
      tx.releases.add({ service: 'svc', imageId: id, environment: 'default', config: SPEC }),
    );
    const r2 = await store.transaction((tx) =>
      tx.releases.add({
        service: 'svc',
        imageId: id,
        environment: 'default',
        config: { ...SPEC, env: { A: '2' } },
      }),
    );
    expect([r1.version, r2.version]).toEqual([1, 2]);
    expect((await store.releases.get('svc', 2))?.config.env).toEqual({ A: '2' });
    // A row whose JSON does not have the shape it must is refused where it is read.
    await expect(
      store.transaction(async (tx) => {
        await tx.releases.add({
          service: 'bad',
          imageId: id,
          environment: 'default',
          config: { a: 1 },
        });
      }),
    ).rejects.toThrow(/stored config of release bad v1 does not have the expected shape/);
  });

  it('changes goals and bumps the generation of touched hosts only', async () => {
    await store.hosts.add({ id: 'h2', name: 'beta', region: 'eu', labels: {} });
    await store.goals.change('svc', [{ hostId: 'h1', stage: 2 }]);
    await store.goals.change('svc', [{ hostId: 'h1', active: 2 }]);
    expect(await store.goals.ofHost('h1')).toEqual([
      { hostId: 'h1', service: 'svc', stageVersion: 2, activeVersion: 2 },
    ]);
    expect((await store.hosts.byId('h1'))?.goalGeneration).toBe(2);
    expect((await store.hosts.byId('h2'))?.goalGeneration).toBe(0);
  });

  it('persists deployments and events, and rolls back a failed transaction', async () => {
    const d = planDeployment({
      id: 'd1',
      service: 'svc',
      environment: 'default',
      kind: 'deploy',
      release: 2,
      hosts: [{ id: 'h1', name: 'alpha', region: 'eu', labels: {} }],
      previous: new Map(),
      rollout: { batchSize: { count: 1 }, failureThreshold: { count: 0 } },
    });
    await store.deployments.add(d, 'c'.repeat(64));
    expect(await store.deployments.runningIds()).toEqual(['d1']);
    await expect(
      store.transaction(async (tx) => {
        await tx.deployments.update({ ...d, state: 'failed' });
        await tx.events.add([{ deploymentId: 'd1', type: 'lost', data: {} }]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await store.deployments.get('d1'))?.deployment.state).toBe('staging');
    const [e1] = await store.events.add([
      { deploymentId: 'd1', type: 'x', actor: 'user:admin', data: { n: 1 } },
    ]);
    await store.events.add([{ deploymentId: null, type: 'y', data: {} }]);
    const ofD1 = await store.events.after(0, 'd1');
    expect(ofD1.map((e) => [e.type, e.actor])).toEqual([['x', 'user:admin']]);
    expect((await store.events.after(e1!.id, null)).map((e) => e.type)).toEqual(['y']);
    expect(await store.events.lastId()).toBeGreaterThan(e1!.id);
    expect(
      (await store.deployments.list({ service: 'svc', environment: 'other' }, 10)).length,
    ).toBe(0);
  });

  it('announces a notification once its transaction commits, and never one rolled back', async () => {
    const heard: string[] = [];
    const stop = store.listen('goals', (p) => heard.push(p));
    try {
      await expect(
        store.transaction(async (tx) => {
          await tx.notify('goals', 'rolled-back');
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      await store.transaction(async (tx) => {
        await tx.notify('goals', 'h1,h2');
        // Not before the commit.
        expect(heard).toEqual([]);
      });
      await until('the notification', () => heard.includes('h1,h2'));
      expect(heard).toEqual(['h1,h2']);
    } finally {
      stop();
    }
  });

  it('announces the tokens it revokes, with the transaction that deletes them', async () => {
    await store.tokens.add('a'.repeat(64), 'agent', 'h-revoked');
    await store.tokens.add('b'.repeat(64), 'agent', 'h-kept');
    const heard: string[] = [];
    const stop = store.listen('tokens', (p) => heard.push(p));
    try {
      await expect(
        store.transaction(async (tx) => {
          await tx.tokens.revokeOfHost('h-revoked');
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await store.tokens.find('a'.repeat(64))).toBeDefined();
      await store.transaction((tx) => tx.tokens.revokeOfHost('h-revoked'));
      await until('the revocation', () => heard.length > 0);
      expect(heard.map(parseRevoked)).toEqual([
        { hashes: ['a'.repeat(64)], hostIds: ['h-revoked'] },
      ]);
      expect(await store.tokens.find('a'.repeat(64))).toBeUndefined();
      expect(await store.tokens.find('b'.repeat(64))).toBeDefined();
    } finally {
      stop();
    }
  });
});

describe('two stores on one PostgreSQL (two server processes)', () => {
  it('each hears what the other commits', async () => {
    const url = await freshPostgresUrl();
    const a = await openStore({ engine: 'postgres', url });
    const b = await openStore({ engine: 'postgres', url });
    try {
      const heard: string[] = [];
      b.listen('events', (p) => heard.push(p));
      await a.transaction(async (tx) => {
        const [e] = await tx.events.add([{ deploymentId: null, type: 'x', data: {} }]);
        await tx.notify('events', String(e!.id));
      });
      await until('b to hear a’s event', () => heard.length === 1);
      expect((await b.events.after(0, null)).map((e) => e.type)).toEqual(['x']);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
