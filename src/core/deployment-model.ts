/**
 * What a deployment is: its kinds and states, its hosts' states, what hosts report, the goal
 * changes and events a step makes. Plain data; the state machine is deployment.ts.
 */
import type { GateSpec } from './types.js';

/** What a deployment does: roll out a release, roll back to an older one, or only pre-position it. */
export const DEPLOYMENT_KINDS = ['deploy', 'rollback', 'stage'] as const;
export type DeploymentKind = (typeof DEPLOYMENT_KINDS)[number];

export const DEPLOYMENT_STATES = [
  'queued',
  'awaiting_approval',
  'staging',
  'activating',
  'baking',
  'paused',
  'rolling_back',
  'succeeded',
  'failed',
  'rolled_back',
  'cancelled',
  'rejected',
  'expired',
] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

/** The states a deployment ends in: those from `succeeded` on. */
export const TERMINAL_STATES: readonly DeploymentState[] = DEPLOYMENT_STATES.slice(
  DEPLOYMENT_STATES.indexOf('succeeded'),
);

/**
 * Four eyes: a deployment to an environment whose policy asks for approvals waits for that many
 * distinct approvers, none of them the requester, before anything happens on a host.
 */
export interface Approval {
  required: number;
  /** Who asked for the deployment (`user:<name>`): may not approve it. */
  requestedBy: string;
  approvals: { by: string; at: number }[];
  /** When it expires unapproved (epoch ms). */
  expiresAt: number;
  rejected: { by: string; at: number; reason: string } | null;
}

/** Where one host is in a deployment. */
export const HOST_STEP_STATES = [
  'pending',
  'staging',
  'staged',
  'activating',
  'healthy',
  'failed',
  'reverting',
  'reverted',
] as const;
export type HostStepState = (typeof HOST_STEP_STATES)[number];

export interface DeploymentHost {
  hostId: string;
  hostName: string;
  region: string;
  batch: number;
  /** The release that was active on the host before this deployment (null: none). */
  previous: number | null;
  state: HostStepState;
  detail: string | null;
}

/** A wave of a deployment: a run of its batches, with how long they must prove themselves. */
export interface DeploymentWave {
  name: string;
  firstBatch: number;
  /** 0 when no host fell to it: it is passed at once. */
  batchCount: number;
  /** Failed hosts allowed per batch of this wave. */
  failureThreshold: number;
  bakeMs: number;
  gates: GateSpec[];
}

/** A gate's last reading during a bake. */
export interface GateReading {
  /** What it reads: the URL, or the PromQL query. */
  gate: string;
  /** The number read; null when it could not be read. */
  value: number | null;
  ok: boolean;
  /** Why it does not hold (out of bounds, unreadable); null when it holds. */
  problem: string | null;
  at: number;
}

/** What the gates of a baking wave said when the control plane last read them. */
export interface GateVerdict {
  readings: GateReading[];
  /** When they were read (epoch ms). */
  at: number;
}

export interface Deployment {
  id: string;
  service: string;
  environment: string;
  kind: DeploymentKind;
  /** The release version being rolled out. */
  release: number;
  state: DeploymentState;
  /** Index of the batch being activated (meaningful while activating). */
  currentBatch: number;
  batchCount: number;
  /** Failed hosts allowed per batch before the deployment halts. */
  failureThreshold: number;
  hosts: DeploymentHost[];
  /** When the current step times out (epoch ms), or null when no step is waiting. */
  deadline: number | null;
  reason: string | null;
  cancelRequested: boolean;
  /** Asked to stop before its next batch (`slipway pause`), until resumed; absent: no. */
  pauseRequested?: boolean;
  /** While queued: the deployment of the same service and environment it waits for. */
  queuedBehind?: string | null;
  /** Made with --break-glass over a closed deploy window or a freeze: its waves do not pause for them. */
  windowOverridden?: boolean;
  /** `window`: paused by itself at a wave boundary, its deploy window closed; resumes when it opens. */
  pausedBy?: 'window' | null;
  /** What it waits for or waited for before staging; null (or absent, before approvals existed): nothing. */
  approval?: Approval | null;
  /** Each wave's hosts staged just before the wave starts, not all first (absent: all first). */
  stagePerWave?: boolean;
  /** Its waves (absent or empty: one wave of every batch, without a bake). */
  waves?: DeploymentWave[];
  /** While baking: which wave, until when (epoch ms), and its gates' last readings. */
  bake?: { wave: number; until: number; readings: GateReading[] } | null;
}

/** What one host last said about the service being deployed. */
export interface HostObservation {
  /** The host was removed by an operator: it will never report again. */
  removed?: boolean;
  /** Releases materialized on the host. */
  staged: number[];
  /** A release whose staging failed, with why. */
  stagingFailed: { version: number; error: string } | null;
  /** A release whose activation failed before the running one was stopped, with why. */
  activationFailed?: { version: number; error: string } | null;
  active: {
    version: number;
    state: 'activating' | 'healthy' | 'unhealthy' | 'stopped';
    detail: string | null;
  } | null;
}

/** A change to one host's goal for the deployment's service; absent fields stay as they are. */
export interface GoalChange {
  hostId: string;
  stage?: number | null;
  active?: number | null;
}

export type DeploymentEvent =
  | { type: 'deployment.state'; state: DeploymentState; reason: string | null }
  | {
      /**
       * Hosts that moved to one state (with one detail) in one step: one event for them all, so
       * that a step over 10,000 hosts records a few events, not 10,000.
       */
      type: 'hosts.state';
      state: HostStepState;
      detail: string | null;
      hosts: { hostId: string; hostName: string }[];
    }
  | { type: 'batch.started'; batch: number; hosts: string[] }
  | { type: 'wave.baking'; wave: string; until: number; gates: number }
  | { type: 'wave.passed'; wave: string }
  | { type: 'wave.gates'; wave: string; readings: GateReading[] };

export interface Timing {
  stageTimeoutMs: number;
  activateTimeoutMs: number;
  revertTimeoutMs: number;
  /**
   * No deadline passes before this time. A control plane that has just started has not yet
   * heard from the hosts: time it was down must not count as their failing to report.
   */
  deadlinesNotBefore?: number;
}

/** What a step knows besides the hosts' reports: deadlines, gate readings, the deploy window. */
export interface StepContext extends Timing {
  /** The baking wave's gates as last read (null or absent: not read since the bake began). */
  gates?: GateVerdict | null;
  /**
   * Set while the environment's deploy windows are closed (or a freeze is on): why, and until
   * when. A deployment reaching the start of a wave then pauses until they open.
   */
  windowClosed?: string | null;
  /**
   * For a queued deployment: set once no other deployment of its service and environment is
   * under way (and none queued before it), with the release each host runs now (absent: none).
   */
  start?: { previous: ReadonlyMap<string, number | null> } | null;
}

export interface Step {
  deployment: Deployment;
  /** The deployment's hosts whose state, detail or previous release this step changed. */
  moved: DeploymentHost[];
  goals: GoalChange[];
  events: DeploymentEvent[];
}

/** Why a host that was removed during a deployment stopped counting. */
export const HOST_REMOVED = 'the host was removed (slipway hosts remove)';

/** The detail of a host staged at once: it had the release on disk, there was nothing to fetch. */
export const ALREADY_ON_DISK = 'already on disk';

/** True once the deployment has ended, whatever the outcome. */
export function isTerminal(state: DeploymentState): boolean {
  return TERMINAL_STATES.includes(state);
}
