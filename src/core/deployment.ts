/**
 * The deployment state machine. Pure: given a deployment, what the hosts report and the time,
 * it returns the next deployment, the goal-state changes to make and the events to record.
 * The orchestrator persists all three in one transaction, so a crash between steps loses nothing.
 */
import {
  ALREADY_ON_DISK,
  HOST_REMOVED,
  type Deployment,
  type DeploymentHost,
  type HostObservation,
  type Step,
  type StepContext,
} from './deployment-model.js';
import {
  bake,
  bakesAfter,
  startBake,
  thresholdOf,
  waveOf,
  waveStartedBy,
} from './deployment-waves.js';
import { pastDeadline, StepBuilder } from './step-builder.js';

/**
 * Advances a deployment as far as the observations allow. Call it again after every report and
 * on a timer; it is idempotent when nothing changed. `observations` may name only the hosts
 * whose reports changed since the last step: a host it leaves out is taken to say what it said
 * then, and stays where it is. When {@link seesEveryHost} says so, it must name every host.
 */
export function advance(
  current: Deployment,
  observations: ReadonlyMap<string, HostObservation>,
  now: number,
  timing: StepContext,
): Step {
  const step = new StepBuilder(current);
  // Several transitions can happen in one call (e.g. all staged → activate the first batch).
  for (let i = 0; i < 6 + current.batchCount * 3; i++) {
    const before = step.d.state + ':' + step.d.currentBatch;
    advanceOnce(step, observations, now, timing);
    if (step.d.state + ':' + step.d.currentBatch === before) break;
  }
  return step.result();
}

/**
 * Whether the next step must see every host's observation, not only the changed ones': when it
 * starts staging (a host with the release on disk is staged at once) and when a deadline has
 * passed (hosts are judged on what they say now).
 */
export function seesEveryHost(d: Deployment, now: number): boolean {
  if (d.state === 'queued' || d.state === 'awaiting_approval') return true;
  if (d.state === 'staging' && d.deadline === null) return true;
  return d.deadline !== null && now >= d.deadline;
}

function advanceOnce(
  s: StepBuilder,
  obs: ReadonlyMap<string, HostObservation>,
  now: number,
  timing: StepContext,
): void {
  switch (s.d.state) {
    case 'queued':
      return queued(s, now, timing);
    case 'awaiting_approval':
      return awaitApproval(s, now);
    case 'staging':
      return stage(s, obs, now, timing);
    case 'activating':
      return activate(s, obs, now, timing);
    case 'baking':
      return bake(
        s,
        obs,
        now,
        timing,
        () => nextBatch(s, now, timing),
        (reason) => startRevert(s, now, timing, reason),
      );
    case 'rolling_back':
      return revert(s, obs, now, timing);
    case 'paused':
      return paused(s, now, timing);
    default:
      return;
  }
}

/**
 * Between batches: batch `currentBatch` is the next to start. Resumed, it starts; cancelled,
 * the hosts already activated go back (none yet: the staged releases are let go).
 */
function paused(s: StepBuilder, now: number, timing: StepContext): void {
  const d = s.d;
  if (d.cancelRequested) {
    if (d.currentBatch > 0) return startRevert(s, now, timing, 'cancelled while paused');
    for (const h of d.hosts) s.goal({ hostId: h.hostId, stage: null });
    return s.setState('cancelled', 'cancelled while paused; nothing was activated');
  }
  if (d.pauseRequested) {
    // Paused by its closed window: on again once it opens.
    if (d.pausedBy !== 'window' || timing.windowClosed) return;
    d.pauseRequested = false;
  }
  d.pausedBy = null;
  goOn(s, now, timing);
}

/**
 * Stops before batch `next` when a pause was asked for, or when `next` starts a wave of a
 * deploy while its deploy window is closed; true if it did.
 */
function pauseBefore(s: StepBuilder, next: number, timing: StepContext): boolean {
  const d = s.d;
  const wave = waveStartedBy(d, next);
  const closed =
    d.kind === 'deploy' && !d.windowOverridden && wave !== null
      ? (timing.windowClosed ?? null)
      : null;
  if (!d.pauseRequested && closed === null) return false;
  d.currentBatch = next;
  d.deadline = null;
  if (d.pauseRequested) {
    s.setState('paused', `paused before batch ${next + 1}/${d.batchCount}`);
    return true;
  }
  d.pauseRequested = true;
  d.pausedBy = 'window';
  s.setState('paused', `paused before wave ${wave}: ${closed}`);
  return true;
}

/**
 * Waits for the deployment of its service and environment ahead of it; starts once told it
 * may, with the releases its hosts run by then (what a rollback returns them to).
 */
