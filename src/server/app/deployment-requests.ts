/**
 * What people ask of a deployment while it runs: cancel, pause or resume, approve, reject. Each
 * is recorded on the deployment with its event (core/deployment-requests.ts says whether it may
 * be asked); the orchestrator's next step carries it out.
 */
import {
  NotFoundError,
  approve,
  reject,
  requestCancel,
  requestPause,
  type Deployment,
} from '../../core/index.js';
import type { DeploymentView } from '../../api/index.js';
import { actorOf, type Identity } from '../authz/identity.js';
import type { AppContext } from './context.js';
import { getDeployment, resolveDeploymentId, viewOf } from './deployments.js';

/**
 * Asks a running deployment (`id` or a unique prefix of it) to stop; activated hosts return to
 * their previous release. An ended one is left as it is.
 */
export async function cancelDeployment(
  ctx: AppContext,
  actor: Identity,
  id: string,
): Promise<DeploymentView> {
  return decide(ctx, actor, id, (d) => ({
    next: requestCancel(d),
    event: ['deployment.cancel-requested', {}],
  }));
}

/**
 * Approves a deployment awaiting approval (by id or prefix), as `actor`, who must not be the
 * one who asked for it; the orchestrator starts it once enough approvers have.
 */
export async function approveDeployment(
  ctx: AppContext,
  actor: Identity,
  id: string,
): Promise<DeploymentView> {
  return decide(ctx, actor, id, (d, by, now) => {
    const next = approve(d, by, now);
    const a = next.approval!;
    return {
      next,
      event: ['deployment.approved', { by, approvals: a.approvals.length, required: a.required }],
    };
  });
}

/**
 * Asks a running deployment to stop before its next batch (`pause`), or a paused one to go on;
 * the orchestrator carries it out.
 */
export async function pauseDeployment(
  ctx: AppContext,
  actor: Identity,
  id: string,
  pause: boolean,
): Promise<DeploymentView> {
  return decide(ctx, actor, id, (d) => ({
    next: requestPause(d, pause),
    event: [pause ? 'deployment.pause-requested' : 'deployment.resume-requested', {}],
  }));
}

/** Rejects a deployment awaiting approval, with why; the orchestrator ends it. */
export async function rejectDeployment(
  ctx: AppContext,
  actor: Identity,
  id: string,
  reason: string,
): Promise<DeploymentView> {
  return decide(ctx, actor, id, (d, by, now) => ({
    next: reject(d, by, reason, now),
    event: ['deployment.rejected', { by, reason }],
  }));
}

/**
 * Records what `actor` asks of a deployment (`change`), with its event, and lets the
 * orchestrator carry it out; a change that leaves the deployment as it was records nothing.
 */
async function decide(
  ctx: AppContext,
  actor: Identity,
  ref: string,
  change: (
    d: Deployment,
    by: string,
    now: number,
  ) => { next: Deployment; event: [string, Record<string, unknown>] },
): Promise<DeploymentView> {
  const id = await resolveDeploymentId(ctx.store, ref);
  await ctx.uow.run(actor, async ({ tx, emit }) => {
    const row = await tx.deployments.getForUpdate(id);
    if (!row) throw new NotFoundError('deployment', id);
    const { next, event } = change(row.deployment, actorOf(actor), ctx.now());
    if (next === row.deployment) return;
    await tx.deployments.update(next);
    emit(event[0], { ...event[1], service: next.service }, id);
  });
  await ctx.pass();
  return viewOf(ctx, await getDeployment(ctx.store, id));
}
