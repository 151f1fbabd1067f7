/** Identifying and stopping process groups, safely across pid reuse. */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';

/** The fields of /proc/<pid>/stat from the third (the state) on; null when there is no such process. */
async function statFields(pid: number): Promise<string[] | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** A process's start time (clock ticks since boot), which tells a reused pid from the original. */
export async function processStartTime(pid: number): Promise<string | null> {
  return (await statFields(pid))?.[19] ?? null; // field 22 overall
}

/**
 * Whether the process `pid` that started at `startTime` still runs: not gone, not a zombie,
 * and not another process that was given the same pid since.
 */
export async function isSameProcessAlive(pid: number, startTime: string): Promise<boolean> {
  const fields = await statFields(pid);
  return fields !== null && fields[19] === startTime && fields[0] !== 'Z';
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

/** What a pid file holds: the process, and what its writer said it runs. */
export interface PidRecord {
  pid: number;
  startTime: string;
  /** What the process runs (a release, a port), for a later reader to compare. */
  about: Record<string, string | number | null>;
}

/** A pid file is a few dozen bytes: a larger one is not ours. */
const MAX_PID_FILE_BYTES = 4096;

/**
 * Records `pid`, its start time and `about` in `path`. Written beside and renamed over, so a
 * reader (an agent started after this one was killed) never sees half a record.
 */
export async function writePidFile(
  path: string,
  pid: number,
  about: PidRecord['about'] = {},
): Promise<void> {
  const startTime = await processStartTime(pid);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify({ pid, startTime, about }));
  await rename(tmp, path);
}

/** The record in a pid file; null when there is none, or it is not one this code wrote. */
export async function readPidFile(path: string): Promise<PidRecord | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  if (text.length > MAX_PID_FILE_BYTES) return null;
  let r: { pid?: unknown; startTime?: unknown; about?: unknown };
  try {
    r = JSON.parse(text) as typeof r;
  } catch {
    return null;
  }
  if (!Number.isInteger(r.pid) || (r.pid as number) <= 1 || typeof r.startTime !== 'string') {
    return null;
  }
  const about: PidRecord['about'] = {};
  if (typeof r.about === 'object' && r.about !== null) {
    for (const [k, v] of Object.entries(r.about as Record<string, unknown>)) {
      if (typeof v === 'string' || typeof v === 'number' || v === null) about[k] = v;
    }
  }
  return { pid: r.pid as number, startTime: r.startTime, about };
}

/**
 * Stops the process group of a recorded process, only if that process still runs (pid and
 * start time match: a reused pid is never hit). Returns whether something was stopped.
 */
export async function stopRecordedGroup(rec: PidRecord, graceMs: number): Promise<boolean> {
  if (!(await isSameProcessAlive(rec.pid, rec.startTime))) return false;
  await stopGroup(rec.pid, graceMs);
  return true;
}

/**
 * Stops the process group recorded in a pid file by an earlier agent (one SIGKILLed while its
 * service kept running and holding its port). Kills only when pid and start time both match,
 * so a reused pid is never hit. Returns whether something was stopped.
 */
export async function killStaleProcessGroup(pidFile: string, graceMs = 3000): Promise<boolean> {
  const recorded = await readPidFile(pidFile);
  await rm(pidFile, { force: true });
  return recorded !== null && (await stopRecordedGroup(recorded, graceMs));
}

/** The most of a process's environment read back (Linux caps it near this anyway). */
const MAX_ENVIRON_BYTES = 1024 * 1024;

/**
 * The environment process `pid` was started with (/proc/<pid>/environ); null when it cannot be
 * read (gone, another user's) or is larger than MAX_ENVIRON_BYTES.
 */
export async function processEnvironment(pid: number): Promise<Record<string, string> | null> {
  let raw: string;
  try {
    raw = await readFile(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return null;
  }
  if (raw.length > MAX_ENVIRON_BYTES) return null;
  const env: Record<string, string> = {};
  for (const entry of raw.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}
