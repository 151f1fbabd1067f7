/** The harness's report: a table for people, one JSON object (last) for programs. */
import type { Options } from './args.js';
import type { MethodResult } from './context.js';
import { formatBytes, formatRate } from './units.js';

/** Above this share of all cores busy, the CPUs and not the links may have set the pace. */
export const CPU_WARNING_PERCENT = 85;

/** The JSON the harness prints last with `--json` (and bench:model --compare reads). */
export interface FleetJson {
  limit_s: number;
  hosts: number;
  regions: number;
  size_bytes: number;
  rate_bps: number;
  origin_rate_bps: number;
  loopback: boolean;
  changed_bytes: number;
  /** Methods that did not finish, with why (present only when some failed). */
  failed?: { method: string; error: string }[];
  results: {
    method: string;
    hosts: number;
    seconds: number;
    ratio: number;
    origin_bytes: number | null;
    bytes_per_host: number | null;
    cpu_percent: number | null;
    /** CPU seconds of the hosts' own processes, all hosts together. */
    host_cpu_s: number | null;
    /** host_cpu_s per GiB the hosts received between them. */
    host_cpu_s_per_gib: number | null;
  }[];
}

/** The time the image takes through one host's link: the floor for every host having it. */
export function limitSeconds(opts: Options): number {
  return opts.size / (opts.rate / 8);
}

const GIB = 1024 ** 3;

/** The hosts' CPU seconds per GiB they received, or null. */
export function cpuPerGiB(r: MethodResult): number | null {
  if (r.hostCpuSeconds === null || r.bytesPerHost === null || r.bytesPerHost <= 0) return null;
  return r.hostCpuSeconds / ((r.bytesPerHost * r.hosts) / GIB);
}

const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

/** The warning for a method that kept the CPUs too busy, or null. */
export function cpuWarning(r: MethodResult): string | null {
  if (r.cpuPercent === null || r.cpuPercent <= CPU_WARNING_PERCENT) return null;
  return (
    `warning: ${r.method} kept the CPUs ${r.cpuPercent.toFixed(0)}% busy: the machine, not ` +
    `the network, may have set its pace, so its ratio to the physical limit means little`
  );
}

/** The human-readable report. */
export function textReport(
  opts: Options,
  results: MethodResult[],
  changedBytes: number,
  header: string[],
  failures: { method: string; error: string }[],
): string {
  const limit = limitSeconds(opts);
  const lines = [...header];
  lines.push(
    `physical limit: ${formatBytes(opts.size)} through a ${formatRate(opts.rate)} link = ` +
      `${limit.toFixed(1)} s; the 1% update changes ${formatBytes(changedBytes)}`,
  );
  if (results.some((r) => r.method === 'slipway-cold')) {
    const originBound = (opts.regions * opts.size) / (opts.originRate / 8);
    lines.push(
      `origin bound of one copy per region (how Slipway feeds regions): ${opts.regions} × ` +
        `${formatBytes(opts.size)} through a ${formatRate(opts.originRate)} link = ` +
        `${originBound.toFixed(1)} s`,
    );
  }
  lines.push(
    opts.loopback
      ? 'bytes: as the tools report them (payload; no links to count on loopback)'
      : 'bytes: counted on the links by the kernel (GRO merges most TCP/IP headers: ~payload + 0.5%)',
  );
  lines.push('');
  lines.push(
    [
      pad('method', 14),
      lpad('hosts', 5),
      lpad('time', 10),
      lpad('× limit', 8),
      lpad('origin sent', 22),
      lpad('per host', 12),
      lpad('CPU', 6),
      lpad('host CPU', 9),
      lpad('CPU s/GiB', 9),
    ].join('  '),
  );
  for (const r of results) {
    const origin =
      r.originBytes === null
        ? '?'
        : `${formatBytes(r.originBytes)} (${(r.originBytes / opts.size).toFixed(2)}×)`;
    lines.push(
      [
        pad(r.method, 14),
        lpad(String(r.hosts), 5),
        lpad(`${r.seconds.toFixed(1)} s`, 10),
        lpad((r.seconds / limit).toFixed(2), 8),
        lpad(origin, 22),
        lpad(r.bytesPerHost === null ? '?' : formatBytes(r.bytesPerHost), 12),
        lpad(r.cpuPercent === null ? '?' : `${r.cpuPercent.toFixed(0)}%`, 6),
        lpad(r.hostCpuSeconds === null ? '-' : `${r.hostCpuSeconds.toFixed(1)} s`, 9),
        lpad(cpuPerGiB(r)?.toFixed(1) ?? '-', 9),
      ].join('  '),
    );
  }
  lines.push(
    "host CPU: CPU time of the hosts' own processes (agents, aria2c) during the method, all " +
      'hosts together; CPU s/GiB: that per GiB the hosts received',
  );
  lines.push('');
  for (const r of results) {
    for (const n of r.notes) lines.push(`${r.method}: ${n}`);
    const w = cpuWarning(r);
    if (w) lines.push(w);
  }
  for (const f of failures) lines.push(`${f.method} FAILED: ${f.error}`);
  return lines.join('\n');
}

/** The JSON object. */
export function jsonReport(
  opts: Options,
  results: MethodResult[],
  changedBytes: number,
  failures: { method: string; error: string }[],
): FleetJson {
  const limit = limitSeconds(opts);
  const round = (x: number | null, digits: number) =>
    x === null ? null : Math.round(x * 10 ** digits) / 10 ** digits;
  return {
    limit_s: round(limit, 3)!,
    hosts: opts.hosts,
    regions: opts.regions,
    size_bytes: opts.size,
    rate_bps: opts.rate,
    origin_rate_bps: opts.originRate,
    loopback: opts.loopback,
    changed_bytes: changedBytes,
    ...(failures.length > 0 ? { failed: failures } : {}),
    results: results.map((r) => ({
      method: r.method,
      hosts: r.hosts,
      seconds: round(r.seconds, 3)!,
      ratio: round(r.seconds / limit, 3)!,
      origin_bytes: round(r.originBytes, 0),
      bytes_per_host: round(r.bytesPerHost, 0),
      cpu_percent: round(r.cpuPercent, 1),
      host_cpu_s: round(r.hostCpuSeconds, 2),
      host_cpu_s_per_gib: round(cpuPerGiB(r), 2),
    })),
  };
}
