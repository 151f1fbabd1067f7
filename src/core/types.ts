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
  /**
   * The waves it goes in, in order (absent or empty: one wave of every host, without a bake).
   * Each takes its hosts from those the waves before it left.
   */
  waves?: WaveSpec[];
  /** `per-wave`: each wave's hosts are staged just before it starts (default: all first). */
  stage?: 'all' | 'per-wave';
}

/** One wave of a rollout: which hosts, in what batches, and how long it must prove itself. */
export interface WaveSpec {
  name: string;
  /** How many hosts (a percentage: of all the deployment's hosts); null: every one left. */
  hosts: Amount | null;
  /** Regions it takes hosts from (empty: any). */
  regions: string[];
  /** Its batch size and failure threshold; null: the rollout's. */
  batchSize: Amount | null;
  failureThreshold: Amount | null;
  /** How long its hosts must stay healthy, with its gates holding, before the next wave (ms). */
  bakeMs: number;
  gates: GateSpec[];
}

/**
 * A metric a wave holds on during its bake: a number from an HTTP endpoint (its body), or the
 * value of a PromQL query; the wave fails when it leaves [min, max] or cannot be read.
 */
export type GateSpec =
  | { kind: 'http'; url: string; min: number | null; max: number | null }
  | { kind: 'prometheus'; url: string; query: string; min: number | null; max: number | null };

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
  /** Commands the agent runs around an activation (absent: none). */
  hooks?: LifecycleHooks;
  /** A fixed public port kept serving while releases change (absent: none). */
  publish?: PublishSpec;
}

/**
 * A public port switched between releases without refusing a connection: each release listens
 * on its own PORT; once a new one is healthy the public port points at it, and the old one is
 * stopped `drainMs` later. `via`: the kernel (nftables) or the agent relaying (proxy); `auto`
 * takes nftables where the agent may change the host's firewall.
 */
export interface PublishSpec {
  port: number;
  drainMs: number;
  via: 'auto' | 'nftables' | 'proxy';
}

/**
 * Commands run by the agent in the release's directory, with the service's environment, each
 * within `timeoutMs`. A failing `beforeActivate` fails the host before anything is stopped (the
 * running release serves on); a failing `validate` (after the health check) or `afterActivate`
 * (once it is healthy) counts as a failed health check.
 */
export interface LifecycleHooks {
  beforeActivate: RunSpec | null;
  validate: RunSpec | null;
  afterActivate: RunSpec | null;
  timeoutMs: number;
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
