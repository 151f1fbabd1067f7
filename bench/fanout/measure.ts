/** Measurements: percentiles, a process's CPU and memory from /proc, and request latency probes. */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { sleep } from '../../src/core/index.js';
import { tsWorker } from './ts-worker.js';

/** The `q` quantile (0..1) of `values` by the nearest-rank method; null when there are none. */
export function percentile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux Node runs on). */
const TICKS_PER_S = 100;

/** CPU time (s) and resident memory (bytes) of one process; null when it is gone. */
export interface ProcSample {
  cpuS: number;
  rssBytes: number;
}

/** Reads /proc/<pid>/stat (utime+stime) and /proc/<pid>/statm (resident pages). */
export function sampleProcess(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (2nd field) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
    const pageSize = 4096;
    return { cpuS: (utime + stime) / TICKS_PER_S, rssBytes: Number(statm[1]) * pageSize };
  } catch {
    return null;
  }
}

/** Sum over processes of CPU use between two samples, in % of one core. */
export function cpuPercentOfCore(
  before: readonly (ProcSample | null)[],
  after: readonly (ProcSample | null)[],
  seconds: number,
): number | null {
  let cpu = 0;
  for (let i = 0; i < before.length; i++) {
    const a = before[i];
    const b = after[i];
    if (!a || !b) return null;
    cpu += b.cpuS - a.cpuS;
  }
  return (100 * cpu) / seconds;
}

/** How long requests in flight when a probe stops may still take to answer. */
const STOP_GRACE_MS = 5_000;

/** Latencies of requests sent at a fixed interval, whatever became of the ones before. */
export interface Probe {
  /**
   * Stops sending; requests unanswered a few seconds later count as `timeoutMs`. Resolves with
   * every latency (ms).
   */
  stop(): Promise<number[]>;
}

/** What a probe sends, and how often. */
export interface ProbeSpec {
  url: string;
  headers: Record<string, string>;
  everyMs: number;
  timeoutMs: number;
}

/**
 * Runs {@link probeLoop} on a thread of its own: the simulated agents keep this process's event
 * loop busy (a second behind at 1,000 agents), and a probe on it would time that, not the server.
 * Resolves once the thread is up: starting one (loading its code) takes half a second of a core,
 * which must not be taken from the server while the measurement runs.
 */
export async function startProbe(
  url: string,
  headers: Record<string, string>,
  everyMs: number,
  timeoutMs: number,
): Promise<Probe> {
  const spec: ProbeSpec = { url, headers, everyMs, timeoutMs };
  const worker = tsWorker(new URL('./probe-worker.ts', import.meta.url), spec);
  const ended = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the probe's thread exited with code ${code}`)));
  });
  const message = <T>() =>
    Promise.race([new Promise<T>((resolve) => worker.once('message', resolve)), ended]);
  await message<'ready'>();
  return {
    async stop() {
      const result = message<number[]>();
      worker.postMessage('stop');
      const latencies = await result;
      await worker.terminate();
      return latencies;
    },
  };
}

/**
 * Sends GET `url` every `everyMs` on its own keep-alive agent (apart from the agents' sockets),
 * recording each answer's latency; a failed or unanswered request counts as `timeoutMs`.
 */
export function probeLoop(
  url: string,
  headers: Record<string, string>,
  everyMs: number,
  timeoutMs: number,
): Probe {
  // One socket per request in flight: a slow answer must not delay the next probe's start.
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.ceil(timeoutMs / everyMs) + 1 });
  const latencies: number[] = [];
  const pending = new Set<http.ClientRequest>();
  const once = () => {
    const start = performance.now();
    const req = http.get(url, { agent, headers, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => {
        pending.delete(req);
        latencies.push(res.statusCode === 200 ? performance.now() - start : timeoutMs);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', () => {
      if (pending.delete(req)) latencies.push(timeoutMs);
    });
    pending.add(req);
  };
  once();
  const timer = setInterval(once, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      // The last requests were only just sent: they get a moment to answer before counting as lost.
      const deadline = performance.now() + Math.min(timeoutMs, STOP_GRACE_MS);
      while (pending.size > 0 && performance.now() < deadline) await sleep(20);
      for (const req of pending) {
        latencies.push(timeoutMs);
        req.destroy();
      }
      pending.clear();
      agent.destroy();
      return latencies;
    },
  };
}

/** This process's event-loop delay: how far the simulated agents' own clock fell behind. */
export function watchLoopDelay(): { p99Ms(): number; reset(): void } {
  const h = monitorEventLoopDelay({ resolution: 20 });
  h.enable();
  return {
    p99Ms: () => h.percentile(99) / 1e6,
    reset: () => h.reset(),
  };
}
