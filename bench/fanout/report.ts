/** What a run prints: lines for people, and one JSON object last for scripts. */

/** The figures of one run (null: not measured, e.g. the server fell over first). */
export interface Result {
  agents: number;
  replicas: number;
  enroll_s: number | null;
  idle_cpu_percent: number | null;
  rss_mb: number | null;
  fanout_p50_s: number | null;
  fanout_p99_s: number | null;
  fanout_max_s: number | null;
  healthz_p99_ms: number | null;
  hosts_p99_ms: number | null;
}

export function emptyResult(agents: number, replicas: number): Result {
  return {
    agents,
    replicas,
    enroll_s: null,
    idle_cpu_percent: null,
    rss_mb: null,
    fanout_p50_s: null,
    fanout_p99_s: null,
    fanout_max_s: null,
    healthz_p99_ms: null,
    hosts_p99_ms: null,
  };
}

const round = (v: number | null, digits: number) =>
  v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits;

/** The same figures rounded to what the measurement can tell. */
export function rounded(r: Result): Result {
  return {
    ...r,
    enroll_s: round(r.enroll_s, 2),
    idle_cpu_percent: round(r.idle_cpu_percent, 1),
    rss_mb: round(r.rss_mb, 1),
    fanout_p50_s: round(r.fanout_p50_s, 3),
    fanout_p99_s: round(r.fanout_p99_s, 3),
    fanout_max_s: round(r.fanout_max_s, 3),
    healthz_p99_ms: round(r.healthz_p99_ms, 1),
    hosts_p99_ms: round(r.hosts_p99_ms, 1),
  };
}

const show = (v: number | null, unit: string) => (v === null ? 'n/a' : `${v} ${unit}`);

/** The human-readable summary. */
export function summaryLines(r: Result): string[] {
  const x = rounded(r);
  return [
    `agents ${x.agents}, server replicas ${x.replicas}`,
    `  enroll all:        ${show(x.enroll_s, 's')}`,
    `  idle server CPU:   ${show(x.idle_cpu_percent, '% of one core')}`,
    `  server RSS:        ${show(x.rss_mb, 'MB')}`,
    `  goal fan-out:      p50 ${show(x.fanout_p50_s, 's')}, p99 ${show(x.fanout_p99_s, 's')}, max ${show(x.fanout_max_s, 's')}`,
    `  during fan-out:    /healthz p99 ${show(x.healthz_p99_ms, 'ms')}, GET /v1/hosts p99 ${show(x.hosts_p99_ms, 'ms')}`,
  ];
}
