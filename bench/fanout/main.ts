/**
 * Control-plane fan-out benchmark: N simulated agents (the real agent protocol through the
 * agent's own client, on a few threads of this process) against real `slipway server`
 * processes. Measures enrolling them all, the server's idle CPU and memory with all of them
 * long-polling and reporting, and how long one deployment's goal takes to reach every agent,
 * with the latency of /healthz and GET /v1/hosts meanwhile. See USAGE in args.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlipwayClient } from '../../src/api/index.js';
import { sleep } from '../../src/core/index.js';
import { parseOptions, USAGE, UsageError, type Options } from './args.js';
import { buildTinyImage, SERVICE, serviceMap } from './deploy.js';
import { ensureDescriptors } from './limits.js';
import {
  cpuPercentOfCore,
  percentile,
  sampleProcess,
  startProbe,
  watchLoopDelay,
} from './measure.js';
import { emptyResult, rounded, summaryLines, type Result } from './report.js';
import { killServersNow, startServers, type Servers } from './servers.js';
import { SimThreads } from './sim-threads.js';

const PROBE_EVERY_MS = 200;
/** How long the agents may take to send their first reports before idle CPU is sampled. */
const SETTLE_MS = 30_000;

const log = (line: string) => process.stderr.write(`${line}\n`);
const seconds = (fromMs: number) => (performance.now() - fromMs) / 1000;

/** Stops the run if a server fell over: the figures after that would measure nothing. */
function checkServers(servers: Servers): void {
  const exited = servers.exited();
  if (exited.length > 0) throw new Error(`a server exited during the run (${exited.join('; ')})`);
}

