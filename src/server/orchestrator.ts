/**
 * Drives running deployments. Each step reads a deployment and what its hosts report, asks the
 * pure state machine what comes next, and persists the new state, the goal changes and the
 * events in one transaction before anyone acts on them. After a crash the loop simply picks the
 * running deployments up again from the store.
 *
 * Several servers may share one database; one orchestrator at a time does the work, the one
 * holding the store's `orchestrator` lead. The others stand by and try to take it every few
 * seconds, so when the leader's process dies (and its lock with its database session) another
 * carries on. Agents may report to any server: the leader reads their reports from the store,
 * where every server writes them within a second, and looks every tick.
 */
import { isTerminal, type Deployment, type StepContext } from '../core/index.js';
import type { Leadership, Store } from '../store/index.js';
import { ORCHESTRATOR } from './authz/identity.js';
import type { DeploymentSteps } from './app/deployment-step.js';
import type { UnitOfWork } from './app/unit-of-work.js';
import type { GateReader } from './rollout/gate-reader.js';
import type { WindowWatch } from './rollout/window-watch.js';

export interface OrchestratorOptions {
  store: Store;
  uow: UnitOfWork;
  steps: DeploymentSteps;
  now?: () => number;
  tickMs?: number;
  log?: (msg: string) => void;
  /** The lead to hold while working; the store's `orchestrator` lead by default. */
  leadership?: Leadership;
  /** How often a standing-by orchestrator tries to take the lead. */
  leadRetryMs?: number;
  /** Reads baking waves' metric gates (none: a wave with gates never passes its bake). */
  gates?: GateReader;
  /** Says when an environment's deploy windows are closed (none: never). */
  windows?: WindowWatch;
}

/** The name of the lead the orchestrator holds while it works. */
export const ORCHESTRATOR_LEAD = 'orchestrator';

const LEAD_RETRY_MS = 2_000;

/**
 * After a pass, the next waits as long as the pass took (at most this long): every report that
 * changes a host's state asks for a pass, and a pass over a deployment of thousands of hosts
 * reads and writes all of them, so back-to-back passes would keep the server busy with little
 * new each. Spaced so, the orchestrator takes at most half of the server's time, and each pass
 * takes in every report that arrived meanwhile.
 */
const MAX_PASS_GAP_MS = 1_000;

/**
 * After the orchestrator takes the lead (at start, or from a server that died), how long hosts
 * have to report before a deadline may pass: agents reconnect to a restarted server within a few
 * seconds (their retries back off to 5 s).
 */
export const RESTART_GRACE_MS = 20_000;

export class Orchestrator {
  private timer: NodeJS.Timeout | null = null;
  private leadTimer: NodeJS.Timeout | null = null;
  /** No deadline passes before this (see RESTART_GRACE_MS). */
  private deadlinesNotBefore = 0;
  private running: Promise<void> | null = null;
  private again = false;
  /** No kicked pass starts before this (performance.now()). */
  private nextPassAt = 0;
  private gapTimer: NodeJS.Timeout | null = null;
  private stopped = true;
  /** Whether this orchestrator holds the lead and may step deployments. */
  private leading = false;
  /** Whether "standing by" was said since the last change of lead (it is said once). */
  private saidStandingBy = false;
  private lastLeadError = '';
  private unsubscribeLost: (() => void) | null = null;
  /** Running deployments as this orchestrator last wrote them, with when (see `step`). */
  private readonly written = new Map<string, Written>();
  private readonly now: () => number;
  private readonly lead: Leadership;
  private readonly log: (msg: string) => void;

  constructor(private readonly opts: OrchestratorOptions) {
    this.now = opts.now ?? Date.now;
    this.lead = opts.leadership ?? opts.store.leadership(ORCHESTRATOR_LEAD);
    this.log = opts.log ?? (() => {});
  }

  /** Whether this orchestrator leads (it steps deployments only then). */
  get isLeading(): boolean {
    return this.leading;
  }

  start(): void {
    this.stopped = false;
    this.unsubscribeLost = this.lead.onLost((why) => this.lostLead(why));
    this.timer = setInterval(() => this.kick(), this.opts.tickMs ?? 500);
    void this.tryLead();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.leading = false;
    if (this.timer) clearInterval(this.timer);
    if (this.leadTimer) clearTimeout(this.leadTimer);
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.unsubscribeLost?.();
    await this.running;
    await this.lead.release();
  }