function queued(s: StepBuilder, now: number, ctx: StepContext): void {
  const d = s.d;
  if (d.cancelRequested) {
    d.deadline = null;
    return s.setState('cancelled', 'cancelled while queued; nothing was done');
  }
  // Rejected, or not approved in time, while it waited: ends as it would have later.
  const a = d.approval;
  if (a && (a.rejected || now >= a.expiresAt)) return awaitApproval(s, now);
  if (!ctx.start) return;
  for (const h of d.hosts) s.setPrevious(h, ctx.start.previous.get(h.hostId) ?? null);
  d.queuedBehind = null;
  // Approvals, if asked for, were being gathered meanwhile.
  s.setState(d.approval ? 'awaiting_approval' : 'staging', null);
}

/** Starts staging once approved; ends it if cancelled, rejected or past its expiry. */
function awaitApproval(s: StepBuilder, now: number): void {
  const d = s.d;
  const a = d.approval;
  if (!a) return s.setState('staging');
  if (a.rejected) {
    d.deadline = null;
    return s.setState('rejected', `rejected by ${a.rejected.by}: ${a.rejected.reason}`);
  }
  if (d.cancelRequested) {
    d.deadline = null;
    return s.setState('cancelled', 'cancelled while awaiting approval; nothing was staged');
  }
  if (a.approvals.length >= a.required) {
    // Staging sets its own deadline.
    d.deadline = null;
    return s.setState('staging', null);
  }
  // Not held back by a restarted control plane's grace: approvers, not hosts, were waited on.
  if (now >= a.expiresAt) {
    d.deadline = null;
    return s.setState(
      'expired',
      `not approved in time: ${a.approvals.length} of ${a.required} approval(s) by ${new Date(a.expiresAt).toISOString()}`,
    );
  }
}

/**
 * Stages the release: on every host, or (per-wave staging) on the hosts of the wave about to
 * start, then activates its first batch. With per-wave staging, a wave after the first may be
 * staged while earlier ones run the release: a failure or a cancellation then rolls those back.
 */
function stage(
  s: StepBuilder,
  obs: ReadonlyMap<string, HostObservation>,
  now: number,
  timing: StepContext,
): void {
  const d = s.d;
  const round = stagedNow(d);
  const activated = d.currentBatch > 0;
  if (d.cancelRequested) {
    if (activated) return startRevert(s, now, timing, 'cancelled while staging the next wave');
    for (const h of d.hosts) s.goal({ hostId: h.hostId, stage: null });
    return s.setState('cancelled', 'cancelled while staging; nothing was activated');
  }
  if (d.deadline === null) {
    d.deadline = now + timing.stageTimeoutMs;
    for (const h of round) {
      s.goal({ hostId: h.hostId, stage: d.release });
      // A host that has the release already (a rollback, a release staged before) fetches
      // nothing: it is staged at once, and says so, rather than seen `staging` for an instant.
      const o = obs.get(h.hostId);
      if (!o?.removed && o?.staged.includes(d.release)) s.setHost(h, 'staged', ALREADY_ON_DISK);
      else s.setHost(h, 'staging');
    }
  }
  for (const h of round) {
    if (h.state !== 'staging') continue;
    const o = obs.get(h.hostId);
    if (o?.removed) s.setHost(h, 'failed', HOST_REMOVED);
    else if (o?.staged.includes(d.release)) s.setHost(h, 'staged');
    else if (o?.stagingFailed?.version === d.release) s.setHost(h, 'failed', o.stagingFailed.error);
  }
  const failed = round.filter((h) => h.state === 'failed');
  const waiting = round.filter((h) => h.state === 'staging');
  if (failed.length === 0 && waiting.length > 0 && pastDeadline(d, now, timing)) {
    for (const h of waiting) s.setHost(h, 'failed', 'not staged before the deadline');
  }
  const nowFailed = round.filter((h) => h.state === 'failed');
  if (nowFailed.length > 0) {
    const first = nowFailed[0]!;
    const why = `staging failed on ${nowFailed.length} host(s), first ${first.hostName}: ${first.detail ?? 'unknown error'}`;
    if (activated) return startRevert(s, now, timing, why);
    return s.setState('failed', `${why}; nothing was activated`);
  }
  if (round.some((h) => h.state === 'staging')) return;
  if (d.kind === 'stage') {
    d.deadline = null;
    return s.setState('succeeded', null);
  }
  const next = d.currentBatch;
  if (pauseBefore(s, next, timing)) return;
  d.currentBatch = next;
  s.setState('activating');
  startBatch(s, now, timing);
}

/** The hosts a staging round stages: every one, or those of the wave about to start. */
function stagedNow(d: Deployment): DeploymentHost[] {
  if (!d.stagePerWave) return d.hosts;
  const w = d.waves?.[waveOf(d, d.currentBatch)];
  if (!w) return d.hosts;
  return d.hosts.filter((h) => h.batch >= w.firstBatch && h.batch < w.firstBatch + w.batchCount);
}

/**
 * Goes on with batch `currentBatch`: staging its wave first when waves are staged one at a time
 * and its hosts have not been, else activating it.
 */
function goOn(s: StepBuilder, now: number, timing: StepContext): void {
  const d = s.d;
  if (d.stagePerWave && stagedNow(d).some((h) => h.state === 'pending')) {
    d.deadline = null;
    return s.setState('staging', null);
  }
  if (d.state !== 'activating') s.setState('activating', null);
  startBatch(s, now, timing);
}

