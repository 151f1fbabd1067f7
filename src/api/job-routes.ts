/** The routes of jobs, part of the one route table (routes.ts spreads them in). */
import { z } from 'zod';
import type { RouteDef } from './route-def.js';
import * as j from './job-schemas.js';

const MiB = 1024 * 1024;
const ok = z.object({ ok: z.literal(true) });

export const jobRoutes = {
  createJob: {
    method: 'POST',
    path: '/v1/jobs',
    summary: 'Run a command or script in a sandbox on one or every matching host',
    // Code of the caller's choosing on the fleet's hosts: an operator's, not a deployer's.
    auth: 'operate',
    body: j.createJobRequest,
    response: j.job,
  },
  listJobs: {
    method: 'GET',
    path: '/v1/jobs',
    summary: 'Jobs, newest first',
    auth: 'read',
    query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50) }),
    response: z.array(j.job),
  },
  getJob: {
    method: 'GET',
    path: '/v1/jobs/:id',
    summary: 'One job and its runs',
    auth: 'read',
    response: j.job,
  },
  jobOutput: {
    method: 'GET',
    path: '/v1/jobs/:id/output',
    summary: 'Output lines of a job past `after`; waits up to `waitMs` for more (follow)',
    auth: 'read',
    query: j.jobOutputQuery,
    response: j.jobOutput,
  },
  cancelJob: {
    method: 'POST',
    path: '/v1/jobs/:id/cancel',
    summary: 'Stop a job on every host that runs it (its whole process tree)',
    auth: 'operate',
    response: j.job,
    repeatable: true,
  },
  agentJobReport: {
    method: 'POST',
    path: '/v1/agent/jobs/:id',
    summary: 'A run’s state and its output since the last report, from the host that runs it',
    auth: 'agent',
    body: j.agentJobReport,
    response: ok,
    bodyLimit: 2 * MiB,
    // Output of a job, many a second; the job and its end are what is audited.
    audit: false,
  },
} as const satisfies Record<string, RouteDef>;
