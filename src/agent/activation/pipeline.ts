/**
 * Activating a release: a list of hooks run phase by phase (see ActivationHook), and the
 * activation they make, which runs until it is stopped.
 */
import type { GoalRelease } from '../../api/index.js';
import type { HostLayout } from '../host-layout.js';
import type { PublicPorts } from '../public-ports.js';
import { announceHook } from './announce.js';
import { lifecycleHook } from './commands.js';
import { envHook } from './env.js';
import { healthHook } from './health.js';
import type {
  ActivationContext,
  AdoptedProcess,
  ActivationHook,
  ActiveStatus,
  ReplacedActivation,
} from './hook.js';
import { portHook } from './port.js';
import { publishHook } from './publish.js';
import { supervisorHook } from './supervisor.js';
import { switchHook } from './switch.js';

/**
 * The hooks of an activation, fresh for each one (a hook keeps what it started), in the order
 * they run:
 *
 * 0. `beforeActivate` runs the service's hook of that name, if it has one, before anything is
 *    stopped: when it fails, the release being replaced serves on (see commands.ts). Its
 *    `afterActivate` runs last, once the release is healthy.
 * 1. `switch` stops the release being replaced, then points `current` at the new one. First,
 *    because the old process must be gone before `port` looks at its port: a dynamic port is
 *    kept only if it can be bound, and a fixed one could not be bound by the new process.
 * 2. `port` chooses the port: `announce`, `env` and `health` need it.
 * 3. `announce` reports the release `activating`, on its port, from here on: services that
 *    start after it find its port, and the control plane sees the activation while any slower
 *    hook after it works.
 * 4. `env` builds the environment from the port and the ports of the services this one comes
 *    after. A hook that adds variables (secrets) goes after it: a later value wins.
 * 5. `supervisor` starts the process with that environment (start) and stops it (stop). A hook
 *    that must run before the process (a pre-activate command in `start`, a sandbox wrapping
 *    `run` in `prepare`) goes before it.
 * 6. `health` waits for the process to become healthy (verify) and for the service's `validate`
 *    hook to pass, then watches it; being after
 *    `supervisor`, it is stopped first, so no probe sees the process go down. A hook that must
 *    run only on a healthy release (a post-activate command) uses `commit`, or `verify` after it.
 *
 * Taking over a process an earlier agent left running (`ctx.adopt`) runs the same hooks: `port`
 * keeps the port it listens on, `env` reads the environment it runs with, `supervisor` watches
 * it instead of starting one, and `health` checks it as any other.
 *
 * A zero-downtime switch replaces `switch`: it leaves `previous` running, moves the new process
 * to a port of its own in `prepare` (after `announce`, which reports the service's port), and
 * in `commit`, once the new release is healthy, turns traffic over and stops `previous`.
 */
export function activationHooks(release: GoalRelease): ActivationHook[] {
  return [
    lifecycleHook(),
    release.config.publish ? publishHook() : switchHook(),
    portHook(),
    announceHook(),
    envHook(),
    supervisorHook(),
    healthHook(),
  ];
}

/** What the service runner gives an activation. */
export interface ActivationInput {
  service: string;
  hostName: string;
  release: GoalRelease;
  layout: HostLayout;
  previous: ReplacedActivation | null;
  /** A process an earlier agent left running this release, to take over (see AdoptedProcess). */
  adopt?: AdoptedProcess | null;
  /** Makes `status` what the host reports for the service, and reports it. */
  publish: (status: ActiveStatus) => void;
  /** Whether `status` is what the host reports for the service. */
  isCurrent: (status: ActiveStatus) => boolean;
  /** Something in the reported status changed. */
  changed: () => void;
  portOf: (service: string) => number | null;
  publicPorts: PublicPorts;
  log: (msg: string) => void;
}

/** One release, activated by a list of hooks: run it once, stop it once. */
export class Activation implements ReplacedActivation {
  private readonly ctx: ActivationContext;
  private readonly abortController = new AbortController();
  /** Hooks whose `prepare` phase was reached: the ones to stop. */
  private readonly entered: ActivationHook[] = [];
  private replaced: ReplacedActivation | null;
  private hooksStopped: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;

