/**
 * Following a job's output: lines as they come (prefixed by host when the job runs on several,
 * stderr lines to stderr), then the job as it ended. Shared by `slipway run` and
 * `slipway jobs logs --follow`.
 */
import type { Job, JobLine, SlipwayClient } from '../api/index.js';
import { jobExitCode } from '../core/index.js';
import type { Output } from './output.js';
import { formatBytes, table } from './output.js';

/** How long one read of the output waits for new lines on the server. */
const WAIT_MS = 20_000;

export interface FollowOptions {
  host?: string;
  /** Keep reading until the job ends; else print what there is and return. */
  follow: boolean;
  /** Lines as JSON objects, one a line. */
  json?: boolean;
}

/** Prints the job's output (past `after`) and resolves with the job as last read. */
export async function followJob(
  client: SlipwayClient,
  out: Output,
  jobId: string,
  o: FollowOptions,
): Promise<Job> {
  let after = 0;
  for (;;) {
    const page = await client.jobOutput(jobId, {
      after,
      waitMs: o.follow ? WAIT_MS : 0,
      host: o.host,
    });
    const prefixed = o.host === undefined && page.job.runs.length > 1;
    for (const l of page.lines) printLine(out, l, prefixed, o.json);
    after = page.next;
    const ended = page.job.state !== 'running';
    // Past the job's end, lines may still be there to read: read until a page is empty.
    if (page.lines.length === 0 && (ended || !o.follow)) return page.job;
  }
}

function printLine(out: Output, l: JobLine, prefixed: boolean, json?: boolean): void {
  if (json) return out.line(JSON.stringify(l));
  const text = prefixed ? `[${l.host}] ${l.text}` : l.text;
  if (l.stream === 'stderr') out.progress(text);
  else out.line(text);
}

/** The exit code `slipway run` gives back for the job (see core's jobExitCode). */
export function exitCodeOf(job: Job): number {
  return jobExitCode(job.runs.map((r) => ({ state: r.state, exitCode: r.exitCode })));
}

/** One line per run: host, state, exit code, how long, what it fetched from where. */
export function runsTable(job: Job): string {
  return table(
    ['HOST', 'REGION', 'STATE', 'EXIT', 'TIME', 'FETCHED', 'DETAIL'],
    job.runs.map((r) => [
      r.host,
      r.region,
      r.state,
      r.exitCode,
      duration(r.startedAt, r.endedAt),
      fetched(r.bytesReceived),
      r.detail,
    ]),
  );
}

function duration(from: string | null, to: string | null): string | null {
  return from === null ? null : formatDuration(runTime(from, to));
}

/** Milliseconds a run took (so far, while it runs). */
export function runTime(from: string, to: string | null): number {
  return (to === null ? Date.now() : Date.parse(to)) - Date.parse(from);
}

export function formatDuration(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 60_000)}m`;
}

function fetched(bytes: Record<string, number>): string | null {
  const parts = Object.entries(bytes)
    .filter(([, n]) => n > 0)
    .map(([source, n]) => `${source} ${formatBytes(n)}`);
  return parts.length > 0 ? parts.join(', ') : null;
}
