/**
 * Keeps jobs from waiting forever and from piling up: a run its host never took up (offline, or
 * an agent without jobs) or never said the end of ends as `lost`; jobs that ended long ago go,
 * output and all. Every server process sweeps; the statements are idempotent.
 */
import type { Identity } from '../authz/identity.js';
import type { AppContext } from './context.js';

/** A run not taken up by its host within this long of the job's creation is lost. */
export const JOB_TAKE_UP_MS = 5 * 60_000;
/** A run past its job's timeout by this long, with no word of its end, is lost. */
export const JOB_END_GRACE_MS = 5 * 60_000;
/** Jobs (and their output) are kept this long after they were created, once ended. */
export const JOB_RETENTION_MS = 30 * 24 * 3600_000;
const SWEEP_EVERY_MS = 60_000;

const HOUSEKEEPING: Identity = { kind: 'system', name: 'housekeeping' };

/** One sweep: ends overdue runs (announcing them), removes old jobs; says what it did. */
export async function sweepJobs(ctx: AppContext): Promise<{ lost: number; removed: number }> {
  const lost = await ctx.uow.run(HOUSEKEEPING, async ({ tx, emit, goalsChanged }) => {
    const ended = await tx.jobs.endOverdue(JOB_TAKE_UP_MS, JOB_END_GRACE_MS);
    goalsChanged(ended.map((r) => r.hostId));
    for (const jobId of new Set(ended.map((r) => r.jobId))) {
      await tx.notify('jobs', jobId);
      emit('job.run.lost', { job: jobId, hosts: ended.filter((r) => r.jobId === jobId).length });
    }
    return ended.length;
  });
  const removed = await ctx.store.jobs.removeEndedBefore(new Date(ctx.now() - JOB_RETENTION_MS));
  return { lost, removed };
}

/** Sweeps every minute until stopped. */
export function startJobHousekeeping(ctx: AppContext): () => void {
  const timer = setInterval(() => {
    sweepJobs(ctx)
      .then(({ lost, removed }) => {
        if (lost > 0) ctx.log(`jobs: ${lost} run(s) lost (their hosts never said how they ended)`);
        if (removed > 0) ctx.log(`jobs: removed ${removed} job(s) older than 30 days`);
      })
      .catch((e: unknown) => ctx.log(`job housekeeping failed: ${(e as Error).message}`));
  }, SWEEP_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
