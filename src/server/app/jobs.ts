/**
 * Jobs: a user submits a command or script, the server records it and gives a run of it to one
 * or every matching host (never to itself), through their goals; hosts report each run's state
 * and output; followers read the output as it comes. Cancelling tells the hosts to kill it.
 */
import { randomUUID } from 'node:crypto';
import {
  jobStateOf,
  NotFoundError,
  placeJob,
  SlipwayError,
  type JobCandidate,
} from '../../core/index.js';
import type { AgentJobReport, CreateJobRequest, Job, JobOutput } from '../../api/index.js';
import type { JobRow, JobSpec, Store } from '../../store/index.js';
import { actorOf, type Identity } from '../authz/identity.js';
import { isOnline } from '../hosts/online.js';
import { hostIdOf } from './agents.js';
import type { AppContext } from './context.js';
import { idOfUuidPrefix } from './id-prefix.js';
import { resolveImage } from './images.js';

/** Shortest job id prefix taken for a job. */
const JOB_PREFIX_MIN = 8;

export async function createJob(
  ctx: AppContext,
  actor: Identity,
  req: CreateJobRequest,
): Promise<Job> {
  const spec: JobSpec = {
    imageId: await imageOf(ctx.store, req),
    service: req.service,
    release: req.release,
    script: req.script,
    argv: req.argv,
    env: req.env,
    network: req.network,
    limits: req.limits,
    placement: req.placement,
    targets: req.targets,
    outputLimitBytes: req.outputLimitBytes,
  };
  if (req.script && !(await ctx.store.images.byId(req.script.imageId)))
    throw new NotFoundError('image', req.script.imageId);
  const now = ctx.now();
  const id = randomUUID();
  const row = await ctx.uow.run(actor, async ({ tx, emit, goalsChanged }) => {
    const busy = await tx.jobs.busy();
    const candidates: JobCandidate[] = (await ctx.hosts.list()).map((h) => ({
      ...h,
      online: isOnline(h, now),
      busy: busy.get(h.id) ?? 0,
    }));
    const { hosts, skipped } = placeJob(candidates, req.targets, req.placement, Math.random);
    await tx.jobs.add({ id, createdBy: actorOf(actor), spec, skipped, hosts });
    goalsChanged(hosts.map((h) => h.id));
    emit('job.created', {
      job: id,
      hosts: hosts.map((h) => h.name),
      argv: spec.argv,
      script: spec.script?.name ?? null,
    });
    return (await tx.jobs.get(id))!;
  });
  return jobView(row);
}

async function imageOf(store: Store, req: CreateJobRequest): Promise<string | null> {
  if (req.image !== null) {
    if (/^[0-9a-f]{64}$/.test(req.image)) {
      if (await store.images.byId(req.image)) return req.image;
      throw new NotFoundError('image', req.image);
    }
    const m = /^([a-z][a-z0-9-]*):(.+)$/.exec(req.image);
    if (!m) {
      throw new SlipwayError(
        'INVALID',
        `image ${JSON.stringify(req.image)}: give a full image id or SERVICE:TAG (or SERVICE:ID-PREFIX)`,
      );
    }
    return resolveImage(store, m[1]!, m[2]!);
  }
  if (req.service === null) return null;
  if (req.release !== null) {
    const r = await store.releases.get(req.service, req.release);
    if (!r) throw new NotFoundError('release', `${req.service} v${req.release}`);
    return r.imageId;
  }
  const latest = (await store.releases.list(req.service))[0];
  if (!latest) {
    throw new SlipwayError('NOT_FOUND', `service ${req.service} has no release yet`, {
      service: req.service,
    });
  }
  return latest.imageId;
}

export async function listJobs(store: Store, limit: number): Promise<Job[]> {
  return (await store.jobs.list(limit)).map(jobView);
}

export async function getJob(store: Store, ref: string): Promise<Job> {
  return jobView(await jobRow(store, ref));
}

async function jobRow(store: Store, ref: string): Promise<JobRow> {
  const direct = await store.jobs.get(ref);
  if (direct) return direct;
  const id = await idOfUuidPrefix(
    {
      kind: 'job',
      minLength: JOB_PREFIX_MIN,
      idsWithPrefix: (p, limit) => store.jobs.idsWithPrefix(p, limit),
    },
    ref,
    'slipway jobs',
  );
  const row = await store.jobs.get(id);
  if (!row) throw new NotFoundError('job', ref);
  return row;
}

