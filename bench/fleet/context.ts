/** What every method gets from the harness, what it returns, and how it is measured. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MethodName, Options } from './args.js';
import { cpuPercent, sampleCpu, startProcessCpu } from './cpu.js';
import { readCounters, type Fleet, type Host } from './fleet.js';
import type { Delta, Tree } from './image.js';
import { describeExit, type Processes, type Proc } from './proc.js';

/** The repository's root: node runs tsx and bin/slipway.js from there. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Everything a method needs. */
export interface Context {
  opts: Options;
  fleet: Fleet;
  procs: Processes;
  /** The image, and the same with 1% changed. */
  image: Tree;
  delta: Delta;
  /** Scratch space of this run (torrents, configs, logs). */
  workDir: string;
  /** Progress, to stderr. */
  log: (line: string) => void;
}

/** One method's numbers. */
export interface MethodResult {
  method: MethodName;
  /** Hosts that received the image. */
  hosts: number;
  seconds: number;
  /** Bytes that left the origin: its link's counter, or what the tools report on loopback. */
  originBytes: number | null;
  /** Mean bytes each host received: its link's counter, or what the tools report on loopback. */
  bytesPerHost: number | null;
  /** Percent of all cores busy during the method. */
  cpuPercent: number | null;
  /**
   * CPU seconds the receiving hosts' own processes (agents, BitTorrent clients) used during the
   * method, all hosts together; null where they could not be read (tools that exit first).
   */
  hostCpuSeconds: number | null;
  /** Lines for the text report: what the tools themselves say, caveats. */
  notes: string[];
}

/** The link counters of the origin and some hosts, and the CPU, from a start to a stop. */
export interface Measurement {
  seconds: number;
  cpuPercent: number | null;
  /** Null on loopback. */
  originTx: number | null;
  /** Per measured host, bytes received; null on loopback. */
  hostRx: number[] | null;
  /** CPU seconds of the processes named at `stop`; null when none were. */
  hostCpuSeconds: number | null;
}

/**
 * Starts the clock and the counters; `stop(pids)` reads the differences, with the CPU time of
 * the hosts' processes `pids` (still running: read them before stopping them).
 */
export function startMeasure(
  fleet: Fleet,
  hosts: Host[],
): { stop(hostPids?: number[]): Measurement } {
  const before = readCounters(fleet);
  const cpu = sampleCpu();
  const processCpu = startProcessCpu();
  const t0 = performance.now();
  return {
    stop(hostPids = []) {
      const seconds = (performance.now() - t0) / 1000;
      const cpuNow = sampleCpu();
      const hostCpuSeconds = hostPids.length > 0 ? processCpu.stop(hostPids) : null;
      const after = readCounters(fleet);
      const delta = (name: string, k: 'rx' | 'tx') =>
        (after?.get(name)?.[k] ?? 0) - (before?.get(name)?.[k] ?? 0);
      return {
        seconds,
        cpuPercent: cpuPercent(cpu, cpuNow),
        originTx: after ? delta(fleet.origin.name, 'tx') : null,
        hostRx: after ? hosts.map((h) => delta(h.name, 'rx')) : null,
        hostCpuSeconds,
      };
    },
  };
}

/** The mean of some numbers (null for none). */
export function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The argv that runs one of the harness's TypeScript entry points with node and tsx. */
export function nodeScript(script: string, args: string[]): string[] {
  return [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'bench', 'fleet', script), ...args];
}

/**
 * The argv of the slipway executable. `BENCH_NODE_FLAGS` adds flags for node, e.g.
 * `--cpu-prof --cpu-prof-dir=DIR` to see where a run's CPU goes.
 */
export function slipwayArgv(args: string[]): string[] {
  const flags = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  return [process.execPath, ...flags, join(REPO_ROOT, 'bin', 'slipway.js'), ...args];
}

/** Resolves when `p` exits with status 0; rejects with its output's end otherwise. */
export async function expectSuccess(p: Proc): Promise<void> {
  const e = await p.exited;
  if (e.code !== 0) {
    throw new Error(`${p.name} failed (${describeExit(e)}):\n${p.tail()}\n(log: ${p.logFile})`);
  }
}

/** Rejects as soon as any of `procs` exits: for servers that must outlive a method. */
export function failOnExit(procs: Proc[]): { promise: Promise<never>; cancel(): void } {
  let cancelled = false;
  const promise = new Promise<never>((_, reject) => {
    for (const p of procs) {
      void p.exited.then((e) => {
        if (!cancelled) {
          reject(
            new Error(
              `${p.name} exited early (${describeExit(e)}):\n${p.tail()}\n(log: ${p.logFile})`,
            ),
          );
        }
      });
    }
  });
  // The caller may never await it when all goes well.
  promise.catch(() => {});
  return { promise, cancel: () => (cancelled = true) };
}
