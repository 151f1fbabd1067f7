/** Turns a service, its target hosts and their current releases into a deployment plan. */
import type {
  Deployment,
  DeploymentHost,
  DeploymentKind,
  DeploymentWave,
} from './deployment-model.js';
import type { HostInfo, RolloutSpec, WaveSpec } from './types.js';
import { resolveAmount } from './amount.js';

export interface PlanInput {
  id: string;
  service: string;
  environment: string;
  kind: DeploymentKind;
  release: number;
  /** Target hosts, in rollout order. */
  hosts: HostInfo[];
  /** The release active on each host now (absent: none). */
  previous: ReadonlyMap<string, number | null>;
  rollout: RolloutSpec;
  /**
   * Approvals it must gather first (the environment's policy; `approvalsFor`): it waits in
   * `awaiting_approval` until `expiresAt`.
   */
  approval?: { required: number; requestedBy: string; expiresAt: number };
}

/**
 * Plans a deployment: every host is staged first, then activated in batches of the rollout's
 * batch size. Hosts are batched region by region, so a bad release shows up in one region first.
 * With waves, each wave takes its hosts from those left (in order), batches them with its own
 * batch size and threshold, and the batches are numbered across waves.
 */
export function planDeployment(input: PlanInput): Deployment {
  const specs = input.rollout.waves ?? [];
  const planned =
    specs.length > 0
      ? planWaves(input.hosts, specs, input.rollout)
      : [{ hosts: input.hosts, ...batching(input.hosts.length, input.rollout, null), spec: null }];
  const hosts: DeploymentHost[] = [];
  const waves: DeploymentWave[] = [];
  let firstBatch = 0;
  for (const w of planned) {
    w.hosts.forEach((h, i) =>
      hosts.push({
        hostId: h.id,
        hostName: h.name,
        region: h.region,
        batch: firstBatch + Math.floor(i / w.batchSize),
        previous: input.previous.get(h.id) ?? null,
        state: 'pending',
        detail: null,
      }),
    );
    const batchCount = Math.ceil(w.hosts.length / w.batchSize);
    if (w.spec) {
      waves.push({
        name: w.spec.name,
        firstBatch,
        batchCount,
        failureThreshold: w.failureThreshold,
        bakeMs: w.spec.bakeMs,
        gates: w.spec.gates,
      });
    }
    firstBatch += batchCount;
  }
  const first = planned[0]!;
  return {
    id: input.id,
    service: input.service,
    environment: input.environment,
    kind: input.kind,
    release: input.release,
    state: input.approval ? 'awaiting_approval' : 'staging',
    currentBatch: 0,
    batchCount: Math.max(1, firstBatch),
    failureThreshold: first.failureThreshold,
    hosts,
    deadline: input.approval?.expiresAt ?? null,
    reason: null,
    cancelRequested: false,
    approval: input.approval ? { ...input.approval, approvals: [], rejected: null } : null,
    ...(waves.length > 0 && { waves, bake: null }),
    ...(waves.length > 0 && input.rollout.stage === 'per-wave' && { stagePerWave: true }),
  };
}

/** A batch size and failure threshold for `count` hosts: the wave's, else the rollout's. */
function batching(
  count: number,
  rollout: RolloutSpec,
  spec: WaveSpec | null,
): { batchSize: number; failureThreshold: number } {
  const batchSize = Math.max(1, resolveAmount(spec?.batchSize ?? rollout.batchSize, count, 1));
  const threshold = spec?.failureThreshold ?? rollout.failureThreshold;
  return { batchSize, failureThreshold: resolveAmount(threshold, batchSize) };
}

/**
 * Each wave's hosts, in order: those of its regions (any, when it names none) among the hosts
 * the waves before it left, as many as it asks for (a percentage: of all the hosts). Hosts no
 * wave took go to the last.
 */
function planWaves(
  hosts: readonly HostInfo[],
  specs: readonly WaveSpec[],
  rollout: RolloutSpec,
): { hosts: HostInfo[]; batchSize: number; failureThreshold: number; spec: WaveSpec }[] {
  let left = [...hosts];
  return specs.map((spec, i) => {
    const regions = new Set(spec.regions);
    const candidates = left.filter((h) => regions.size === 0 || regions.has(h.region));
    const want = spec.hosts ? resolveAmount(spec.hosts, hosts.length, 1) : candidates.length;
    const taken = new Set(candidates.slice(0, want));
    let mine = candidates.filter((h) => taken.has(h));
    left = left.filter((h) => !taken.has(h));
    if (i === specs.length - 1) {
      mine = [...mine, ...left];
      left = [];
    }
    return { hosts: mine, ...batching(mine.length, rollout, spec), spec };
  });
}
