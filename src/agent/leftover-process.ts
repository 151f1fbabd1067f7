/**
 * A service process an earlier agent of this host left running (it was killed, or upgraded):
 * what its pid file records, and whether a restarted agent takes it over or stops it.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import type { GoalRelease } from '../api/index.js';
import {
  isSameProcessAlive,
  readPidFile,
  stopRecordedGroup,
  type PidRecord,
} from '../executor/index.js';
import type { AdoptedProcess } from './activation/hook.js';
import type { HostLayout } from './host-layout.js';
import { PublicPorts } from './public-ports.js';

/** What the pid file records besides the process: the release it runs and its port. */
export function pidFileAbout(release: GoalRelease, port: number | null): PidRecord['about'] {
  return { version: release.version, imageId: release.imageId, port };
}

/**
 * The process the service's pid file records, if it still runs (same pid, same start time: a
 * reused pid is not it). A record of a process that is gone is removed.
 */
export async function findLeftover(layout: HostLayout, service: string): Promise<PidRecord | null> {
  const file = layout.pidFile(service);
  const rec = await readPidFile(file);
  if (rec && (await isSameProcessAlive(rec.pid, rec.startTime))) return rec;
  await rm(file, { force: true });
  return null;
}

/**
 * The leftover process as one to take over for `release`, or why not: it must run that very
 * release (version and image) on the port the release asks for (a fixed one, or the dynamic
 * port this host keeps for the service).
 */
export async function adoptionFor(
  rec: PidRecord,
  release: GoalRelease,
  layout: HostLayout,
  service: string,
): Promise<{ adopt: AdoptedProcess } | { refused: string }> {
  const { version, imageId, port } = rec.about;
  if (version !== release.version) {
    const runs =
      typeof version === 'number' ? `it runs v${version}` : 'its release is not recorded';
    return { refused: runs };
  }
  if (imageId !== release.imageId) return { refused: `it runs another image of v${version}` };
  const wanted = release.config.port;
  if (wanted === 'dynamic') {
    const kept = Number(await readFile(layout.portFile(service), 'utf8').catch(() => ''));
    if (typeof port !== 'number' || port !== kept) return { refused: `it listens on another port` };
  } else if (port !== wanted) {
    return { refused: 'it listens on another port' };
  }
  return { adopt: { pid: rec.pid, startTime: rec.startTime, port } };
}

/**
 * Stops every service process left running in this agent data dir (an agent that stops leaves
 * its services running, for the next one to take over): for a host taken out of service, and
 * for tests and demos that end. Only processes whose pid and start time match their pid file
 * are signalled; a kernel redirect of a service's public port is removed. Resolves with the
 * services stopped.
 */
export async function stopServicesLeft(layout: HostLayout, graceMs = 5_000): Promise<string[]> {
  const stopped: string[] = [];
  const ports = new PublicPorts();
  for (const service of await readdir(layout.services).catch(() => [])) {
    const file = layout.pidFile(service);
    const rec = await readPidFile(file);
    if (rec && (await stopRecordedGroup(rec, graceMs))) stopped.push(service);
    await rm(file, { force: true });
    // Its public port, if the kernel redirected one to it, goes too.
    await ports.close(service);
  }
  return stopped;
}
