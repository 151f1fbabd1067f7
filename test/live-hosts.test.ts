/** Agents' reports are kept by the server and written to the store behind, in batches. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostReport } from '../src/api/index.js';
import { ObjectStore } from '../src/image/index.js';
import { buildServer } from '../src/server/index.js';
import { openStore } from '../src/store/index.js';
import { freshPostgresUrl } from './helpers/fresh-postgres.js';
import { TEST_SERVER_KEY } from './helpers/server-key.js';

const report = hostReport.parse({ services: [], peerUrl: 'http://10.0.0.1:7401' });

describe('agent reports', () => {
  it('are seen at once through the server, in the table after a flush, and flushed on close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-live-'));
    const url = await freshPostgresUrl();
    const store = await openStore({ engine: 'postgres', url });
    const reader = await openStore({ engine: 'postgres', url });
    const server = buildServer({
      serverKey: TEST_SERVER_KEY,
      store,
      objects: new ObjectStore(join(dir, 'origin')),
    });
    try {
      await store.hosts.add({ id: 'h1', name: 'alpha', region: 'eu', labels: {} });
      const at = new Date('2026-01-01T00:00:00Z');
      server.hosts.report('h1', { ...report, bytesReceived: { origin: 10 } }, at);
      expect((await server.hosts.byId('h1'))?.report).toMatchObject(report);
      expect((await server.hosts.list())[0]?.bytesReceived).toEqual({ origin: 10 });
      expect((await reader.hosts.byId('h1'))?.report ?? null).toBeNull();
      await server.hosts.flush();
      const row = await reader.hosts.byId('h1');
      expect(row?.report).toMatchObject(report);
      expect(row?.lastSeenAt?.toISOString()).toBe(at.toISOString());
      // A touch alone moves the last-seen time and keeps the report.
      server.hosts.touch('h1', new Date('2026-01-01T00:01:00Z'));
      await server.hosts.flush();
      expect((await reader.hosts.byId('h1'))?.report).toMatchObject(report);
      expect((await reader.hosts.byId('h1'))?.lastSeenAt?.toISOString()).toBe(
        '2026-01-01T00:01:00.000Z',
      );
      // Closing the server writes what is pending.
      server.hosts.report('h1', { ...report, bytesReceived: { peer: 5 } }, new Date());
      await server.close();
      expect((await reader.hosts.byId('h1'))?.bytesReceived).toEqual({ peer: 5 });
    } finally {
      await server.close().catch(() => {});
      await store.close();
      await reader.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