/** Resolves once `done()` holds, or after `timeoutMs`; false on timeout. */
async function waitFor(
  done: () => Promise<boolean>,
  timeoutMs: number,
  servers: Servers,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!(await done())) {
    checkServers(servers);
    if (performance.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Idle CPU and RSS of the servers, with every agent long-polling and reporting. */
async function measureIdle(o: Options, servers: Servers, result: Result): Promise<void> {
  const before = servers.pids.map(sampleProcess);
  const start = performance.now();
  await sleep(o.idleS * 1000);
  const after = servers.pids.map(sampleProcess);
  checkServers(servers);
  result.idle_cpu_percent = cpuPercentOfCore(before, after, seconds(start));
  result.rss_mb = after.reduce((sum, s) => sum + (s?.rssBytes ?? 0), 0) / 2 ** 20;
}

/** Creates the deployment and times its goal's arrival at every agent, probing the API meanwhile. */
async function measureFanout(
  o: Options,
  servers: Servers,
  admin: SlipwayClient,
  imageId: string,
  sims: SimThreads,
  result: Result,
): Promise<string> {
  const timeoutMs = o.timeoutS * 1000;
  const url = servers.urls[0]!;
  const loop = watchLoopDelay();
  const healthz = await startProbe(`${url}/healthz`, {}, PROBE_EVERY_MS, timeoutMs);
  const hosts = await startProbe(
    `${url}/v1/hosts`,
    { authorization: `Bearer ${servers.adminToken}` },
    PROBE_EVERY_MS,
    timeoutMs,
  );
  const lost = (latencies: number[]) => latencies.filter((l) => l >= timeoutMs).length;
  const t0 = performance.now();
  const t0Epoch = performance.timeOrigin + t0;
  let release = -1;
  let complete = false;
  let deploymentId = '';
  try {
    const dep = await admin.createDeployment({ service: SERVICE, image: imageId });
    release = dep.release;
    deploymentId = dep.id;
    log(
      `deployment ${dep.id.slice(0, 12)} of release ${release} created in ${seconds(t0).toFixed(2)} s`,
    );
    const remaining = timeoutMs - (performance.now() - t0);
    complete = await waitFor(
      async () => (await sims.waiting(SERVICE, release)) === 0,
      remaining,
      servers,
    );
  } finally {
    const [h, v] = await Promise.all([healthz.stop(), hosts.stop()]);
    result.healthz_p99_ms = percentile(h, 0.99);
    result.hosts_p99_ms = percentile(v, 0.99);
    log(
      `probes: ${h.length} /healthz (${lost(h)} unanswered or failed), ${v.length} GET /v1/hosts (${lost(v)} unanswered or failed); bench event-loop delay p99 ${loop.p99Ms().toFixed(1)} ms`,
    );
  }
  const got = await sims.arrivals(SERVICE, release);
  // An agent the goal did not reach within the timeout counts as the timeout (the probes' last
  // answers are awaited after it, and goals may still arrive meanwhile).
  const delays = got.map((t) =>
    t === null ? o.timeoutS : Math.min(o.timeoutS, Math.max(0, (t - t0Epoch) / 1000)),
  );
  result.fanout_p50_s = percentile(delays, 0.5);
  result.fanout_p99_s = percentile(delays, 0.99);
  result.fanout_max_s = percentile(delays, 1);
  const missed = delays.filter((d) => d >= o.timeoutS).length;
  if (!complete)
    log(
      `fan-out timed out after ${o.timeoutS} s: ${missed} of ${got.length} agents did not get the goal within it`,
    );
  return deploymentId;
}

/** Waits a little for the deployment to end, to show the simulated agents move it along. */
async function reportDeployment(admin: SlipwayClient, id: string, boundMs: number): Promise<void> {
  const start = performance.now();
  for (;;) {
    const d = await admin.getDeployment(id).catch(() => null);
    const terminal = d && !['staging', 'activating', 'rolling_back'].includes(d.state);
    if (terminal || performance.now() - start > boundMs) {
      const states = new Map<string, number>();
      for (const h of d?.hosts ?? []) states.set(h.state, (states.get(h.state) ?? 0) + 1);
      const counts = [...states].map(([s, n]) => `${n} ${s}`).join(', ');
      log(
        `deployment ${d?.state ?? 'unknown'} ${seconds(start).toFixed(1)} s after the fan-out (hosts: ${counts || 'none'})${d?.reason ? `: ${d.reason}` : ''}`,
      );
      return;
    }
    await sleep(500);
  }
}

async function run(o: Options, workDir: string, result: Result): Promise<void> {
  log(
    `starting ${o.replicas} server(s) (${o.databaseUrl ? 'PostgreSQL' : 'embedded store'}) in ${workDir}`,
  );
  const servers = await startServers(workDir, o.replicas, o.databaseUrl);
  let sims: SimThreads | null = null;
  try {
    const admin = new SlipwayClient({ server: servers.urls[0]!, token: servers.adminToken });
    await admin.applyServiceMap(serviceMap(o.regions));
    const imageId = await buildTinyImage(admin);
    log(`servers at ${servers.urls.join(', ')}; image ${imageId.slice(0, 12)}`);

    sims = SimThreads.start(o.agents, o.simThreads, {
      regions: o.regions,
      servers: servers.urls,
      joinToken: servers.joinToken,
    });
    log(
      `enrolling ${o.agents} agents on ${o.simThreads} thread(s), ${o.enrollConcurrency} at a time`,
    );
    result.enroll_s = await sims.enroll(o.enrollConcurrency);
    log(`enrolled in ${result.enroll_s.toFixed(2)} s`);

    await sims.run();
    const fleet = sims; // for the closure: `sims` itself may change
    const settled = await waitFor(async () => (await fleet.unreported()) === 0, SETTLE_MS, servers);
    if (!settled) log(`not every agent reported within ${SETTLE_MS / 1000} s; measuring anyway`);
    await sleep(2_000);
    log(`sampling idle server CPU for ${o.idleS} s`);
    await measureIdle(o, servers, result);

    const id = await measureFanout(o, servers, admin, imageId, sims, result);
    if (id) await reportDeployment(admin, id, 15_000);
    const c = await sims.counters();
    log(
      `agents: ${c.reports} reports, ${c.reportErrors} failed reports, ${c.goalErrors} failed long polls`,
    );
    for (const [message, n] of c.commonest) log(`  ${n} × ${message}`);
  } finally {
    await sims?.stop();
    log(`stopping the server(s); logs: ${servers.logFiles.join(', ')}`);
    await servers.stop();
  }
}

async function main(): Promise<number> {
  let o: Options | null;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    log(`${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (!o) {
    log(USAGE);
    return 0;
  }
  const reran = await ensureDescriptors(o.agents);
  if (reran !== null) return reran;

  const workDir = await mkdtemp(join(tmpdir(), 'slipway-fanout-'));
  const cleanUp = () =>
    o.keep ? Promise.resolve() : rm(workDir, { recursive: true, force: true });
  // Whatever happens, no server outlives the bench.
  process.on('exit', killServersNow);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping`);
      killServersNow();
      void cleanUp().finally(() => process.exit(130));
    });
  }
  const result = emptyResult(o.agents, o.replicas);
  let code = 0;
  try {
    await run(o, workDir, result);
  } catch (e) {
    log(`benchmark stopped: ${(e as Error).message}`);
    code = 1;
  } finally {
    await cleanUp();
  }
  for (const line of summaryLines(result)) console.log(line);
  if (o.json) console.log(JSON.stringify(rounded(result)));
  return code;
}

process.exit(await main());
