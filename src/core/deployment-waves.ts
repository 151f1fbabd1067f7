/**
 * Waves of a deployment: which wave a batch belongs to, its failure threshold, and the bake a
 * wave goes through once its last batch is healthy: its hosts must stay healthy and its gates
 * hold until the bake time has passed, or every host the deployment touched goes back.
 */
import {
  HOST_REMOVED,
  type Deployment,
  type HostObservation,
  type StepContext,
} from './deployment-model.js';
import type { StepBuilder } from './step-builder.js';

/** The index of the wave batch `batch` belongs to; -1 when the deployment has no waves. */
export function waveOf(d: Deployment, batch: number): number {
  const waves = d.waves ?? [];
  for (let i = 0; i < waves.length; i++) {
    const w = waves[i]!;
    if (batch >= w.firstBatch && batch < w.firstBatch + w.batchCount) return i;
  }
  return -1;
}

/** Failed hosts allowed in batch `batch`: its wave's threshold, else the deployment's. */
export function thresholdOf(d: Deployment, batch: number): number {
  const i = waveOf(d, batch);
  return i < 0 ? d.failureThreshold : d.waves![i]!.failureThreshold;
}

/** The wave that bakes once batch `batch` is healthy (it is the wave's last); -1: none. */
export function bakesAfter(d: Deployment, batch: number): number {
  const i = waveOf(d, batch);
  if (i < 0) return -1;
  const w = d.waves![i]!;
  const last = batch === w.firstBatch + w.batchCount - 1;
  return last && (w.bakeMs > 0 || w.gates.length > 0) ? i : -1;
}

/** The wave batch `batch` starts, if it starts one. */
export function waveStartedBy(d: Deployment, batch: number): string | null {
  const w = (d.waves ?? []).find((x) => x.batchCount > 0 && x.firstBatch === batch);
  return w ? w.name : null;
}

export function startBake(s: StepBuilder, now: number, wave: number): void {
  const w = s.d.waves![wave]!;
  const until = now + w.bakeMs;
  s.d.bake = { wave, until, readings: [] };
  s.d.deadline = until;
  s.setState('baking', null);
  s.other({ type: 'wave.baking', wave: w.name, until, gates: w.gates.length });
}

/**
 * One look at a baking wave: a host of it that turned unhealthy fails; a batch over its
 * threshold, or a gate out of bounds or unreadable, fails the wave (`failed`, with why); the
 * bake over with every gate read since and holding, it passes (`passed`).
 */
export function bake(
  s: StepBuilder,
  obs: ReadonlyMap<string, HostObservation>,
  now: number,
  ctx: StepContext,
  passed: () => void,
  failed: (reason: string) => void,
): void {
  const d = s.d;
  const b = d.bake!;
  const w = d.waves![b.wave]!;
  if (d.cancelRequested) return failed(`cancelled while wave ${w.name} baked`);
  for (const h of d.hosts) {
    if (h.state !== 'healthy' || waveOf(d, h.batch) !== b.wave) continue;
    const o = obs.get(h.hostId);
    if (!o) continue;
    if (o.removed) s.setHost(h, 'failed', HOST_REMOVED);
    else if (o.active?.version !== d.release) s.setHost(h, 'failed', 'no longer runs the release');
    else if (o.active.state === 'unhealthy' || o.active.state === 'stopped')
      s.setHost(h, 'failed', `${o.active.detail ?? o.active.state} during the bake`);
  }
  for (let batch = w.firstBatch; batch < w.firstBatch + w.batchCount; batch++) {
    const down = d.hosts.filter((h) => h.batch === batch && h.state === 'failed');
    if (down.length > w.failureThreshold) {
      return failed(
        `wave ${w.name}: ${down.length} host(s) of batch ${batch + 1}/${d.batchCount} failed during the bake (threshold ${w.failureThreshold}), first ${down[0]!.hostName}: ${down[0]!.detail ?? 'unhealthy'}`,
      );
    }
  }
  const v = ctx.gates;
  if (w.gates.length > 0 && v) {
    // A reading is recorded (and told) once: steps come more often than gates are read.
    if (b.readings[0]?.at !== v.readings[0]?.at) {
      d.bake = { ...b, readings: v.readings };
      s.other({ type: 'wave.gates', wave: w.name, readings: v.readings });
    }
    const bad = v.readings.find((r) => !r.ok);
    if (bad) return failed(`wave ${w.name}: gate ${bad.gate}: ${bad.problem ?? 'out of bounds'}`);
  }
  if (now < b.until) return;
  // Passed only on readings taken once the bake was over.
  if (w.gates.length > 0 && !(v && v.at >= b.until && v.readings.length === w.gates.length)) return;
  d.bake = null;
  s.other({ type: 'wave.passed', wave: w.name });
  passed();
}
