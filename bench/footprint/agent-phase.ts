/**
 * One real `slipway agent` process against the server: its resident memory and CPU idle, and
 * its peak memory and CPU while it stages an image of pseudo-random, incompressible bytes (the
 * fleet bench's test image) through a `kind: 'stage'` deployment.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SlipwayClient } from '../../src/api/index.js';
import { buildImage } from '../../src/cli/index.js';
import { isTerminal, sleep } from '../../src/core/index.js';
import { startSlipway, stopProcess, type FleetProcess } from '../../test/harness/local-fleet.js';
import { makeImage, verifyTree } from '../fleet/image.js';
import { formatBytes } from '../fleet/units.js';
import { AGENT_REGION, STAGE_SERVICE } from './catalog.js';
import { childrenNote, cpuSeconds, readMemory, sampleRss, type Memory } from './proc-stats.js';

const AGENT_NAME = 'footprint-agent';
/** The idle window: memory is read at its end, CPU over it. */
export const AGENT_IDLE_S = 15;
/** After the agent is online, before the idle window: its start-up is not idleness. */
const START_SETTLE_MS = 3_000;
const ONLINE_TIMEOUT_MS = 60_000;
const STAGE_TIMEOUT_MS = 15 * 60_000;
const GIB = 1024 ** 3;

type Log = (line: string) => void;

/** Every agent started and not yet stopped: killed at once if this process must exit. */
const running = new Set<FleetProcess>();

/** Kills the agent at once (SIGKILL): for an exit that cannot wait. */
export function killAgentNow(): void {
  for (const p of running) p.child.kill('SIGKILL');
}

/** Stops a running agent (SIGTERM, SIGKILL after a grace period): for the teardown. */
export async function stopAgents(): Promise<void> {
  await Promise.all([...running].map((p) => stopProcess(p)));
}

export interface AgentFigures {
  idle: Memory;
  idleCpuPercent: number;
  stagingPeakMb: number;
  stageHwmMb: number;
  stageCpuS: number;
  stageBytes: number;
  cpuSPerGiB: number;
}

/** What the agent needs of the server. */
export interface AgentServer {
  url: string;
  /** The server's join token file (the agent reads it: on its command line `ps` would show it). */
  joinTokenFile: string;
  admin: SlipwayClient;
  /** Throws when the server has exited. */
  check(): void;
}

/**
 * Starts the agent in `workDir`, measures it idle, writes and builds the stage image (off the
 * clock), stages it and measures that; the agent is stopped at the end, also on failure.
 */
