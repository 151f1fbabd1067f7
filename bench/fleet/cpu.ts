/** Machine-wide CPU use from /proc/stat: every process counts, the kernel's network work too. */
import { readdirSync, readFileSync } from 'node:fs';
import { sampleProcess } from '../fanout/measure.js';

/** Cumulative jiffies of all cores since boot. */
export interface CpuSample {
  busy: number;
  total: number;
}

/** Reads the aggregate `cpu` line; null where there is no /proc/stat. */
export function sampleCpu(): CpuSample | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  // Waiting for the disk is idle time as far as the CPU's capacity is concerned.
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** Percent of all cores' capacity that was busy between two samples. */
export function cpuPercent(a: CpuSample | null, b: CpuSample | null): number | null {
  if (!a || !b || b.total <= a.total) return null;
  return (100 * (b.busy - a.busy)) / (b.total - a.total);
}

/** CPU seconds (user + system, all threads) a process has used; null when it is gone. */
export function processCpuSeconds(pid: number): number | null {
  return sampleProcess(pid)?.cpuS ?? null;
}

/**
 * The CPU seconds some processes use from now to `stop()`: processes that start meanwhile count
 * from zero. Read them before they exit: a process that is gone has stopped counting.
 */
export function startProcessCpu(): { stop(pids: number[]): number } {
  const before = new Map<number, number>();
  // Every process now: a pid asked about at the end is then compared with its own start.
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = processCpuSeconds(Number(name));
    if (s !== null) before.set(Number(name), s);
  }
  return {
    stop(pids) {
      let sum = 0;
      for (const pid of pids) {
        const now = processCpuSeconds(pid);
        if (now !== null) sum += now - (before.get(pid) ?? 0);
      }
      return sum;
    },
  };
}
