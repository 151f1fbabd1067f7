/**
 * Jobs: a one-off command (a script, a migration, a diagnostic) run in a sandbox on chosen hosts.
 * A job is a spec and one run per host; this module holds what is decided without I/O: which
 * hosts a job goes to, what state its runs add up to, and the exit code the CLI gives back.
 */
import { ValidationError } from './errors.js';
import { matchesSelector } from './topology.js';
import type { HostInfo } from './types.js';

/**
 * A run on one host. `assigned`: in the host's goal, not started; `queued`: the host runs as many
 * jobs as it may; `fetching`: its files are being fetched; then `running`, and one of the ends.
 * `lost`: the agent restarted (or the host went away) while it ran: it did not finish as far as
 * anyone knows. `refused`: the host cannot run jobs (no sandbox), with the reason in `detail`.
 */
export const JOB_RUN_STATES = [
  'assigned',
  'queued',
  'fetching',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
  'lost',
  'refused',
] as const;
export type JobRunState = (typeof JOB_RUN_STATES)[number];

/** The states a run ends in: those from `succeeded` on. */
export const JOB_RUN_ENDS: ReadonlySet<JobRunState> = new Set(
  JOB_RUN_STATES.slice(JOB_RUN_STATES.indexOf('succeeded')),
);

/** A job as a whole: running while any run has not ended. */
export type JobState = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** Where a job runs: on every matching host, or on one of them (the least busy). */
export type JobPlacement = 'each' | 'any';

/** Which hosts may take a job: by name, region and labels; all empty: every host. */
export interface JobTargets {
  hosts: string[];
  regions: string[];
  labels: Record<string, string>;
}

export interface JobCandidate extends HostInfo {
  id: string;
  online: boolean;
  /** Runs of other jobs not yet ended on it. */
  busy: number;
}

/**
 * The hosts a job goes to: every online match for `each`, the least busy for `any` (ties broken
 * by `random`). Hosts named but not found, or offline, are said in `skipped`; no host at all is
 * an error saying why, since a job that runs nowhere must not look submitted.
 */
export function placeJob(
  candidates: readonly JobCandidate[],
  targets: JobTargets,
  placement: JobPlacement,
  random: () => number,
): { hosts: JobCandidate[]; skipped: string[] } {
  const named = new Set(targets.hosts);
  const matching = candidates.filter(
    (h) =>
      (named.size === 0 || named.has(h.name)) &&
      matchesSelector(h, { regions: targets.regions, labels: targets.labels }),
  );
  const skipped = [...named]
    .filter((n) => !candidates.some((h) => h.name === n))
    .map((n) => `${n}: no such host`);
  const online = matching.filter((h) => h.online);
  for (const h of matching) if (!h.online) skipped.push(`${h.name}: offline`);
  if (online.length === 0) {
    const what = describeTargets(targets);
    throw new ValidationError(`no online host to run the job on (${what})`, [
      {
        path: 'targets',
        message:
          matching.length === 0
            ? `no host matches ${what}`
            : `${matching.length} host(s) match ${what}, none is online`,
      },
    ]);
  }
  if (placement === 'each') return { hosts: online, skipped };
  const least = Math.min(...online.map((h) => h.busy));
  const idle = online.filter((h) => h.busy === least);
  return { hosts: [idle[Math.floor(random() * idle.length) % idle.length]!], skipped: [] };
}

function describeTargets(t: JobTargets): string {
  const parts: string[] = [];
  if (t.hosts.length > 0) parts.push(`host ${t.hosts.join(', ')}`);
  if (t.regions.length > 0) parts.push(`region ${t.regions.join(', ')}`);
  const labels = Object.entries(t.labels).map(([k, v]) => `${k}=${v}`);
  if (labels.length > 0) parts.push(`labels ${labels.join(',')}`);
  return parts.length > 0 ? parts.join(', ') : 'every host';
}

/** What a job's runs add up to. */
export function jobStateOf(runs: readonly { state: JobRunState }[]): JobState {
  if (runs.some((r) => !JOB_RUN_ENDS.has(r.state))) return 'running';
  if (runs.length > 0 && runs.every((r) => r.state === 'succeeded')) return 'succeeded';
  if (runs.some((r) => r.state === 'cancelled')) return 'cancelled';
  return 'failed';
}

/** Exit code of a run that did not exit by itself, as shells say it. */
const TIMED_OUT_CODE = 124;
const CANCELLED_CODE = 130;

/**
 * The exit code `slipway run` gives back: the job's own on one host; on several, 0 only when
 * every run succeeded, else the first failed run's (in host order). A run that did not exit by
 * itself counts as a shell would: 124 for a timeout, 130 cancelled, 1 otherwise.
 */
export function jobExitCode(
  runs: readonly { state: JobRunState; exitCode: number | null }[],
): number {
  for (const r of runs) {
    if (r.state === 'succeeded') continue;
    if (r.state === 'failed' && r.exitCode !== null && r.exitCode !== 0) return r.exitCode;
    if (r.state === 'timed_out') return TIMED_OUT_CODE;
    if (r.state === 'cancelled') return CANCELLED_CODE;
    return 1;
  }
  return 0;
}

/** A label selector as users write it: `tier=web,zone=a`. */
export function parseLabelSelector(text: string, where = 'selector'): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9_./-]+)\s*=\s*([^,=]*?)\s*$/.exec(part);
    if (!m) {
      throw new ValidationError(`invalid ${where}`, [
        { path: where, message: `${JSON.stringify(part)} is not key=value (e.g. tier=web,zone=a)` },
      ]);
    }
    labels[m[1]!] = m[2]!;
  }
  return labels;
}
