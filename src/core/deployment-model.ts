/**
 * What a deployment is: its kinds and states, its hosts' states, what hosts report, the goal
 * changes and events a step makes. Plain data; the state machine is deployment.ts.
 */

/** What a deployment does: roll out a release, roll back to an older one, or only pre-position it. */
export type DeploymentKind = 'deploy' | 'rollback' | 'stage';

export type DeploymentState =
  | 'awaiting_approval'
  | 'staging'
  | 'activating'
  | 'paused'
  | 'rolling_back'
  | 'succeeded'
  | 'failed'
  | 'rolled_back'
  | 'cancelled'
  | 'rejected'
  | 'expired';

export const TERMINAL_STATES: readonly DeploymentState[] = [
  'succeeded',
  'failed',
  'rolled_back',
  'cancelled',
  'rejected',
  'expired',
];

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
export type HostStepState =
  'pending' | 'staging' | 'staged' | 'activating' | 'healthy' | 'failed' | 'reverting' | 'reverted';

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
  /** What it waits for or waited for before staging; null (or absent, before approvals existed): nothing. */
  approval?: Approval | null;
}

/** What one host last said about the service being deployed. */
export interface HostObservation {
  /** The host was removed by an operator: it will never report again. */
  removed?: boolean;
  /** Releases materialized on the host. */
  staged: number[];
  /** A release whose staging failed, with why. */
  stagingFailed: { version: number; error: string } | null;
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
  | { type: 'batch.started'; batch: number; hosts: string[] };

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

export interface Step {
  deployment: Deployment;
  /** The deployment's hosts whose state or detail this step changed (as in `deployment`). */
  moved: DeploymentHost[];
  goals: GoalChange[];
  events: DeploymentEvent[];
}

/** True once the deployment has ended, whatever the outcome. */
export function isTerminal(state: DeploymentState): boolean {
  return TERMINAL_STATES.includes(state);
}
