/**
 * One process's memory and CPU from /proc: resident memory now and at its peak (VmRSS, VmHWM
 * of /proc/PID/status), CPU seconds (utime + stime of /proc/PID/stat, through the fan-out
 * bench's sampler), and a sampler that reads VmRSS every 100 ms for a peak over a stretch.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { sampleProcess } from '../fanout/measure.js';

const MIB = 1024 * 1024;

/** Resident memory of one process, in MiB (what the report calls MB). */
export interface Memory {
  rssMb: number;
  /** The peak since the process started (VmHWM). */
  hwmMb: number;
}

/** VmRSS and VmHWM of `pid`; null when it is gone. */
export function readMemory(pid: number): Memory | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  // `VmRSS:     123456 kB`
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1]);
  const rss = kb('VmRSS');
  const hwm = kb('VmHWM');
  if (!Number.isFinite(rss) || !Number.isFinite(hwm)) return null;
  return { rssMb: (rss * 1024) / MIB, hwmMb: (hwm * 1024) / MIB };
}

/** CPU seconds (user + system, all its threads) `pid` has used; null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  return sampleProcess(pid)?.cpuS ?? null;
}

/**
 * Processes whose parent is `pid`, with their VmRSS: a figure for one process leaves them
 * out, and the report says so when there are any.
 */
export function childrenOf(pid: number): { pid: number; rssMb: number | null }[] {
  const out: { pid: number; rssMb: number | null }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The 4th field, counted after the command name's closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid)
        out.push({ pid: Number(name), rssMb: readMemory(Number(name))?.rssMb ?? null });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A note for the log when `pid` has children its own figure leaves out; null when none. */
export function childrenNote(pid: number, what: string): string | null {
  const kids = childrenOf(pid);
  if (kids.length === 0) return null;
  const list = kids.map((k) => `${k.pid} (${k.rssMb?.toFixed(1) ?? '?'} MB)`).join(', ');
  return `note: ${what} had child processes, not counted in its figure: ${list}`;
}

/** Reads VmRSS of a process every `everyMs` until stopped. */
export interface RssSampler {
  /** Stops sampling; the highest VmRSS seen (MiB) and how many samples were read. */
  stop(): { peakMb: number | null; samples: number };
}

export function sampleRss(pid: number, everyMs = 100): RssSampler {
  let peak: number | null = null;
  let samples = 0;
  const read = () => {
    const m = readMemory(pid);
    if (!m) return;
    samples++;
    peak = Math.max(peak ?? 0, m.rssMb);
  };
  read();
  const timer = setInterval(read, everyMs);
  return {
    stop() {
      clearInterval(timer);
      read();
      return { peakMb: peak, samples };
    },
  };
}
