/** Turns a service, its target hosts and their current releases into a deployment plan. */
import type { Deployment, DeploymentHost, DeploymentKind } from './deployment-model.js';
import type { HostInfo, RolloutSpec } from './types.js';
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
 */
export function planDeployment(input: PlanInput): Deployment {
  const total = input.hosts.length;
  const batchSize = Math.max(1, resolveAmount(input.rollout.batchSize, total, 1));
  const hosts: DeploymentHost[] = input.hosts.map((h, i) => ({
    hostId: h.id,
    hostName: h.name,
    region: h.region,
    batch: Math.floor(i / batchSize),
    previous: input.previous.get(h.id) ?? null,
    state: 'pending',
    detail: null,
  }));
  return {
    id: input.id,
    service: input.service,
    environment: input.environment,
    kind: input.kind,
    release: input.release,
    state: input.approval ? 'awaiting_approval' : 'staging',
    currentBatch: 0,
    batchCount: Math.max(1, Math.ceil(total / batchSize)),
    failureThreshold: resolveAmount(input.rollout.failureThreshold, batchSize),
    hosts,
    deadline: input.approval?.expiresAt ?? null,
    reason: null,
    cancelRequested: false,
    approval: input.approval ? { ...input.approval, approvals: [], rejected: null } : null,
  };
}