export async function measureAgent(
  server: AgentServer,
  workDir: string,
  stageSize: number,
  log: Log,
): Promise<AgentFigures> {
  const dataDir = join(workDir, 'agent');
  const args = ['agent', '--server', server.url, '--join-token-file', server.joinTokenFile];
  args.push('--name', AGENT_NAME, '--region', AGENT_REGION, '--data-dir', dataDir);
  // Alone in its region: it is the region's relay, fetching from the origin.
  args.push('--peer-listen', '127.0.0.1:0', '--relay');
  const agent = startSlipway(args, join(workDir, 'logs', 'agent.log'));
  running.add(agent);
  const pid = agent.child.pid!;
  const check = () => {
    server.check();
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) {
      // The work directory goes after the run: the agent's last words go into the error.
      const tail = readTail(agent.logFile);
      throw new Error(
        `the agent exited (${agent.child.exitCode ?? agent.child.signalCode})${tail ? `; its log ends:\n${tail}` : ''}`,
      );
    }
  };
  try {
    await waitOnline(server.admin, check);
    log(`agent ${AGENT_NAME} (pid ${pid}) online; idle for ${AGENT_IDLE_S} s`);
    await sleep(START_SETTLE_MS);
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    await sleep(AGENT_IDLE_S * 1000);
    check();
    const cpu1 = cpuSeconds(pid);
    const idle = readMemory(pid);
    if (cpu0 === null || cpu1 === null || !idle) throw new Error(`cannot read /proc/${pid}`);
    const idleCpuPercent = (100 * (cpu1 - cpu0)) / ((performance.now() - t0) / 1000);
    log(
      `agent idle: VmRSS ${idle.rssMb.toFixed(1)} MB, CPU ${idleCpuPercent.toFixed(2)}% of a core`,
    );

    log(`writing and building the ${formatBytes(stageSize)} stage image`);
    const tree = await makeImage(
      join(workDir, 'stage-image'),
      stageSize,
      join(workDir, 'stage.sha256'),
    );
    const built = await buildImage(server.admin, tree.dir, STAGE_SERVICE, [], () => {});
    log(`image ${built.imageId.slice(0, 12)}: ${tree.files.length} files, ${built.chunks} chunks`);
    check();

    const stageCpu0 = cpuSeconds(pid);
    const sampler = sampleRss(pid, 100);
    const started = performance.now();
    const release = await stage(server.admin, built.imageId, check, log).catch((e: unknown) => {
      sampler.stop();
      throw e;
    });
    const samples = sampler.stop();
    const stageCpuS = (cpuSeconds(pid) ?? NaN) - (stageCpu0 ?? NaN);
    const after = readMemory(pid);
    const note = childrenNote(pid, 'the agent');
    if (note) log(note);
    if (samples.peakMb === null || !after || !Number.isFinite(stageCpuS)) {
      throw new Error(`cannot read /proc/${pid} during the stage`);
    }
    log(
      `staged in ${((performance.now() - started) / 1000).toFixed(1)} s: peak VmRSS ` +
        `${samples.peakMb.toFixed(1)} MB (${samples.samples} samples), VmHWM ${after.hwmMb.toFixed(1)} MB, ` +
        `CPU ${stageCpuS.toFixed(2)} s`,
    );
    const problems = await verifyTree(
      join(dataDir, 'services', STAGE_SERVICE, 'releases', `v${release}`),
      tree,
    );
    if (problems.length > 0) {
      throw new Error(
        `the staged release differs from the image: ${problems.slice(0, 3).join('; ')}`,
      );
    }
    return {
      idle,
      idleCpuPercent,
      stagingPeakMb: samples.peakMb,
      stageHwmMb: after.hwmMb,
      stageCpuS,
      stageBytes: tree.bytes,
      cpuSPerGiB: stageCpuS / (tree.bytes / GIB),
    };
  } finally {
    await stopProcess(agent);
    running.delete(agent);
  }
}

/** The last lines of a log, for an error message; '' when there is none. */
function readTail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function waitOnline(admin: SlipwayClient, check: () => void): Promise<void> {
  const deadline = performance.now() + ONLINE_TIMEOUT_MS;
  for (;;) {
    check();
    const hosts = await admin.listHosts({ region: AGENT_REGION }).catch(() => []);
    if (hosts.some((h) => h.name === AGENT_NAME && h.online)) return;
    if (performance.now() > deadline) {
      throw new Error(`the agent was not online after ${ONLINE_TIMEOUT_MS / 1000} s`);
    }
    await sleep(250);
  }
}

/** Stages `imageId` on the agent's region; resolves with the release once it succeeded. */
async function stage(
  admin: SlipwayClient,
  imageId: string,
  check: () => void,
  log: Log,
): Promise<number> {
  const dep = await admin.createDeployment({
    service: STAGE_SERVICE,
    kind: 'stage',
    image: imageId,
  });
  const deadline = performance.now() + STAGE_TIMEOUT_MS;
  let lastLog = performance.now();
  for (;;) {
    check();
    const d = await admin.getDeployment(dep.id);
    if (d.state === 'succeeded') return d.release;
    if (isTerminal(d.state))
      throw new Error(`the stage deployment ended ${d.state}: ${d.reason ?? ''}`);
    if (performance.now() > deadline)
      throw new Error(`the stage took over ${STAGE_TIMEOUT_MS / 1000} s`);
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      const h = d.hosts[0];
      log(`staging: ${formatBytes(h?.bytesDone ?? 0)} of ${formatBytes(h?.bytesTotal ?? 0)}`);
    }
    await sleep(250);
  }
}
