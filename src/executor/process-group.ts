/** Identifying and stopping process groups, safely across pid reuse. */
import { readFile, rm, writeFile } from 'node:fs/promises';

/** A process's start time (clock ticks since boot), which tells a reused pid from the original. */
export async function processStartTime(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null; // field 22 overall
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}

/** Sends SIGTERM to a process group, then SIGKILL after `graceMs`; resolves once the leader is gone. */
export async function stopGroup(pgid: number, graceMs: number): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  signalGroup(pgid, 'SIGKILL');
  while (isAlive(pgid) && (await processStartTime(pgid)) !== null) {
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function writePidFile(path: string, pid: number): Promise<void> {
  const startTime = await processStartTime(pid);
  await writeFile(path, JSON.stringify({ pid, startTime }));
}

/**
 * Stops the process group recorded in a pid file by an earlier agent (one SIGKILLed while its
 * service kept running and holding its port). Kills only when pid and start time both match,
 * so a reused pid is never hit. Returns whether something was stopped.
 */
export async function killStaleProcessGroup(pidFile: string, graceMs = 3000): Promise<boolean> {
  let recorded: { pid?: unknown; startTime?: unknown };
  try {
    recorded = JSON.parse(await readFile(pidFile, 'utf8')) as typeof recorded;
  } catch {
    return false;
  }
  await rm(pidFile, { force: true });
  if (typeof recorded.pid !== 'number' || typeof recorded.startTime !== 'string') return false;
  if ((await processStartTime(recorded.pid)) !== recorded.startTime) return false;
  await stopGroup(recorded.pid, graceMs);
  return true;
}
