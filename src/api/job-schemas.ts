/**
 * The wire contract of jobs: what a user submits, how a job and its output are shown, what an
 * agent is told to run (in its goal) and what it sends back. Part of schemas.ts, which
 * re-exports it.
 */
import { z } from 'zod';
import { JOB_RUN_STATES } from '../core/index.js';
import { digest, serviceName } from './names.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Longest a job may run: a day. */
export const JOB_TIMEOUT_MAX_MS = 24 * 3600_000;
/** Output kept of one run unless the job says otherwise: the tail, beyond. */
export const JOB_OUTPUT_DEFAULT_BYTES = 1 * MiB;
export const JOB_OUTPUT_MAX_BYTES = 64 * MiB;
/** Lines one agent message carries at most, and the longest line (longer ones are split). */
export const JOB_LINES_PER_REPORT = 2_000;
export const JOB_LINE_MAX_BYTES = 16 * KiB;

export const jobRunState = z.enum(JOB_RUN_STATES);
export const jobState = z.enum(['running', 'succeeded', 'failed', 'cancelled']);

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a variable name');

export const jobLimits = z.object({
  timeoutMs: z.number().int().min(1_000).max(JOB_TIMEOUT_MAX_MS).default(600_000),
  /** Address space of each process (prlimit) or the job's memory (cgroup v2). */
  memoryBytes: z
    .number()
    .int()
    .min(16 * MiB)
    .max(1024 * 1024 * MiB)
    .nullable()
    .default(null),
  /** Cores' worth of CPU time: with prlimit, a budget of cpus × timeout CPU seconds. */
  cpus: z.number().min(0.01).max(1024).nullable().default(null),
  /** Processes the job may have at once. */
  processes: z.number().int().min(1).max(100_000).default(256),
});
export type JobLimits = z.output<typeof jobLimits>;

/** The uploaded script: a one-file image, mounted read-only at /script/<name>. */
export const jobScript = z.object({
  imageId: digest,
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be a plain file name'),
});

export const jobTargets = z.object({
  hosts: z.array(z.string().max(253)).max(10_000).default([]),
  regions: z.array(z.string().max(256)).max(100).default([]),
  labels: z.record(z.string().max(256), z.string().max(256)).default({}),
});

export const createJobRequest = z
  .object({
    /**
     * The files the job runs in: an image by full id or `service:tag|id-prefix`, or a
     * service's release (`release` absent: its latest). Neither: only the host's system and
     * the script.
     */
    image: z.string().max(400).nullable().default(null),
    service: serviceName.nullable().default(null),
    release: z.number().int().positive().nullable().default(null),
    script: jobScript.nullable().default(null),
    argv: z
      .array(z.string().max(4 * KiB))
      .max(256)
      .default([]),
    env: z.record(envName, z.string().max(32 * KiB)).default({}),
    network: z.boolean().default(false),
    limits: jobLimits.default(jobLimits.parse({})),
    targets: jobTargets.default(jobTargets.parse({})),
    placement: z.enum(['each', 'any']).default('any'),
    outputLimitBytes: z
      .number()
      .int()
      .min(4 * KiB)
      .max(JOB_OUTPUT_MAX_BYTES)
      .default(JOB_OUTPUT_DEFAULT_BYTES),
  })
  .refine((r) => r.argv.length > 0 || r.script !== null, {
    message: 'give a command (argv) or a script',
    path: ['argv'],
  })
  .refine((r) => r.image === null || r.service === null, {
    message: 'give an image or a service, not both',
    path: ['image'],
  })
  .refine((r) => r.release === null || r.service !== null, {
    message: 'a release is a service’s: give the service too',
    path: ['release'],
  });
export type CreateJobRequest = z.output<typeof createJobRequest>;

export const jobRun = z.object({
  hostId: z.string(),
  host: z.string(),
  region: z.string(),
  state: jobRunState,
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  detail: z.string().nullable(),
  /** How the host enforced the limits: `cgroup-v2` or `prlimit`. */
  limitsBy: z.string().nullable(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  /** Bytes of the job's files this run fetched, by source (origin, relay, peer). */
  bytesReceived: z.record(z.string(), z.number().int().min(0)),
  /** Output bytes kept of this run, and those dropped from its start when it outgrew the limit. */
  outputBytes: z.number().int().min(0),
  outputDropped: z.number().int().min(0),
});
export type JobRun = z.infer<typeof jobRun>;

export const job = z.object({
  id: z.string(),
  state: jobState,
  createdAt: z.string(),
  createdBy: z.string(),
  imageId: digest.nullable(),
  service: z.string().nullable(),
  release: z.number().int().nullable(),
  script: z.string().nullable(),
  argv: z.array(z.string()),
  network: z.boolean(),
  limits: jobLimits,
  placement: z.enum(['each', 'any']),
  outputLimitBytes: z.number().int(),
  runs: z.array(jobRun),
  /** Hosts that matched but were not given the job, and why (offline, no such host). */
  skipped: z.array(z.string()),
  cancelRequested: z.boolean(),
});
export type Job = z.infer<typeof job>;

export const jobLine = z.object({
  seq: z.number().int(),
  host: z.string(),
  stream: z.enum(['stdout', 'stderr']),
  text: z.string(),
  at: z.string(),
});
export type JobLine = z.infer<typeof jobLine>;

export const jobOutputQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  /** Wait up to this long for lines past `after` (or the job's end) before answering. */
  waitMs: z.coerce.number().int().min(0).max(30_000).default(0),
  host: z.string().max(253).optional(),
  limit: z.coerce.number().int().min(1).max(5_000).default(1_000),
});
export const jobOutput = z.object({
  lines: z.array(jobLine),
  /** Pass as `after` to read on. */
  next: z.number().int(),
  job,
});
export type JobOutput = z.infer<typeof jobOutput>;

/** A job as the host that runs it is told: everything it needs, secrets only its own. */
export const goalJob = z.object({
  id: z.string(),
  imageId: digest.nullable(),
  script: jobScript.nullable(),
  argv: z.array(z.string()),
  env: z.record(z.string(), z.string()),
  network: z.boolean(),
  limits: jobLimits,
  /** The run started (the server heard so): an agent that does not hold it lost it. */
  started: z.boolean(),
  cancel: z.boolean(),
});
export type GoalJob = z.infer<typeof goalJob>;

export const agentJobReport = z.object({
  state: jobRunState,
  exitCode: z.number().int().nullable().default(null),
  signal: z.string().max(32).nullable().default(null),
  detail: z
    .string()
    .max(4 * KiB)
    .nullable()
    .default(null),
  limitsBy: z.string().max(32).nullable().default(null),
  bytesReceived: z.record(z.string().max(32), z.number().int().min(0)).default({}),
  /** When the job's process started on the host, and how long it ran (once it ended). */
  startedAt: z.string().datetime().nullable().default(null),
  durationMs: z.number().int().min(0).nullable().default(null),
  lines: z
    .array(
      z.object({
        stream: z.enum(['stdout', 'stderr']),
        text: z.string().max(JOB_LINE_MAX_BYTES),
        at: z.string().datetime(),
      }),
    )
    .max(JOB_LINES_PER_REPORT)
    .default([]),
});
export type AgentJobReport = z.output<typeof agentJobReport>;
