/**
 * What a footprint run prints: a table for people (each figure beside its target, and whether
 * it met it) and one JSON object, last, for scripts. MB here are MiB (2^20 bytes), as /proc
 * counts kB of 1024 bytes.
 */

/** The fleet harness's CPU per GiB of what the hosts received, by method. */
export interface FleetFigures {
  aria2_cpu_s_per_gib: number | null;
  slipway_cold_cpu_s_per_gib: number | null;
  slipway_delta_cpu_s_per_gib: number | null;
  /** slipway-cold's over aria2's. */
  cold_vs_aria2: number | null;
}

/** The targets a run is held to (null: shown for information, no target). */
export const TARGETS = {
  server_idle_rss_mb: 200,
  server_1000_rss_mb: 400,
  postgres_server_idle_rss_mb: 150,
  agent_idle_rss_mb: 60,
  /** Strictly below. */
  agent_idle_cpu_percent: 1,
  /** slipway-cold's CPU per GiB at most aria2's. */
  cold_vs_aria2: 1,
} as const;

/** The figures of one run; null: not measured (skipped, or a step before it failed). */
export interface Result {
  server_idle_rss_mb: number | null;
  server_idle_peak_mb: number | null;
  server_1000_rss_mb: number | null;
  server_1000_peak_mb: number | null;
  agents: number;
  images: number;
  releases: number;
  postgres_server_idle_rss_mb: number | null;
  agent_idle_rss_mb: number | null;
  agent_idle_cpu_percent: number | null;
  agent_staging_peak_rss_mb: number | null;
  agent_stage_cpu_s_per_gib: number | null;
  fleet: FleetFigures | null;
  targets: typeof TARGETS;
}

/** Facts for the table only: why a row was not measured, the sizes behind a figure. */
export interface Notes {
  /** Rows left out on purpose, by key, with why. */
  skipped: Map<string, string>;
  /** The agent's VmHWM at the end of the stage (MiB): the kernel's own peak. */
  agentStageHwmMb: number | null;
  /** Bytes the real agent staged. */
  stageBytes: number | null;
  /** Agent CPU seconds during the stage. */
  agentStageCpuS: number | null;
  postgresPeakMb: number | null;
  /** Releases whose stage deployment ended otherwise than succeeded. */
  unsuccessfulReleases: number;
}

export function emptyResult(agents: number): Result {
  return {
    server_idle_rss_mb: null,
    server_idle_peak_mb: null,
    server_1000_rss_mb: null,
    server_1000_peak_mb: null,
    agents,
    images: 0,
    releases: 0,
    postgres_server_idle_rss_mb: null,
    agent_idle_rss_mb: null,
    agent_idle_cpu_percent: null,
    agent_staging_peak_rss_mb: null,
    agent_stage_cpu_s_per_gib: null,
    fleet: null,
    targets: TARGETS,
  };
}

export function emptyNotes(): Notes {
  return {
    skipped: new Map(),
    agentStageHwmMb: null,
    stageBytes: null,
    agentStageCpuS: null,
    postgresPeakMb: null,
    unsuccessfulReleases: 0,
  };
}

const round = (v: number | null, digits: number) =>
  v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits;

/** The same figures rounded to what the measurement tells: 0.1 MB, 0.01 % and s/GiB. */
export function rounded(r: Result): Result {
  const mb = (v: number | null) => round(v, 1);
  return {
    ...r,
    server_idle_rss_mb: mb(r.server_idle_rss_mb),
    server_idle_peak_mb: mb(r.server_idle_peak_mb),
    server_1000_rss_mb: mb(r.server_1000_rss_mb),
    server_1000_peak_mb: mb(r.server_1000_peak_mb),
    postgres_server_idle_rss_mb: mb(r.postgres_server_idle_rss_mb),
    agent_idle_rss_mb: mb(r.agent_idle_rss_mb),
    agent_idle_cpu_percent: round(r.agent_idle_cpu_percent, 2),
    agent_staging_peak_rss_mb: mb(r.agent_staging_peak_rss_mb),
    agent_stage_cpu_s_per_gib: round(r.agent_stage_cpu_s_per_gib, 2),
    fleet: r.fleet && {
      aria2_cpu_s_per_gib: round(r.fleet.aria2_cpu_s_per_gib, 2),
      slipway_cold_cpu_s_per_gib: round(r.fleet.slipway_cold_cpu_s_per_gib, 2),
      slipway_delta_cpu_s_per_gib: round(r.fleet.slipway_delta_cpu_s_per_gib, 2),
      cold_vs_aria2: round(r.fleet.cold_vs_aria2, 2),
    },
  };
}

