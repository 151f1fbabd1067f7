/**
 * Waves with bakes and metric gates, against a real Prometheus scraping a service whose error
 * counter the test makes climb: a wave whose gate holds passes, one whose gate is crossed (or
 * cannot be read) rolls back every host the deployment touched. Hosts report as agents do.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SlipwayClient } from '../src/api/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';
import { startPrometheus, type TestPrometheus } from './helpers/prometheus.js';
import { tinyImage } from './helpers/tiny-image.js';
import { converge as convergeAll, enrollHosts } from './helpers/converge.js';
import { until } from './helpers/until.js';

describe('waves, bakes and metric gates', () => {
  let s: InProcessServer;
  let prom: TestPrometheus;
  let metrics: Server;
  let errors = 0;
  const hosts: SlipwayClient[] = [];

  beforeAll(async () => {
    metrics = createServer((_req, res) => {
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(`# TYPE test_errors_total counter\ntest_errors_total ${errors}\n`);
    });
    await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r));
    const target = `127.0.0.1:${(metrics.address() as { port: number }).port}`;
    prom = await startPrometheus([target]);
    s = await startInProcessServer({ tickMs: 100 });
    hosts.push(...(await enrollHosts(s, ['web-1', 'web-2', 'web-3'])));
    await s.admin.applyServiceMap({
      services: {
        web: {
          run: 'node server.js',
          rollout: {
            batchSize: 1,
            waves: [
              { name: 'canary', hosts: 1, bake: '1s' },
              {
                name: 'rest',
                bake: '2s',
                gates: [{ prometheus: { url: prom.url, query: 'test_errors_total', max: 5 } }],
              },
            ],
          },
        },
      },
    });
    // Prometheus has scraped the service once.
    await until('a first scrape', async () => {
      const r = await fetch(`${prom.url}/api/v1/query?query=test_errors_total`);
      const body = (await r.json()) as { data: { result: unknown[] } };
      return body.data.result.length > 0;
    });
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
    await prom?.stop();
    await new Promise((r) => metrics?.close(r));
  });

  const converge = () => convergeAll(hosts);
  const settle = (id: string, timeoutMs = 40_000) =>
    until(
      `deployment ${id} to end`,
      async () => {
        await converge();
        const d = await s.admin.getDeployment(id);
        return ['succeeded', 'rolled_back', 'failed', 'cancelled'].includes(d.state) && d;
      },
      { timeoutMs, intervalMs: 100 },
    );
  const eventsOf = async (id: string) => (await s.store.events.after(0, id)).map((e) => e);
  let version = 0;
  const image = async () => {
    version++;
    await tinyImage(s.admin, s.dir, 'web', `v${version}`, [`v${version}`]);
    return `v${version}`;
  };

  it('passes a wave whose gate holds, after its bake, and shows the readings', async () => {
    errors = 0;
    const d = await s.admin.createDeployment({ service: 'web', image: await image() });
    expect(d.waves.map((w) => [w.name, w.batchCount, w.bakeMs, w.gates])).toEqual([
      ['canary', 1, 1000, 0],
      ['rest', 2, 2000, 1],
    ]);
    // The canary bakes: shown with its countdown.
    const baking = await until('the canary to bake', async () => {
      await converge();
      const now = await s.admin.getDeployment(d.id);
      return now.state === 'baking' && now;
    });
    expect(baking.bake).toMatchObject({ wave: 'canary', readings: [] });
    const done = await settle(d.id);
    expect(done.state).toBe('succeeded');
    const events = await eventsOf(d.id);
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'wave.passed')).toHaveLength(2);
    const gates = events.filter((e) => e.type === 'wave.gates');
    expect(gates.length).toBeGreaterThan(0);
    expect(gates.at(-1)!.data.readings).toEqual([
      expect.objectContaining({ value: 0, ok: true, problem: null }),
    ]);
  });

  it('rolls back every host it touched when the errors climb past the bound', async () => {
    errors = 0;
    const before = (await s.admin.status({ service: 'web' })).map((r) => r.active);
    const d = await s.admin.createDeployment({ service: 'web', image: await image() });
    // The canary has passed; now the errors climb.
    await until('the rest to start', async () => {
      await converge();
      const now = await s.admin.getDeployment(d.id);
      return now.currentBatch >= 1 && now;
    });
    errors = 12;
    const done = await settle(d.id);
    expect(done.state).toBe('rolled_back');
    expect(done.reason).toBe(
      `wave rest: gate test_errors_total (prometheus ${prom.url}): 12 > max 5`,
    );
    // Every host went back, the canary's too.
    expect((await s.admin.status({ service: 'web' })).map((r) => r.active)).toEqual(before);
    expect(done.hosts.map((h) => h.state)).toEqual(['reverted', 'reverted', 'reverted']);
  });

  it('fails closed when Prometheus cannot be read, saying why', async () => {
    errors = 0;
    await prom.stop();
    const d = await s.admin.createDeployment({ service: 'web', image: await image() });
    const done = await settle(d.id);
    expect(done.state).toBe('rolled_back');
    expect(done.reason).toMatch(/^wave rest: gate test_errors_total .*: cannot be read: /);
    const gates = (await eventsOf(d.id)).filter((e) => e.type === 'wave.gates');
    expect(gates.at(-1)!.data.readings).toEqual([
      expect.objectContaining({ value: null, ok: false }),
    ]);
  });

  it('finishes the wave under way and pauses when a freeze begins, then goes on when it ends', async () => {
    const map = (frozen: boolean) => ({
      services: {
        web: {
          run: 'node server.js',
          rollout: {
            batchSize: 1,
            waves: [{ name: 'canary', hosts: 1, bake: '6s' }, { name: 'rest' }],
          },
        },
      },
      environments: {
        prod: {
          policy: {
            freezes: frozen
              ? [
                  {
                    from: new Date(Date.now() - 3_600_000).toISOString(),
                    to: new Date(Date.now() + 3_600_000).toISOString(),
                    reason: 'market open',
                  },
                ]
              : [],
          },
        },
      },
    });
    await s.admin.applyServiceMap(map(false));
    const d = await s.admin.createDeployment({
      service: 'web',
      environment: 'prod',
      image: await image(),
    });
    await until('the canary to bake', async () => {
      await converge();
      return (await s.admin.getDeployment(d.id)).state === 'baking';
    });
    await s.admin.applyServiceMap(map(true));
    const paused = await until(
      'the deployment to pause',
      async () => {
        await converge();
        const now = await s.admin.getDeployment(d.id);
        return now.state === 'paused' && now;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(paused.reason).toMatch(
      /^paused before wave rest: frozen until .*: market open; next allowed /,
    );
    // The canary's wave finished; nothing of the next was touched.
    expect(paused.hosts.map((h) => h.state)).toEqual(['healthy', 'staged', 'staged']);
    await s.admin.applyServiceMap(map(false));
    expect((await settle(d.id)).state).toBe('succeeded');
  });
});
