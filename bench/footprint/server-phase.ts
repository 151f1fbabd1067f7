/**
 * The server's resident memory: idle a while after it started (embedded store or PostgreSQL),
 * and with the fan-out bench's simulated agents enrolled and long-polling and the catalog's
 * images and releases in its store.
 */
import type { SlipwayClient } from '../../src/api/index.js';
import { sleep } from '../../src/core/index.js';
import type { Servers } from '../fanout/servers.js';
import { SimThreads } from '../fanout/sim-threads.js';
import { buildImages, makeReleases, planCatalog, serviceMap } from './catalog.js';
import { childrenNote, readMemory, type Memory } from './proc-stats.js';

/** How long the server sits idle after its start before it is read. */
export const IDLE_S = 20;
/** How long the simulated agents long-poll (and report) before the server is read. */
const POLLING_S = 20;
/** How long the agents may take to send their first reports. */
const SETTLE_MS = 30_000;
/** Threads and enrollments in flight, as bench:fanout's defaults. */
const SIM_THREADS = 2;
const ENROLL_CONCURRENCY = 50;

type Log = (line: string) => void;

/** Stops the run if the server fell over: the figures after that would measure nothing. */
export function checkServer(servers: Servers): void {
  const exited = servers.exited();
  if (exited.length > 0) throw new Error(`the server exited during the run (${exited.join('; ')})`);
}

/** Sleeps `ms`, checking every second that the server still runs. */
export async function watchfulSleep(servers: Servers, ms: number): Promise<void> {
  const end = performance.now() + ms;
  for (let left = ms; left > 0; left = end - performance.now()) {
    await sleep(Math.min(1_000, left));
    checkServer(servers);
  }
}

/** The server's memory `IDLE_S` seconds after it started listening. */
export async function measureIdle(servers: Servers, what: string, log: Log): Promise<Memory> {
  log(`${what}: idle for ${IDLE_S} s`);
  await watchfulSleep(servers, IDLE_S * 1000);
  return readServer(servers, what, log);
}

function readServer(servers: Servers, what: string, log: Log): Memory {
  const pid = servers.pids[0]!;
  const m = readMemory(pid);
  if (!m) throw new Error(`${what}: cannot read /proc/${pid}/status`);
  const note = childrenNote(pid, what);
  if (note) log(note);
  log(`${what}: VmRSS ${m.rssMb.toFixed(1)} MB, VmHWM ${m.hwmMb.toFixed(1)} MB`);
  return m;
}

/** What the server held when it was read at scale. */
export interface AtScale {
  memory: Memory;
  images: number;
  releases: number;
  unsuccessful: number;
}

/**
 * Enrolls `agents` simulated agents, registers the images and makes the releases, lets the
 * agents long-poll for `POLLING_S` seconds and reads the server; the agents stop at the end
 * (also on failure).
 */
export async function measureAtScale(
  servers: Servers,
  admin: SlipwayClient,
  o: { agents: number; images: number; releases: number },
  log: Log,
): Promise<AtScale> {
  const plan = planCatalog(o.agents, o.images, o.releases);
  await admin.applyServiceMap(serviceMap(plan));
  const sims = SimThreads.start(o.agents, SIM_THREADS, {
    regions: plan.simRegions,
    servers: servers.urls,
    joinToken: servers.joinToken,
  });
  try {
    log(
      `enrolling ${o.agents} simulated agents (bench/fanout) in ${plan.simRegions} regions, ` +
        `${ENROLL_CONCURRENCY} at a time`,
    );
    const enrollS = await sims.enroll(ENROLL_CONCURRENCY);
    log(`enrolled in ${enrollS.toFixed(1)} s; starting their long polls and reports`);
    await sims.run();
    checkServer(servers);

    let t0 = performance.now();
    const images = await buildImages(admin, plan, log);
    const imageCount = [...images.values()].reduce((n, ids) => n + ids.length, 0);
    log(`${imageCount} images over ${plan.services.length} services in ${since(t0)} s`);
    checkServer(servers);

    t0 = performance.now();
    log(`making ${o.releases} releases, each by a stage deployment (one at a time per service)`);
    const made = await makeReleases(admin, plan, images, log);
    log(
      `${made.made} releases in ${since(t0)} s` +
        (made.unsuccessful > 0 ? ` (${made.unsuccessful} deployments did not succeed)` : ''),
    );
    checkServer(servers);

    const settleEnd = performance.now() + SETTLE_MS;
    while ((await sims.unreported()) > 0 && performance.now() < settleEnd) await sleep(200);
    const unreported = await sims.unreported();
    if (unreported > 0) log(`${unreported} agents have not reported yet; measuring anyway`);
    log(`agents long-polling for ${POLLING_S} s`);
    await watchfulSleep(servers, POLLING_S * 1000);
    const memory = readServer(servers, `server with ${o.agents} agents`, log);
    const c = await sims.counters();
    log(
      `agents: ${c.reports} reports, ${c.reportErrors} failed reports, ${c.goalErrors} failed long polls`,
    );
    for (const [message, n] of c.commonest) log(`  ${n} × ${message}`);
    return { memory, images: imageCount, releases: made.made, unsuccessful: made.unsuccessful };
  } finally {
    await sims.stop();
  }
}

const since = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);
