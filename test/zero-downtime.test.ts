/**
 * The zero-downtime switch of a published port, with a real agent: a bounded load (a new
 * connection every few milliseconds) runs against the public port while the service is deployed
 * and rolled back ten times, through the kernel (nftables) and through the agent's proxy; not one
 * request may fail.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCommand } from '../src/executor/index.js';
import { TestCluster } from './helpers/cluster.js';
import { until } from './helpers/until.js';

const SWITCHES = 10;

const map = (publicPort: number, via: string) => `
regions: [r1]
services:
  scores-api:
    run: [node, server.js]
    port: dynamic
    publish: { port: ${publicPort}, drain: 300ms, via: ${via} }
    health: { http: /healthz, interval: 50ms, timeout: 1s, deadline: 6s }
`;

/** One GET on a connection of its own; resolves with the status, or the error's code. */
function once(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/scores', agent: false, timeout: 5_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end();
  });
}

/** Requests every `everyMs` until stopped; counts answers by outcome. */
function load(port: number, everyMs: number) {
  const outcomes = new Map<number | string, number>();
  const inFlight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const p = once(port).then((o) => {
      outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
      inFlight.delete(p);
    });
    inFlight.add(p);
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      return outcomes;
    },
  };
}

/** A table of its own: other tests' fleets stop services named as these are. */
const TABLE = 'slipway_zero_downtime_test';

describe.each(['nftables', 'proxy'])('switching a published port through %s', (via) => {
  let c: TestCluster;
  let publicPort = 0;
  beforeAll(async () => {
    // The agents this file starts inherit it.
    process.env.SLIPWAY_NFT_TABLE = TABLE;
    publicPort = await freePort();
    c = await TestCluster.start([{ name: 'a1', region: 'r1' }], map(publicPort, via));
  });
  afterAll(async () => {
    await c?.stop();
    // The kernel redirect outlives the agent on purpose: remove it, the port is a test's.
    if (via === 'nftables') await runCommand(['nft', 'delete', 'table', 'ip', TABLE]);
  });

  it(`drops no request over ${SWITCHES} deploys and rollbacks under load`, async () => {
    const v1 = await c.build('scores-api', { version: '1', model: 'mean-reversion' });
    const v2 = await c.build('scores-api', { version: '2', model: 'momentum' });
    expect((await c.deploy('scores-api', v1)).state).toBe('succeeded');
    const running = load(publicPort, 4);
    for (let i = 0; i < SWITCHES / 2; i++) {
      const up = await c.deploy('scores-api', v2);
      expect(up.state, up.reason ?? undefined).toBe('succeeded');
      const back = await c.waitFor(
        await c.client.createDeployment({ service: 'scores-api', kind: 'rollback' }),
      );
      expect(back.state, back.reason ?? undefined).toBe('succeeded');
    }
    const outcomes = await running.stop();
    const ok = outcomes.get(200) ?? 0;
    expect(Object.fromEntries(outcomes)).toEqual({ 200: ok });
    expect(ok).toBeGreaterThan(500);
    // Reported once the public port points at it, just after the release was said healthy.
    const published = await until('the host to report its public port', async () => {
      const host = (await c.client.listHosts())[0]!;
      return host.services.find((s) => s.service === 'scores-api')?.active?.published;
    });
    expect(published).toEqual({ port: publicPort, via });
    expect(await c.agentLog('a1')).toContain(`now serves v1`);
  }, 180_000);
});
