/**
 * The contract of an activation hook and the context every hook of one activation shares.
 * Hooks talk to each other only through the context: each reads what earlier hooks set and
 * sets what later ones need, so a new concern is one more hook in the list (see pipeline.ts).
 */
import type { RunSpec } from '../../core/index.js';
import type { GoalRelease, ServiceReport } from '../../api/index.js';
import type { ProcessExit } from '../../executor/index.js';
import type { HostLayout } from '../host-layout.js';
import type { PublicPorts } from '../public-ports.js';

/** What the host reports about the release it runs: ServiceReport's `active`. */
export type ActiveStatus = NonNullable<ServiceReport['active']>;

/** The service process, as the hooks after the one that started it see it. */
export interface RunningProcess {
  readonly running: boolean;
  /** Restarts since it was first started. */
  readonly restarts: number;
  /** How it first ended since it was started (null: it never did). */
  readonly firstExit: ProcessExit | null;
  /** Calls `listener` at every exit from now on; returns what stops that. */
  onExit(listener: (exit: ProcessExit) => void): () => void;
}

/**
 * A process an earlier agent started for this very release and left running (the agent was
 * killed or upgraded): the activation takes it over instead of starting one, with the port it
 * listens on. The service runner checked that it is that process (pid and start time) and that
 * it runs this release.
 */
export interface AdoptedProcess {
  readonly pid: number;
  readonly startTime: string;
  readonly port: number | null;
}

/** The activation a new one replaces. */
export interface ReplacedActivation {
  readonly version: number;
  /** The port it was activated on (null: none). */
  readonly port: number | null;
  /** Whether it still runs: it stops when something stops it, or when it failed. */
  readonly live: boolean;
  /** Stops it; calling again waits for the same stop. */
  stop(): Promise<void>;
}

/** One activation of one release: what its hooks know, and what they may change. */
export interface ActivationContext {
  readonly service: string;
  readonly hostName: string;
  readonly release: GoalRelease;
  readonly layout: HostLayout;
  /**
   * The activation this one replaces, still running until a hook stops it (`switch` does, first
   * thing); a hook that wants the old release to serve on meanwhile stops it later instead.
   * Whatever is still running of it is stopped with this activation.
   */
  readonly previous: ReplacedActivation | null;
  /** The running process this activation takes over rather than starting one (null: none). */
  readonly adopt: AdoptedProcess | null;
  /** Aborted once this activation is not wanted any more: a hook that waits should end early. */
  readonly signal: AbortSignal;
  /** The release's directory, the process's working directory: `switch` resolves its links. */
  dir: string;
  /** The port the service listens on, from `port` (null: it listens on none). */
  port: number | null;
  /** The process's complete environment: hooks add to it; a later hook's value wins. */
  env: Record<string, string>;
  /** The command that runs the service: the release's, unless a hook wraps it. */
  run: RunSpec;
  /** The service process, once `supervisor` started it. */
  process: RunningProcess | null;
  /** What the host reports for this release, once `publish` made it the service's status. */
  readonly status: ActiveStatus;
  /** Makes `status` what the host reports for the service, and reports it. */
  publish(): void;
  /** Whether `status` is still what the host reports (no newer activation, no deactivation). */
  isCurrent(): boolean;
  /** Something in `status` changed: report it. */
  changed(): void;
  /** The port another service on this host listens on, when it runs here. */
  portOf(service: string): number | null;
  /** The host's public ports (services that `publish` one). */
  readonly publicPorts: PublicPorts;
  log(msg: string): void;
}

/**
 * One concern of an activation. Phases run hook after hook in list order: every `prepare`,
 * then every `start`, then every `verify`, then every `commit`. `stop` runs in reverse order,
 * for every hook whose `prepare` phase was reached, when the activation fails or is stopped:
 * it must cope with its own phases not having run, and with running twice.
 */
export interface ActivationHook {
  /** Names the hook in failure reasons and logs. */
  readonly name: string;
  /** Works out what the release will run with; nothing is started yet. */
  prepare?(ctx: ActivationContext): Promise<void> | void;
  /** Starts what runs. */
  start?(ctx: ActivationContext): Promise<void> | void;
  /**
   * Checks what started. A hook that finds the release unhealthy sets `status.state` to
   * `unhealthy` rather than throwing: the release keeps running for the control plane to roll
   * back, and no later `verify` or `commit` runs.
   */
  verify?(ctx: ActivationContext): Promise<void> | void;
  /** Runs once the release was verified and is still wanted. */
  commit?(ctx: ActivationContext): Promise<void> | void;
  /** Undoes what `start` (or `prepare`) left running. */
  stop?(ctx: ActivationContext): Promise<void> | void;
  /**
   * The agent stops: lets go of what runs without stopping it, for the next agent to take over
   * (a hook without `leave` is stopped instead: it must hold nothing a service needs).
   */
  leave?(ctx: ActivationContext): Promise<void> | void;
}