/** `met` or `MISSED` against the target; `info` where there is none, a dash where no figure. */
function verdict(value: number | null, target: number | null, strict = false): string {
  if (target === null) return 'info';
  if (value === null) return '-';
  return (strict ? value < target : value <= target) ? 'met' : 'MISSED';
}

/** Decimals shown per unit: as many as the JSON keeps. */
const DIGITS: Record<string, number> = { MB: 1 };
const show = (v: number | null, unit: string) =>
  v === null ? 'not measured' : `${v.toFixed(DIGITS[unit] ?? 2)} ${unit}`;

/** The human-readable table. */
export function tableLines(r: Result, notes: Notes): string[] {
  const x = rounded(r);
  const rows: [string, string, string, string][] = [];
  const row = (
    what: string,
    value: number | null,
    unit: string,
    target: number | null,
    key?: string,
    strict = false,
  ) => {
    const why = key ? notes.skipped.get(key) : undefined;
    const shown = value === null && why ? `not measured: ${why}` : show(value, unit);
    const aim = target === null ? '' : `${strict ? '<' : '≤'} ${target} ${unit}`;
    rows.push([what, shown, aim, value === null && why ? '-' : verdict(value, target, strict)]);
  };
  const scale = `${x.agents} agents, ${x.images} images, ${x.releases} releases`;
  row('server RSS, embedded store, idle', x.server_idle_rss_mb, 'MB', TARGETS.server_idle_rss_mb);
  row('  its peak (VmHWM)', x.server_idle_peak_mb, 'MB', null);
  row(`server RSS, ${scale}`, x.server_1000_rss_mb, 'MB', TARGETS.server_1000_rss_mb, 'server');
  row('  its peak (VmHWM)', x.server_1000_peak_mb, 'MB', null, 'server');
  row(
    'server RSS, PostgreSQL, idle',
    x.postgres_server_idle_rss_mb,
    'MB',
    TARGETS.postgres_server_idle_rss_mb,
    'postgres',
  );
  row('  its peak (VmHWM)', round(notes.postgresPeakMb, 1), 'MB', null, 'postgres');
  row('agent RSS, idle', x.agent_idle_rss_mb, 'MB', TARGETS.agent_idle_rss_mb, 'agent');
  row(
    'agent CPU, idle',
    x.agent_idle_cpu_percent,
    '% of a core',
    TARGETS.agent_idle_cpu_percent,
    'agent',
    true,
  );
  const staged = notes.stageBytes === null ? '' : ` ${formatMiB(notes.stageBytes)}`;
  row(`agent RSS peak staging${staged}`, x.agent_staging_peak_rss_mb, 'MB', null, 'agent');
  row('  its VmHWM after the stage', round(notes.agentStageHwmMb, 1), 'MB', null, 'agent');
  row('agent CPU per GiB staged', x.agent_stage_cpu_s_per_gib, 's/GiB', null, 'agent');
  const f = x.fleet;
  row('fleet: aria2 host CPU per GiB', f?.aria2_cpu_s_per_gib ?? null, 's/GiB', null, 'fleet');
  row('fleet: slipway-cold', f?.slipway_cold_cpu_s_per_gib ?? null, 's/GiB', null, 'fleet');
  row('fleet: slipway-delta', f?.slipway_delta_cpu_s_per_gib ?? null, 's/GiB', null, 'fleet');
  row('fleet: cold / aria2', f?.cold_vs_aria2 ?? null, '×', TARGETS.cold_vs_aria2, 'fleet');

  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map(([a, b, c, d]) =>
    [a.padEnd(widths[0]!), b.padStart(widths[1]!), c.padEnd(widths[2]!), d].join('  ').trimEnd(),
  );
  const header = [
    'figure'.padEnd(widths[0]!),
    'value'.padStart(widths[1]!),
    'target'.padEnd(widths[2]!),
    'result',
  ];
  const out = [header.join('  '), ...lines];
  if (notes.agentStageCpuS !== null && notes.stageBytes !== null) {
    out.push(
      `agent CPU during the stage: ${notes.agentStageCpuS.toFixed(2)} s for ${formatMiB(notes.stageBytes)}`,
    );
  }
  if (notes.unsuccessfulReleases > 0) {
    out.push(
      `${notes.unsuccessfulReleases} of the releases' stage deployments did not succeed (the releases exist)`,
    );
  }
  out.push('MB = 2^20 bytes; RSS is VmRSS of /proc/PID/status, peak is VmHWM');
  return out;
}

function formatMiB(bytes: number): string {
  return bytes >= 1024 ** 3
    ? `${(bytes / 1024 ** 3).toFixed(2)} GiB`
    : `${Math.round(bytes / 1024 ** 2)} MiB`;
}
