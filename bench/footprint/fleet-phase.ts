/**
 * The agents' CPU per GiB received against aria2's: runs the fleet harness (bench/fleet) as a
 * child process with `--methods aria2,slipway-cold,slipway-delta --json` and the caller's
 * `--fleet-args`, its progress passed on to stderr, and reads the JSON on its last stdout line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { sleep } from '../../src/core/index.js';
import { REPO_ROOT } from '../fleet/context.js';
import { signalGroup } from '../fleet/proc.js';
import type { FleetJson } from '../fleet/report.js';
import type { FleetFigures } from './report.js';

const METHODS = 'aria2,slipway-cold,slipway-delta';
/** The harness refuses to start while another run holds its lock: wait and retry. */
const LOCK_RETRIES = 5;
const LOCK_WAIT_MS = 60_000;
const LOCKED = /another bench:fleet run \(pid \d+\) is active/;
/** How long the harness may take to tear down (namespaces, processes) after SIGTERM. */
const STOP_GRACE_MS = 120_000;

type Log = (line: string) => void;

/** The harness while it runs: stopped by the teardown, or at once on exit. */
let current: ChildProcess | null = null;

/** SIGTERM to the harness's process group: it tears down its namespaces and processes itself. */
export function signalFleetNow(): void {
  if (current?.pid !== undefined && current.exitCode === null) signalGroup(current.pid, 'SIGTERM');
}

/** Stops a running harness: SIGTERM, then SIGKILL to its group after a grace period. */
export async function stopFleet(): Promise<void> {
  const child = current;
  if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  signalGroup(child.pid, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** One run of the harness: its exit code, stdout, and whether it was refused for the lock. */
async function runOnce(
  args: string[],
  log: Log,
): Promise<{ code: number; stdout: string; locked: boolean }> {
  const argv = ['--import', 'tsx', join(REPO_ROOT, 'bench', 'fleet', 'main.ts'), ...args];
  // A group of its own: a signal for it reaches its children, and Ctrl-C reaches only this
  // bench, which then stops it (it tears down in its own signal handler).
  const child = spawn(process.execPath, argv, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  current = child;
  let stdout = '';
  let stderrTail = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  let partial = '';
  child.stderr.on('data', (d: Buffer) => {
    const text = partial + d.toString();
    const lines = text.split('\n');
    partial = lines.pop()!;
    for (const l of lines) log(`fleet: ${l}`);
    stderrTail = (stderrTail + d.toString()).slice(-4096);
  });
  const code = await new Promise<number>((resolve) => {
    child.once('error', (e) => {
      stderrTail += e.message;
      resolve(127);
    });
    child.once('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  if (partial) log(`fleet: ${partial}`);
  current = null;
  return { code, stdout, locked: LOCKED.test(stderrTail) };
}

/** The last non-empty line of `text`, parsed as the harness's JSON; null when it is not. */
export function parseFleetJson(text: string): FleetJson | null {
  const last = text.trimEnd().split('\n').at(-1) ?? '';
  try {
    const json = JSON.parse(last) as FleetJson;
    return Array.isArray(json?.results) ? json : null;
  } catch {
    return null;
  }
}

/** CPU s/GiB per method, and slipway-cold's over aria2's. */
export function fleetFigures(json: FleetJson): FleetFigures {
  const perGiB = (method: string) =>
    json.results.find((r) => r.method === method)?.host_cpu_s_per_gib ?? null;
  const aria2 = perGiB('aria2');
  const cold = perGiB('slipway-cold');
  return {
    aria2_cpu_s_per_gib: aria2,
    slipway_cold_cpu_s_per_gib: cold,
    slipway_delta_cpu_s_per_gib: perGiB('slipway-delta'),
    cold_vs_aria2: aria2 !== null && cold !== null && aria2 > 0 ? cold / aria2 : null,
  };
}

/**
 * Runs the harness (retrying while another run holds its lock) and reads its figures. A run
 * whose methods partly failed still yields the figures it has (null for the rest).
 */
export async function measureFleet(
  fleetArgs: string[],
  stopping: () => boolean,
  log: Log,
): Promise<{ figures: FleetFigures; failures: string[] }> {
  const args = ['--methods', METHODS, '--json', ...fleetArgs];
  log(`running bench/fleet/main.ts ${args.join(' ')}`);
  for (let attempt = 0; ; attempt++) {
    const { code, stdout, locked } = await runOnce(args, log);
    if (stopping()) throw new Error('stopped');
    if (locked && attempt < LOCK_RETRIES) {
      log(`fleet: another run holds the harness's lock; retrying in ${LOCK_WAIT_MS / 1000} s`);
      await sleep(LOCK_WAIT_MS);
      continue;
    }
    const json = parseFleetJson(stdout);
    if (!json) throw new Error(`bench:fleet exited with code ${code} without its JSON line`);
    const failures = (json.failed ?? []).map((f) => `${f.method}: ${f.error}`);
    if (code !== 0) log(`fleet: exited with code ${code}`);
    return { figures: fleetFigures(json), failures };
  }
}