  /** Tries to take the lead; standing by, tries again later. */
  private async tryLead(): Promise<void> {
    this.leadTimer = null;
    if (this.stopped || this.leading) return;
    let got = false;
    try {
      got = await this.lead.tryAcquire();
      this.lastLeadError = '';
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.lastLeadError) {
        this.log(`orchestrator: cannot try to take the lead (${msg}); trying again`);
        this.lastLeadError = msg;
      }
    }
    if (this.stopped) return;
    if (got) {
      this.leading = true;
      // Another server may have led meanwhile: what was kept from the last lead is stale.
      this.written.clear();
      this.saidStandingBy = false;
      // Hosts whose server died with the last leader need time to reach this one.
      this.deadlinesNotBefore = this.now() + RESTART_GRACE_MS;
      this.log('orchestrator: leading');
      this.kick();
      return;
    }
    if (!this.saidStandingBy && !this.lastLeadError) {
      this.log('orchestrator: another server leads; standing by');
      this.saidStandingBy = true;
    }
    this.retryLead();
  }

  private retryLead(): void {
    if (this.stopped || this.leadTimer) return;
    this.leadTimer = setTimeout(() => void this.tryLead(), this.opts.leadRetryMs ?? LEAD_RETRY_MS);
    this.leadTimer.unref();
  }

  /** The lead's connection is gone: another server may lead now, so no new step starts here. */
  private lostLead(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.saidStandingBy = true;
    this.log(`orchestrator: lost the lead (${why}); standing by`);
    this.retryLead();
  }

  /** Asks for a pass over the running deployments soon; passes never overlap. */
  kick(): void {
    // The leader ticks: a kick on a server standing by has nothing to do.
    if (this.stopped || !this.leading) return;
    if (this.running || this.gapTimer) {
      this.again = true;
      return;
    }
    const wait = this.nextPassAt - performance.now();
    if (wait > 0) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = null;
        this.again = false;
        this.kick();
      }, wait);
      return;
    }
    const started = performance.now();
    this.running = this.pass()
      .catch((e: unknown) => this.opts.log?.(`orchestrator: ${(e as Error).stack ?? String(e)}`))
      .finally(() => {
        const ended = performance.now();
        this.nextPassAt = ended + Math.min(MAX_PASS_GAP_MS, ended - started);
        this.running = null;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * One pass over every running deployment, when this orchestrator leads; a lead lost midway
   * starts no further step (the one under way commits or not, its row lock keeping it whole).
   */
  async pass(): Promise<void> {
    if (!this.leading) return;
    // Taken before the running deployments are read: a report after this waits for the next pass.
    const changed = this.opts.steps.takeChanged();
    const ids = await this.opts.store.deployments.runningIds();
    this.opts.gates?.keepOnly(new Set(ids));
    if (ids.length === 0) return;
    for (const id of ids) {
      if (!this.leading) return;
      await this.step(id, changed);
    }
  }

  /**
   * One step of one deployment. The deployment this orchestrator last wrote is kept: a step
   * reads back only when the row was written and whether a cancellation was asked for, not the
   * rows of every host, and looks only at the hosts whose reports changed since the last pass.
   * A deployment read back (written elsewhere, or not kept) is stepped looking at every host,
   * and so is one not looked at whole for {@link EVERY_HOST_MS}.
   */
  private async step(id: string, changed: ReadonlySet<string>): Promise<void> {
    // Forgotten until the step commits: a step that fails leaves the row to be read again.
    const kept = this.written.get(id);
    this.written.delete(id);
    // Read outside the transaction. A deployment read back whole gets them at its next step.
    const context = kept ? await this.contextOf(kept.deployment) : {};
    const after = await this.opts.uow.run(ORCHESTRATOR, async (work) => {
      const current = await this.read(work.tx, id, kept);
      if (!current || isTerminal(current.deployment.state)) return null;
      const d = current.deployment;
      const now = this.now();
      const whole = current.wholeAt === null || now - current.wholeAt >= EVERY_HOST_MS;
      const wholeAt = whole ? now : current.wholeAt;
      // The hosts the last step moved too: what they wait for may be true already, with
      // nothing new in their reports (a host reverting to the release it still runs).
      const look = whole ? null : current.moved.size > 0 ? union(changed, current.moved) : changed;
      const next = await this.opts.steps.take(work, d, now, this.deadlinesNotBefore, look, context);
      if (!next) return { ...current, wholeAt, moved: NONE };
      const at = await work.tx.deployments.update(next.deployment, next.moved);
      const moved = new Set(next.moved.map((h) => h.hostId));
      return { deployment: next.deployment, at: at.getTime(), wholeAt, moved };
    });
    if (after && !isTerminal(after.deployment.state)) this.written.set(id, after);
  }

  /** What a step of `d` needs besides its hosts: its gates' readings, its window. */
  private async contextOf(d: Deployment): Promise<Pick<StepContext, 'gates' | 'windowClosed'>> {
    const gates = this.opts.gates?.verdict(d) ?? null;
    const waves = d.kind === 'deploy' && !d.windowOverridden && (d.waves?.length ?? 0) > 0;
    const windowClosed =
      waves && this.opts.windows ? await this.opts.windows.closed(d.environment, this.now()) : null;
    return { gates, windowClosed };
  }

  /**
   * The deployment, locked for the step, with when its row was written: as last written here
   * when nobody else wrote it since.
   */
  private async read(tx: Store, id: string, kept: Written | undefined): Promise<Written | null> {
    if (kept) {
      const head = await tx.deployments.headForUpdate(id);
      if (!head) return null;
      if (head.updatedAt.getTime() === kept.at) {
        // A cancellation written within the same millisecond as the last step still counts.
        const d = kept.deployment;
        if (head.cancelRequested === d.cancelRequested) return kept;
        return { ...kept, deployment: { ...d, cancelRequested: head.cancelRequested } };
      }
    }
    const row = await tx.deployments.getForUpdate(id);
    return row
      ? { deployment: row.deployment, at: row.updatedAt.getTime(), wholeAt: null, moved: NONE }
      : null;
  }
}

/**
 * How often a running deployment's step looks at every host even when their reports are not
 * known to have changed: what a missed change would cost, at most.
 */
const EVERY_HOST_MS = 15_000;

/** A deployment as its row holds it, when the row was written (ms), and when it was last looked at whole. */
interface Written {
  deployment: Deployment;
  at: number;
  /** When a step last looked at every one of its hosts (ms); null: never here. */
  wholeAt: number | null;
  /** The hosts its last step moved: the next looks at them again. */
  moved: ReadonlySet<string>;
}

const NONE: ReadonlySet<string> = new Set();

function union(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  const u = new Set(a);
  for (const x of b) u.add(x);
  return u;
}
