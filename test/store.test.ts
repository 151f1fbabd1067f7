/** The store behaves the same over embedded PGlite and a real PostgreSQL server. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { planDeployment } from '../src/core/index.js';
import { openStore, type Store } from '../src/store/index.js';

async function freshPostgresUrl(): Promise<string> {
  const base = inject('postgresUrl');
  const name = `t_${randomUUID().replace(/-/g, '')}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  return base.replace(/\/postgres$/, `/${name}`);
}

const engines: [string, () => Promise<Store>][] = [
  ['pglite', () => openStore({ engine: 'pglite', dataDir: null })],
  ['postgres', async () => openStore({ engine: 'postgres', url: await freshPostgresUrl() })],
];

describe.each(engines)('store over %s', (_name, open) => {
  let store: Store;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(async () => {
    await store.close();
  });

  it('registers hosts and updates them by name', async () => {
    const a = await store.upsertHost({
      id: 'h1',
      name: 'alpha',
      region: 'eu',
      labels: { role: 'x' },
    });
    expect(a.goalGeneration).toBe(0);
    const again = await store.upsertHost({
      id: 'h-other',
      name: 'alpha',
      region: 'us',
      labels: {},
    });
    expect(again.id).toBe('h1');
    expect(again.region).toBe('us');
    expect((await store.listHosts()).map((h) => h.name)).toEqual(['alpha']);
  });

  it('numbers releases per service and keeps images, tags and chunks', async () => {
    await store.addChunk('a'.repeat(64), 10);
    expect(await store.presentChunks(['a'.repeat(64), 'b'.repeat(64)])).toEqual(
      new Set(['a'.repeat(64)]),
    );
    const id = 'c'.repeat(64);
    await store.addImage({ id, service: 'svc', size: 10, files: 1, chunks: 1 }, '{}');
    await store.setTag('svc', 'latest', id);
    expect(await store.imageIdOfTag('svc', 'latest')).toBe(id);
    expect((await store.image(id))?.tags).toEqual(['latest']);
    const r1 = await store.transaction((tx) =>
      tx.addRelease({ service: 'svc', imageId: id, environment: 'default', config: { a: 1 } }),
    );
    const r2 = await store.transaction((tx) =>
      tx.addRelease({ service: 'svc', imageId: id, environment: 'default', config: { a: 2 } }),
    );
    expect([r1.version, r2.version]).toEqual([1, 2]);
    expect((await store.release('svc', 2))?.config).toEqual({ a: 2 });
  });

  it('changes goals and bumps the generation of touched hosts only', async () => {
    await store.upsertHost({ id: 'h2', name: 'beta', region: 'eu', labels: {} });
    await store.changeGoals('svc', [{ hostId: 'h1', stage: 2 }]);
    await store.changeGoals('svc', [{ hostId: 'h1', active: 2 }]);
    expect(await store.goalsOfHost('h1')).toEqual([
      { hostId: 'h1', service: 'svc', stageVersion: 2, activeVersion: 2 },
    ]);
    expect((await store.host('h1'))?.goalGeneration).toBe(2);
    expect((await store.host('h2'))?.goalGeneration).toBe(0);
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
    await store.addDeployment(d, 'c'.repeat(64));
    expect(await store.runningDeploymentIds()).toEqual(['d1']);
    await expect(
      store.transaction(async (tx) => {
        await tx.updateDeployment({ ...d, state: 'failed' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await store.deployment('d1'))?.doc).toMatchObject({ state: 'staging' });
    const [e1] = await store.addEvents([{ deploymentId: 'd1', type: 'x', data: { n: 1 } }]);
    await store.addEvents([{ deploymentId: null, type: 'y', data: {} }]);
    expect((await store.eventsAfter(0, 'd1')).map((e) => e.type)).toEqual(['x']);
    expect((await store.eventsAfter(e1!.id, null)).map((e) => e.type)).toEqual(['y']);
    expect(await store.lastEventId()).toBeGreaterThan(e1!.id);
  });
});

describe('agent reports are written behind', () => {
  const report = { services: [{ service: 'api', staged: [1] }] };

  it('over PostgreSQL: visible at once through the store, in the table after a flush', async () => {
    const url = await freshPostgresUrl();
    const writer = await openStore({ engine: 'postgres', url });
    const reader = await openStore({ engine: 'postgres', url });
    try {
      await writer.upsertHost({ id: 'h1', name: 'alpha', region: 'eu', labels: {} });
      const at = new Date('2026-01-01T00:00:00Z');
      await writer.saveReport('h1', report, { origin: 10 }, at);
      expect((await writer.host('h1'))?.report).toEqual(report);
      expect((await writer.listHosts())[0]?.bytesReceived).toEqual({ origin: 10 });
      expect((await reader.host('h1'))?.report ?? null).toBeNull();
      await writer.flushHostState();
      const row = await reader.host('h1');
      expect(row?.report).toEqual(report);
      expect(row?.lastSeenAt?.toISOString()).toBe(at.toISOString());
      // A touch alone moves the last-seen time and keeps the report.
      await writer.touchHost('h1', new Date('2026-01-01T00:01:00Z'));
      await writer.flushHostState();
      expect((await reader.host('h1'))?.report).toEqual(report);
      expect((await reader.host('h1'))?.lastSeenAt?.toISOString()).toBe('2026-01-01T00:01:00.000Z');
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  it('over PGlite: closing the store writes what is pending', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-store-'));
    try {
      const first = await openStore({ engine: 'pglite', dataDir: dir });
      await first.upsertHost({ id: 'h1', name: 'alpha', region: 'eu', labels: {} });
      await first.saveReport('h1', report, { peer: 5 }, new Date());
      await first.close();
      const second = await openStore({ engine: 'pglite', dataDir: dir });
      expect((await second.host('h1'))?.report).toEqual(report);
      expect((await second.host('h1'))?.bytesReceived).toEqual({ peer: 5 });
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