function startBatch(s: StepBuilder, now: number, timing: StepContext): void {
  const d = s.d;
  const batch = d.hosts.filter((h) => h.batch === d.currentBatch);
  d.deadline = now + timing.activateTimeoutMs;
  s.other({
    type: 'batch.started',
    batch: d.currentBatch,
    hosts: batch.map((h) => h.hostName),
  });
  for (const h of batch) {
    s.goal({ hostId: h.hostId, active: d.release });
    s.setHost(h, 'activating');
  }
}

function activate(
  s: StepBuilder,
  obs: ReadonlyMap<string, HostObservation>,
  now: number,
  timing: StepContext,
): void {
  const d = s.d;
  if (d.cancelRequested) return startRevert(s, now, timing, 'cancelled during activation');
  const batch = d.hosts.filter((h) => h.batch === d.currentBatch);
  for (const h of batch) {
    if (h.state !== 'activating') continue;
    if (obs.get(h.hostId)?.removed) {
      s.setHost(h, 'failed', HOST_REMOVED);
      continue;
    }
    const failedFirst = obs.get(h.hostId)?.activationFailed;
    if (failedFirst?.version === d.release) {
      s.setHost(h, 'failed', failedFirst.error);
      continue;
    }
    const a = obs.get(h.hostId)?.active;
    if (a?.version !== d.release) continue;
    if (a.state === 'healthy') s.setHost(h, 'healthy');
    else if (a.state === 'unhealthy' || a.state === 'stopped')
      s.setHost(h, 'failed', a.detail ?? 'unhealthy');
  }
  if (pastDeadline(d, now, timing)) {
    for (const h of batch) {
      if (h.state === 'activating') s.setHost(h, 'failed', 'not healthy before the deadline');
    }
  }
  const failed = batch.filter((h) => h.state === 'failed');
  const threshold = thresholdOf(d, d.currentBatch);
  if (failed.length > threshold) {
    const first = failed[0]!;
    return startRevert(
      s,
      now,
      timing,
      `batch ${d.currentBatch + 1}/${d.batchCount}: ${failed.length} host(s) failed health (threshold ${threshold}), first ${first.hostName}: ${first.detail ?? 'unhealthy'}`,
    );
  }
  if (batch.some((h) => h.state === 'activating')) return;
  const wave = bakesAfter(d, d.currentBatch);
  if (wave >= 0) return startBake(s, now, wave);
  nextBatch(s, now, timing);
}

/** The batch after the current one (pausing first when asked to), or success after the last. */
function nextBatch(s: StepBuilder, now: number, timing: StepContext): void {
  const d = s.d;
  if (d.currentBatch + 1 < d.batchCount) {
    if (pauseBefore(s, d.currentBatch + 1, timing)) return;
    d.currentBatch += 1;
    return goOn(s, now, timing);
  }
  d.deadline = null;
  const failedTotal = d.hosts.filter((h) => h.state === 'failed').length;
  s.setState(
    'succeeded',
    failedTotal > 0 ? `${failedTotal} host(s) failed within the failure threshold` : null,
  );
}

function startRevert(s: StepBuilder, now: number, timing: StepContext, reason: string): void {
  const d = s.d;
  d.deadline = now + timing.revertTimeoutMs;
  if (d.bake) d.bake = null;
  // Said first: the hosts' moves back follow from it.
  s.setState('rolling_back', reason);
  for (const h of d.hosts) {
    if (h.state === 'activating' || h.state === 'healthy' || h.state === 'failed') {
      s.goal({ hostId: h.hostId, active: h.previous });
      s.setHost(h, 'reverting', h.detail);
    }
  }
}

function revert(
  s: StepBuilder,
  obs: ReadonlyMap<string, HostObservation>,
  now: number,
  timing: StepContext,
): void {
  const d = s.d;
  for (const h of d.hosts) {
    if (h.state !== 'reverting') continue;
    const o = obs.get(h.hostId);
    if (!o) continue;
    // A removed host runs nothing of ours any more: there is nothing to wait for.
    if (o.removed) {
      s.setHost(h, 'reverted', HOST_REMOVED);
      continue;
    }
    const a = o.active;
    const back =
      h.previous === null
        ? a === null || a.state === 'stopped'
        : a?.version === h.previous && a.state === 'healthy';
    if (back) s.setHost(h, 'reverted', h.detail);
  }
  const waiting = d.hosts.filter((h) => h.state === 'reverting');
  if (waiting.length > 0 && (d.deadline === null || !pastDeadline(d, now, timing))) return;
  d.deadline = null;
  const end = d.cancelRequested ? 'cancelled' : 'rolled_back';
  const stuck = waiting.map((h) => h.hostName);
  s.setState(
    end,
    stuck.length > 0
      ? `${d.reason ?? ''}; not confirmed back on the previous release: ${stuck.join(', ')}`
      : d.reason,
  );
}
