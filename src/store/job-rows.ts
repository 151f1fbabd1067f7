/** What the jobs repository hands out, checked at the store's boundary like every row. */
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { SlipwayError, type JobRunState } from '../core/index.js';
import * as api from '../api/index.js';
import type { Database } from './schema.js';

/** A job as submitted, with its image resolved: what every host of it is told. */
export const jobSpec = z.object({
  imageId: api.digest.nullable(),
  service: z.string().nullable(),
  release: z.number().int().nullable(),
  script: api.jobScript.nullable(),
  argv: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  network: z.boolean(),
  limits: api.jobLimits,
  placement: z.enum(['each', 'any']),
  targets: api.jobTargets,
  outputLimitBytes: z.number().int(),
});
export type JobSpec = z.output<typeof jobSpec>;

export interface JobRunRow {
  jobId: string;
  hostId: string;
  hostName: string;
  region: string;
  state: JobRunState;
  exitCode: number | null;
  signal: string | null;
  detail: string | null;
  limitsBy: string | null;
  startedAt: Date | null;
  endedAt: Date | null;
  bytesReceived: Record<string, number>;
  outputBytes: number;
  outputDropped: number;
}

export interface JobRow {
  id: string;
  createdAt: Date;
  createdBy: string;
  spec: JobSpec;
  skipped: string[];
  cancelRequested: boolean;
  runs: JobRunRow[];
}

/** A run not yet ended, as its host's goal names it. */
export interface OpenJobRun {
  jobId: string;
  hostId: string;
  state: JobRunState;
  spec: JobSpec;
  cancelRequested: boolean;
}

export interface JobLineRow {
  seq: number;
  hostId: string;
  stream: 'stdout' | 'stderr';
  text: string;
  at: Date;
}

function parsed<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new SlipwayError('INTERNAL', `stored ${what} does not parse: ${r.error.message}`);
}

export function toJobSpec(value: unknown, id: string): JobSpec {
  return parsed(jobSpec, value, `spec of job ${id}`);
}

export function toJobRun(r: Selectable<Database['job_runs']>): JobRunRow {
  return {
    jobId: r.job_id,
    hostId: r.host_id,
    hostName: r.host_name,
    region: r.region,
    state: parsed(api.jobRunState, r.state, 'job run state'),
    exitCode: r.exit_code,
    signal: r.signal,
    detail: r.detail,
    limitsBy: r.limits_by,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    bytesReceived: parsed(
      z.record(z.string(), z.number()),
      r.bytes_received,
      'job run bytes received',
    ),
    outputBytes: Number(r.output_bytes),
    outputDropped: Number(r.output_dropped),
  };
}
