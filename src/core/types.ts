/** Domain types shared by every part of Slipway. Plain data, no behaviour. */
import type { DeployWindow, Freeze } from './deploy-windows.js';

/** How a service is started: an argv array (no shell), or a shell string run by `/bin/sh -c`. */
export type RunSpec = { argv: string[] } | { shell: string };

/** A count of hosts, either absolute or as a percentage of the hosts concerned. */
export type Amount = { count: number } | { percent: number };

/** What a health check probes. */
export type HealthProbe =
  { kind: 'http'; path: string } | { kind: 'tcp' } | { kind: 'command'; run: RunSpec };

/** A health check with its timings, all in milliseconds. */
export interface HealthSpec {
  probe: HealthProbe;
  /** Time one probe may take. */
  timeoutMs: number;
  /** Time between probes. */
  intervalMs: number;
  /** Consecutive successes that make the service healthy. */
  healthyAfter: number;
  /** How long an activation may take to become healthy before it counts as failed. */
  deadlineMs: number;
}

/** Hosts selected by region and labels; empty lists/maps select everything. */
export interface HostSelector {
  regions: string[];
  labels: Record<string, string>;
}

/** How a release is rolled out over hosts. */
export interface RolloutSpec {
  batchSize: Amount;
  /** Hosts of one batch allowed to fail health before the deployment halts and rolls back. */
  failureThreshold: Amount;
}

/** A service of the service map, with defaults filled in. */
export interface ServiceSpec {
  name: string;
  run: RunSpec;
  /** A fixed port, `dynamic` (the agent picks a free one), or null when the service listens on none. */
  port: number | 'dynamic' | null;
  env: Record<string, string>;
  health: HealthSpec | null;
  after: string[];
  placement: HostSelector;
  rollout: RolloutSpec;
  /** Releases kept on each host for instant rollback. */
  keepReleases: number;
}

/** Per-service overrides an environment may set. */
export interface ServiceOverride {
  env?: Record<string, string>;
  rollout?: Partial<RolloutSpec>;
}

/** An environment: which hosts it spans and what it overrides. */
export interface EnvironmentSpec {
  name: string;
  hosts: HostSelector;
  env: Record<string, string>;
  services: Record<string, ServiceOverride>;
  /** What a deployment to it must satisfy (absent in maps applied before policies existed). */
  policy?: EnvironmentPolicy;
}

export interface EnvironmentPolicy {
  /** Distinct approvers, other than the requester, a deployment needs before it starts (0: none). */
  approvals: number;
  /** How long a deployment waits for them before it expires. */
  approvalTimeoutMs: number;
  /** When deployments may start (none: any time). Absent in maps applied before windows existed. */
  windows?: DeployWindow[];
  /** When they may not, whatever the windows say. */
  freezes?: Freeze[];
  /** The environment a release must have succeeded in before it deploys here (null: none). */
  promoteFrom?: string | null;
}

/** The whole validated service map. */
export interface ServiceMap {
  regions: string[];
  services: Record<string, ServiceSpec>;
  environments: Record<string, EnvironmentSpec>;
}

/** A registered host as the control plane sees it. */
export interface HostInfo {
  id: string;
  name: string;
  region: string;
  labels: Record<string, string>;
}

/** The configuration a release carries: the service spec with its environment's overrides applied. */
export type ReleaseConfig = ServiceSpec;