  constructor(
    private readonly hooks: readonly ActivationHook[],
    input: ActivationInput,
  ) {
    const { service, release, layout, previous, publish, isCurrent } = input;
    this.replaced = previous;
    const status: ActiveStatus = {
      version: release.version,
      state: 'activating',
      detail: null,
      port: null,
      pid: null,
    };
    // The replaced activation is reached through `this` only, so that it can be let go once
    // stopped: a chain of every activation since the agent started would otherwise stay alive.
    const replaced = (): ReplacedActivation | null => this.replaced;
    this.ctx = {
      service,
      hostName: input.hostName,
      release,
      layout,
      previous: previous && {
        version: previous.version,
        port: previous.port,
        get live() {
          return replaced()?.live ?? false;
        },
        stop: () => this.stopReplaced(),
      },
      adopt: input.adopt ?? null,
      signal: this.abortController.signal,
      dir: layout.release(service, release.version),
      port: null,
      env: {},
      run: release.config.run,
      process: null,
      status,
      publish: () => publish(status),
      isCurrent: () => isCurrent(status),
      changed: input.changed,
      portOf: input.portOf,
      publicPorts: input.publicPorts,
      log: input.log,
    };
  }

  get version(): number {
    return this.ctx.release.version;
  }

  get port(): number | null {
    return this.ctx.status.port;
  }

  /** Whether what it started still runs: it did not fail and was not stopped. */
  get live(): boolean {
    return this.hooksStopped === null;
  }

  /**
   * Runs the hooks phase by phase. A hook that throws fails the activation: what was prepared
   * or started is stopped (in reverse), a release already reported is reported unhealthy with
   * the hook's error, and the error is thrown on. The replaced activation is left as the hooks
   * left it: stopping this one stops it too.
   */
  async run(): Promise<void> {
    const ctx = this.ctx;
    let hook: ActivationHook | undefined;
    try {
      for (hook of this.hooks) {
        this.entered.push(hook);
        await hook.prepare?.(ctx);
      }
      for (hook of this.hooks) await hook.start?.(ctx);
      for (hook of this.hooks) {
        if (!this.wanted()) return;
        await hook.verify?.(ctx);
      }
      for (hook of this.hooks) {
        if (!this.wanted()) return;
        await hook.commit?.(ctx);
      }
    } catch (e) {
      await this.stopHooks().catch((s: unknown) =>
        ctx.log(`${ctx.service}: stopping v${this.version}: ${(s as Error).message}`),
      );
      if (ctx.isCurrent()) {
        ctx.status.state = 'unhealthy';
        ctx.status.detail = `${hook?.name ?? 'activation'}: ${(e as Error).message}`;
        ctx.changed();
      }
      throw e;
    }
  }

  /** This activation is not wanted any more: hooks that wait end early; nothing is stopped. */
  abort(): void {
    this.abortController.abort();
  }

  /**
   * Stops what the hooks started, in reverse order, then the replaced activation if no hook
   * did. Call it once `run` has settled; calling it again waits for the same stop.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // A failed run stopped the hooks already, and logged what failed to stop.
      const stoppedByRun = this.hooksStopped !== null;
      const failure = await this.stopHooks().then(
        () => null,
        (e: unknown) => (stoppedByRun ? null : { error: e }),
      );
      await this.stopReplaced();
      if (failure) throw failure.error;
    })();
    return this.stopping;
  }

  /**
   * The agent stops: lets go of this activation without stopping its service (hooks that hold
   * it `leave`, the rest stop), for the next agent to take over. The activation it replaces, if
   * it still runs (it was being replaced), is stopped: it shares the service's pid file, so the
   * next agent would not know it. Calling `stop` afterwards does nothing more.
   */
  async leave(): Promise<void> {
    await this.stopHooks('leave').catch((e: unknown) =>
      this.ctx.log(`${this.ctx.service}: leaving v${this.version}: ${(e as Error).message}`),
    );
    await this.stopReplaced();
  }

  /**
   * Stops every entered hook (or lets it go, `leave`, where it can), once, even after one fails;
   * throws the first failure.
   */
  private stopHooks(how: 'stop' | 'leave' = 'stop'): Promise<void> {
    this.hooksStopped ??= (async () => {
      this.abortController.abort();
      let failure: { error: unknown } | null = null;
      for (const hook of [...this.entered].reverse()) {
        try {
          if (how === 'leave' && hook.leave) await hook.leave(this.ctx);
          else await hook.stop?.(this.ctx);
        } catch (e) {
          failure ??= { error: e };
        }
      }
      if (failure) throw failure.error;
    })();
    return this.hooksStopped;
  }

  /** Stops the replaced activation, then lets it go. */
  private async stopReplaced(): Promise<void> {
    const replaced = this.replaced;
    await replaced?.stop();
    if (this.replaced === replaced) this.replaced = null;
  }

  /** Still the one to run, and not found unhealthy: the next phase may go on. */
  private wanted(): boolean {
    return !this.ctx.signal.aborted && this.ctx.status.state !== 'unhealthy';
  }
}