/**
 * Output lines past `after` (of one host if asked); with `waitMs`, waits until there are some
 * or the job ended. The answer carries the job, so a follower knows when to stop.
 */
export async function jobOutput(
  ctx: AppContext,
  ref: string,
  q: { after: number; waitMs: number; host?: string; limit: number },
  closed: AbortSignal,
): Promise<JobOutput> {
  let row = await jobRow(ctx.store, ref);
  const hostId =
    q.host === undefined ? undefined : row.runs.find((r) => r.hostName === q.host)?.hostId;
  if (q.host !== undefined && hostId === undefined)
    throw new NotFoundError('run of this job on host', q.host);
  const until = performance.now() + q.waitMs;
  for (;;) {
    // Waiting starts before the read, so lines committed between the two wake it.
    const waiting = ctx.jobWatch.wait(row.id, Math.max(0, until - performance.now()));
    const onClose = () => waiting.cancel();
    closed.addEventListener('abort', onClose);
    try {
      const lines = await ctx.store.jobs.output(row.id, q.after, q.limit, hostId);
      const ended = jobStateOf(row.runs) !== 'running';
      if (lines.length > 0 || ended || performance.now() >= until || closed.aborted) {
        const names = new Map(row.runs.map((r) => [r.hostId, r.hostName]));
        return {
          lines: lines.map((l) => ({
            seq: l.seq,
            host: names.get(l.hostId) ?? l.hostId,
            stream: l.stream,
            text: l.text,
            at: l.at.toISOString(),
          })),
          next: lines.at(-1)?.seq ?? q.after,
          job: jobView(row),
        };
      }
      await waiting.changed;
    } finally {
      closed.removeEventListener('abort', onClose);
      waiting.cancel();
    }
    row = await jobRow(ctx.store, row.id);
  }
}

export async function cancelJob(ctx: AppContext, actor: Identity, ref: string): Promise<Job> {
  const row = await ctx.uow.run(actor, async ({ tx, emit, goalsChanged }) => {
    const job = await jobRow(tx, ref);
    if (jobStateOf(job.runs) === 'running') {
      goalsChanged(await tx.jobs.requestCancel(job.id));
      await tx.notify('jobs', job.id);
      emit('job.cancelled', { job: job.id });
    }
    return (await tx.jobs.get(job.id))!;
  });
  return jobView(row);
}

/** A host's report of its run: its state and output since its last report. */
export async function agentJobReport(
  ctx: AppContext,
  actor: Identity,
  jobId: string,
  report: AgentJobReport,
): Promise<void> {
  const hostId = hostIdOf(actor);
  await ctx.uow.run(actor, async ({ tx, emit, goalsChanged }) => {
    const r = await tx.jobs.report(jobId, hostId, {
      ...report,
      startedAt: report.startedAt === null ? null : new Date(report.startedAt),
      lines: report.lines.map((l) => ({ ...l, at: new Date(l.at) })),
    });
    if (r === 'gone') return;
    await tx.notify('jobs', jobId);
    // Its goal names the run as started, or no longer names it.
    if (r !== 'open') goalsChanged([hostId]);
    if (r === 'ended') {
      const job = (await tx.jobs.get(jobId))!;
      const run = job.runs.find((x) => x.hostId === hostId)!;
      emit('job.run.ended', {
        job: jobId,
        host: run.hostName,
        state: run.state,
        exitCode: run.exitCode,
      });
      const state = jobStateOf(job.runs);
      if (state !== 'running') emit(`job.${state}`, { job: jobId });
    }
  });
}

export function jobView(row: JobRow): Job {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    id: row.id,
    state: jobStateOf(row.runs),
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
    imageId: row.spec.imageId,
    service: row.spec.service,
    release: row.spec.release,
    script: row.spec.script?.name ?? null,
    argv: row.spec.argv,
    network: row.spec.network,
    limits: row.spec.limits,
    placement: row.spec.placement,
    outputLimitBytes: row.spec.outputLimitBytes,
    skipped: row.skipped,
    cancelRequested: row.cancelRequested,
    runs: row.runs.map((r) => ({
      hostId: r.hostId,
      host: r.hostName,
      region: r.region,
      state: r.state,
      exitCode: r.exitCode,
      signal: r.signal,
      detail: r.detail,
      limitsBy: r.limitsBy,
      startedAt: iso(r.startedAt),
      endedAt: iso(r.endedAt),
      bytesReceived: r.bytesReceived,
      outputBytes: r.outputBytes,
      outputDropped: r.outputDropped,
    })),
  };
}
