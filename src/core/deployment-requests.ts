/**
 * What people ask of a deployment while it exists: cancel, pause or resume, approve, reject.
 * Each returns the deployment with the request recorded (or throws why it cannot be asked);
 * `advance` carries it out at its next step.
 */
import { ConflictError, PolicyError } from './errors.js';
import { isTerminal, type Approval, type Deployment } from './deployment-model.js';

/** Marks a running deployment for cancellation; `advance` carries it out. */
export function requestCancel(d: Deployment): Deployment {
  return isTerminal(d.state) ? d : { ...d, cancelRequested: true };
}

/**
 * Asks a running deployment to stop before its next batch (the batch under way finishes), or
 * one paused to go on; `advance` carries it out.
 */
export function requestPause(d: Deployment, pause: boolean): Deployment {
  if (isTerminal(d.state)) {
    throw new ConflictError(
      `deployment ${d.id} has ended (${d.state}): nothing to ${pause ? 'pause' : 'resume'}`,
    );
  }
  return { ...d, pauseRequested: pause };
}

/**
 * Records `by`'s approval of a deployment awaiting it; `advance` then starts it once enough
 * approvers have. Refuses the requester, a second approval by the same approver, and a
 * deployment that does not await approval.
 */
export function approve(d: Deployment, by: string, now: number): Deployment {
  const a = awaiting(d, 'approve');
  if (by === a.requestedBy) {
    throw new PolicyError(`${by} asked for deployment ${d.id}: another approver must approve it`, {
      requestedBy: a.requestedBy,
    });
  }
  if (a.approvals.some((x) => x.by === by)) {
    throw new ConflictError(`${by} has already approved deployment ${d.id}`);
  }
  return { ...d, approval: { ...a, approvals: [...a.approvals, { by, at: now }] } };
}

/** Rejects a deployment awaiting approval, with why; `advance` ends it. Anyone may reject. */
export function reject(d: Deployment, by: string, reason: string, now: number): Deployment {
  const a = awaiting(d, 'reject');
  return { ...d, approval: { ...a, rejected: { by, at: now, reason } } };
}

function awaiting(d: Deployment, what: string): Approval {
  // A queued deployment gathers its approvals while it waits.
  const waiting = d.state === 'awaiting_approval' || d.state === 'queued';
  if (!waiting || !d.approval || d.approval.rejected) {
    throw new ConflictError(
      `cannot ${what} deployment ${d.id}: it is ${d.state}, not awaiting approval`,
      { state: d.state },
    );
  }
  return d.approval;
}
