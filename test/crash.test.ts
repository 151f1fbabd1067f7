/** Crashes: an agent killed mid-activation, a server killed mid-deployment. Both carry on. */
import { mkdtemp, readFile, readlink, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalFleet } from './harness/local-fleet.js';
import { isAlive } from '../src/executor/index.js';
import { buildExample, TEST_MAP, TestCluster, waitForEnd } from './helpers/cluster.js';
import { until } from './helpers/until.js';
import type { DeploymentView, SlipwayClient } from '../src/api/index.js';

describe('an agent killed mid-activation', () => {
  let c: TestCluster | undefined;
  afterEach(async () => {
    await c?.stop();
  });

  it('converges on the goal after it restarts, taking over the process it left behind', async () => {
    c = await TestCluster.start([
      { name: 'a1', region: 'r1' },
      { name: 'a2', region: 'r1' },
    ]);
    const v1 = await c.build('scores-api', { version: '1', model: 'momentum' });
    const first = await c.deploy('scores-api', v1);
    expect(first.state, first.reason ?? undefined).toBe('succeeded');
    const v2 = await c.build('scores-api', { version: '2', model: 'momentum', warmupMs: '1500' });
    const d = await c.client.createDeployment({ service: 'scores-api', image: v2 });
    const cluster = c;
    await until('a1 activating', async () =>
      (await cluster.client.getDeployment(d.id)).hosts.find(
        (h) => h.hostName === 'a1' && h.state === 'activating',
      ),
    );
    // The new release's process has started (it is warming up) when the agent dies.
    const pidFile = join(c.agentDir('a1'), 'services', 'scores-api', 'shared', 'service.pid');
    // The pid file may still name v1's process, being stopped for v2 (same port): wait for the
    // one that runs in v2's release directory.
    const v2Dir = await realpath(
      join(c.agentDir('a1'), 'services', 'scores-api', 'releases', 'v2'),
    );
    const orphan = await until('the v2 process', async () => {
      const { pid } = JSON.parse(await readFile(pidFile, 'utf8')) as { pid: number };
      return isAlive(pid) && (await readlink(`/proc/${pid}/cwd`)) === v2Dir ? pid : undefined;
    });
    await c.fleet.killAgent('a1');
    expect(isAlive(orphan)).toBe(true);
    c.fleet.startAgent({ name: 'a1', region: 'r1' });
    const final = await c.waitFor(d);
    expect(final.state, final.reason ?? undefined).toBe('succeeded');
    expect(await c.fetchFrom('a1', 'scores-api', '/scores')).toMatchObject({ version: '2' });
    // The v2 process it left warming up is the release to run: taken over, not started again.
    expect(isAlive(orphan)).toBe(true);
    expect(await c.agentLog('a1')).toContain(`took over the running process ${orphan}`);
    const report = (await c.server.hosts.byName('a1'))?.report;
    expect(report?.services.find((s) => s.service === 'scores-api')?.active?.pid).toBe(orphan);
    // Converging did not fetch the image again: the restarted agent received nothing.
    const host = await c.server.hosts.byName('a1');
    expect(host?.bytesReceived.origin ?? 0).toBe(0);
  });
});

describe('a server killed mid-deployment', () => {
  let fleet: LocalFleet | undefined;
  let dir = '';
  afterEach(async () => {
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** An image of an example service with `release` as its release.json. */
  const build = (client: SlipwayClient, service: string, release: Record<string, string>) =>
    buildExample(client, join(dir, 'src', `${service}-${release.version}`), service, release);

  it('carries the deployment on to its end after a restart', async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-crash-'));
    fleet = new LocalFleet(dir);
    await fleet.startServer();
    const names = ['a1', 'a2', 'a3'];
    for (const n of names) fleet.startAgent({ name: n, region: 'r1' });
    await fleet.waitForHosts(names);
    await fleet.client.applyServiceMap(parseYaml(TEST_MAP.replace('batchSize: 2', 'batchSize: 1')));
    const v1 = await build(fleet.client, 'scores-api', { version: '1', model: 'momentum' });
    const first = await fleet.client.createDeployment({ service: 'scores-api', image: v1 });
    const f = fleet;
    // A PGlite server restarted after SIGKILL on a busy machine may take half a minute.
    const waitEnd = (d: DeploymentView) => waitForEnd(f.client, d.id, 120_000);
    const firstEnd = await waitEnd(first);
    expect(firstEnd.state, firstEnd.reason ?? undefined).toBe('succeeded');

    const v2 = await build(fleet.client, 'scores-api', {
      version: '2',
      model: 'momentum',
      warmupMs: '800',
    });
    const d = await fleet.client.createDeployment({ service: 'scores-api', image: v2 });
    await until('the first batch to activate', async () => {
      const now = await f.client.getDeployment(d.id);
      return now.state === 'activating' ? now : undefined;
    });
    await fleet.killServer();
    await fleet.restartServer();
    const final = await waitEnd(d);
    expect(final.state, final.reason ?? undefined).toBe('succeeded');
    expect(final.hosts.map((h) => h.state)).toEqual(['healthy', 'healthy', 'healthy']);
    const rows = await fleet.client.status();
    expect(rows.map((r) => r.active)).toEqual([2, 2, 2]);
  }, 180_000);
});
