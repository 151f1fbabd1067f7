/**
 * An agent killed or stopped, and started again, takes over the service processes it left
 * running: they keep serving throughout, with the same pid, and are supervised again
 * (restarted when they die).
 */
import { readFile, readlink, realpath, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostLayout, stopServicesLeft } from '../src/agent/index.js';
import { isAlive } from '../src/executor/index.js';
import { TestCluster } from './helpers/cluster.js';
import { until } from './helpers/until.js';

/** One GET on a new connection; resolves with the status code, rejects on any failure. */
function request(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
  });
}

/** Requests `path` every ~20 ms until stopped; counts what failed (an error or not a 200). */
function keepRequesting(port: number, path: string) {
  const failures: string[] = [];
  let sent = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      sent++;
      await request(port, path).then(
        (status) => {
          if (status !== 200) failures.push(`HTTP ${status}`);
        },
        (e: unknown) => failures.push((e as Error).message),
      );
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    failures,
    get sent() {
      return sent;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe('an agent killed or stopped, and started again', () => {
  let c: TestCluster | undefined;
  afterEach(async () => {
    await c?.stop();
  });

  async function reported(cluster: TestCluster) {
    const host = await cluster.server.hosts.byName('a1');
    return host?.report?.services.find((s) => s.service === 'scores-api')?.active ?? null;
  }

  /** A cluster of one agent, a1, running scores-api v1; and v1 as a1 reported it healthy. */
  async function runningV1() {
    const cluster = (c = await TestCluster.start([{ name: 'a1', region: 'r1' }]));
    const v1 = await cluster.build('scores-api', { version: '1', model: 'momentum' });
    expect((await cluster.deploy('scores-api', v1)).state).toBe('succeeded');
    const before = await until('v1 reported healthy', async () => {
      const a = await reported(cluster);
      return a?.state === 'healthy' && a.pid !== null && a.port !== null ? a : undefined;
    });
    return { cluster, before };
  }

  /** Starts a1 again; resolves, with the ms it took, once it logs v1 healthy one more time. */
  async function restartUntilHealthy(cluster: TestCluster): Promise<number> {
    const healthyLine = 'scores-api: v1 healthy';
    const healthyBefore = occurrences(await cluster.agentLog('a1'), healthyLine);
    const restartedAt = Date.now();
    cluster.fleet.startAgent({ name: 'a1', region: 'r1' });
    await until(
      'the restarted agent to report v1 healthy',
      async () => occurrences(await cluster.agentLog('a1'), healthyLine) > healthyBefore,
      { timeoutMs: 30_000 },
    );
    return Date.now() - restartedAt;
  }

  it('takes over the running service without restarting it, and supervises it again', async () => {
    const { cluster, before } = await runningV1();
    const pid = before.pid!;
    const port = before.port!;
    const pidFile = join(cluster.agentDir('a1'), 'services', 'scores-api', 'shared', 'service.pid');
    expect(JSON.parse(await readFile(pidFile, 'utf8'))).toMatchObject({ pid });

    // Its output goes straight to the log files, not through the agent: nothing breaks when the
    // agent dies.
    const logs = join(cluster.agentDir('a1'), 'services', 'scores-api', 'shared', 'logs');
    expect(await readlink(`/proc/${pid}/fd/1`)).toBe(await realpath(join(logs, 'stdout.log')));
    expect(await readlink(`/proc/${pid}/fd/2`)).toBe(await realpath(join(logs, 'stderr.log')));

    const load = keepRequesting(port, '/scores');
    await cluster.fleet.killAgent('a1');
    expect(isAlive(pid)).toBe(true);
    // Supervising again: the restarted agent took the process over and its health check passed.
    const supervisingAfterMs = await restartUntilHealthy(cluster);
    const after = await until('the new report', async () => {
      const a = await reported(cluster);
      return a?.state === 'healthy' && a.pid === pid ? a : undefined;
    });
    await until('a few more requests', () => load.sent > 10);
    await load.stop();
    console.log(
      `agent restart to supervising again (reported healthy): ${supervisingAfterMs} ms; ` +
        `${load.sent} requests meanwhile, ${load.failures.length} failed`,
    );
    expect(load.failures).toEqual([]);
    expect(after).toMatchObject({ version: 1, port, pid, state: 'healthy' });
    const log = await cluster.agentLog('a1');
    expect(log).toContain(`took over the running process ${pid}`);
    expect(log).not.toContain('stopped the process a previous agent left running');
    // The deployment machinery saw nothing change.
    const rows = await cluster.client.status();
    expect(rows.map((r) => [r.active, r.port])).toEqual([[1, port]]);
    expect((await cluster.client.listDeployments()).length).toBe(1);

    // Supervised again: the process taken over is restarted when it dies.
    process.kill(pid, 'SIGKILL');
    const restarted = await until('the process to be restarted', async () => {
      const a = await reported(cluster);
      return a?.pid !== pid && a?.pid && isAlive(a.pid) && a.state === 'healthy' ? a : undefined;
    });
    expect(restarted).toMatchObject({ version: 1, port });
    // The report names the new pid as soon as it is started, before it listens: ask until it does.
    await until('the restarted process to answer', () =>
      request(port, '/scores').then(
        (status) => status === 200,
        () => false,
      ),
    );
    expect(JSON.parse(await readFile(pidFile, 'utf8'))).toMatchObject({ pid: restarted.pid });
  });

  it('stops a process left running that does not run the release to run, and starts that one', async () => {
    const { cluster, before } = await runningV1();
    await cluster.fleet.killAgent('a1');
    // The pid file says the process runs another image (a control plane reset reuses versions).
    const pidFile = join(cluster.agentDir('a1'), 'services', 'scores-api', 'shared', 'service.pid');
    const rec = JSON.parse(await readFile(pidFile, 'utf8')) as { about: { imageId: string } };
    rec.about.imageId = 'f'.repeat(64);
    await writeFile(pidFile, JSON.stringify(rec));
    cluster.fleet.startAgent({ name: 'a1', region: 'r1' });
    const after = await until('a new process, healthy', async () => {
      const a = await reported(cluster);
      return a?.state === 'healthy' && a.pid !== null && a.pid !== before.pid ? a : undefined;
    });
    expect(isAlive(before.pid!)).toBe(false);
    expect(after).toMatchObject({ version: 1, port: before.port });
    const log = await cluster.agentLog('a1');
    expect(log).toContain(`not taking over process ${before.pid}: it runs another image of v1`);
    expect(log).toContain('stopped the process a previous agent left running');
  });

  it('an agent stopped cleanly (SIGTERM) leaves its service serving; the next takes it over', async () => {
    const { cluster, before } = await runningV1();
    const pid = before.pid!;
    const load = keepRequesting(before.port!, '/scores');
    await cluster.fleet.stopAgent('a1');
    expect(await cluster.agentLog('a1')).not.toContain('scores-api: stopped');
    expect(isAlive(pid)).toBe(true);
    const sentWhileStopped = load.sent;
    await until('requests served while no agent runs', () => load.sent > sentWhileStopped + 5);
    await restartUntilHealthy(cluster);
    await load.stop();
    expect(load.failures).toEqual([]);
    expect(await cluster.agentLog('a1')).toContain(`took over the running process ${pid}`);
    // The agent logs the health check's result, and reports it a moment later (100 ms).
    const after = await until('the restarted agent to report v1 healthy', async () => {
      const a = await reported(cluster);
      return a?.state === 'healthy' ? a : undefined;
    });
    expect(after).toMatchObject({ version: 1, pid, state: 'healthy' });

    // A host taken out of service: its agent stopped, what it left running is stopped on purpose.
    await cluster.fleet.stopAgent('a1');
    expect(isAlive(pid)).toBe(true);
    const layout = new HostLayout(cluster.agentDir('a1'));
    expect(await stopServicesLeft(layout)).toEqual(['scores-api']);
    expect(isAlive(pid)).toBe(false);
    expect(await stopServicesLeft(layout)).toEqual([]);
  });
});
