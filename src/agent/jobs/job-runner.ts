/**
 * The jobs of this host: runs each job its goal names in a sandbox, at most `slots` at once (the
 * rest wait, reported `queued`), each as a uid of its own; reports state and output as they
 * come; kills a job asked to stop. A job the goal says had started but this agent does not hold
 * was lost (the agent restarted under it: the sandbox dies with the agent that started it).
 * A host that cannot sandbox refuses every job, saying why, rather than run it bare.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentJobReport, GoalJob } from '../../api/index.js';
import {
  probeSandbox,
  startSandbox,
  type SandboxProbe,
  type SandboxRun,
} from '../../executor/index.js';
import { jobFiles, type JobFilesDeps } from './job-files.js';
import { BLANK_RUN, RunReporter, type RunState } from './run-reporter.js';

/** Job uids are JOB_UID_BASE + slot: a uid per concurrent job, owning nothing else on the host. */
export const JOB_UID_BASE = 61_000;
/** Jobs remembered as done, so that a goal not yet updated does not run one again. */
const DONE_KEPT = 1_000;

export interface JobRunnerDeps extends JobFilesDeps {
  send: (jobId: string, body: AgentJobReport) => Promise<void>;
  /** Runs `fn` as a staging: the object store is not collected meanwhile. */
  staging: <T>(fn: () => Promise<T>) => Promise<T>;
  slots: number;
  /** This host's name, given to jobs as SLIPWAY_HOST. */
  hostName: string;
  log: (msg: string) => void;
  /** How this host checks it can sandbox (the real probe unless a test says otherwise). */
  probe?: () => Promise<SandboxProbe>;
}

interface Held {
  job: GoalJob;
  slot: number | null;
  run: SandboxRun | null;
  abort: AbortController;
  cancelled: boolean;
  reporter: RunReporter | null;
}

export class JobRunner {
  private readonly held = new Map<string, Held>();
  private readonly done = new Set<string>();
  /** Jobs an earlier agent on this host had taken up: lost, never run again. */
  private readonly leftover = new Set<string>();
  private readonly freeSlots: number[];
  private probed: Promise<SandboxProbe> | null = null;
  private readonly stopping = new AbortController();

  constructor(private readonly deps: JobRunnerDeps) {
    this.freeSlots = Array.from({ length: Math.max(1, deps.slots) }, (_, i) => i);
  }

  /**
   * Clears what jobs of an earlier agent left (their processes died with it), remembering
   * which they were: the goal that agent saved may not say yet that they had started.
   */
  async init(): Promise<void> {
    const dir = this.deps.layout.jobs;
    await mkdir(dir, { recursive: true, mode: 0o711 });
    for (const name of await readdir(dir)) {
      this.leftover.add(name);
      await rm(join(dir, name), { recursive: true, force: true });
    }
  }

  /** The goal's jobs: starts new ones, stops those it cancels or no longer names. */
  setJobs(jobs: readonly GoalJob[]): void {
    const named = new Set(jobs.map((j) => j.id));
    for (const [id, h] of this.held) if (!named.has(id)) this.cancel(h, 'no longer in the goal');
    for (const job of jobs) {
      const h = this.held.get(job.id);
      if (h) {
        if (job.cancel) this.cancel(h, 'cancelled');
        continue;
      }
      if (this.done.has(job.id)) continue;
      if (job.started || this.leftover.has(job.id)) this.end(job, { state: 'lost', detail: LOST });
      else if (job.cancel)
        this.end(job, { state: 'cancelled', detail: 'cancelled before it started' });
      else this.take(job);
    }
  }

  /** Images the jobs held need (the object store keeps them). */
  neededImages(): string[] {
    return [...this.held.values()].flatMap((h) =>
      [h.job.imageId, h.job.script?.imageId].filter((x): x is string => !!x),
    );
  }

  /** The agent stops: its jobs die with it (reported lost by the next agent). */
  async leave(): Promise<void> {
    this.stopping.abort();
    for (const h of this.held.values()) {
      h.abort.abort();
      h.run?.cancel();
    }
    const running = [...this.held.values()].flatMap((h) => (h.run ? [h.run.done] : []));
    await Promise.allSettled(running);
  }

  private take(job: GoalJob): void {
    const h: Held = {
      job,
      slot: null,
      run: null,
      abort: new AbortController(),
      cancelled: false,
      reporter: null,
    };
    this.held.set(job.id, h);
    h.reporter = this.reporter(job.id, { ...BLANK_RUN, state: 'queued' });
    this.startWaiting();
  }

  private startWaiting(): void {
    for (const h of this.held.values()) {
      if (h.slot !== null || h.cancelled) continue;
      const slot = this.freeSlots.shift();
      if (slot === undefined) return;
      h.slot = slot;
      void this.execute(h).finally(() => {
        this.freeSlots.push(slot);
        this.freeSlots.sort((a, b) => a - b);
        this.startWaiting();
      });
    }
  }

  private async execute(h: Held): Promise<void> {
    const { job } = h;
    const dir = join(this.deps.layout.jobs, job.id);
    const bytes: Record<string, number> = {};
    const reporter = h.reporter!;
    let final: RunState;
    try {
      // Made before anything of the job happens: a restarted agent finds it, and says lost.
      await mkdir(dir, { recursive: true, mode: 0o711 });
      const probe = await (this.probed ??= (this.deps.probe ?? probeSandbox)());
      if (!probe.ok) {
        final = {
          ...BLANK_RUN,
          state: 'refused',
          detail: `this host cannot sandbox jobs: ${probe.reason}`,
        };
      } else {
        reporter.set({ ...BLANK_RUN, state: 'fetching' });
        const files = await this.deps.staging(() =>
          jobFiles(this.deps, job, dir, bytes, h.abort.signal),
        );
        if (h.cancelled) throw new Cancelled();
        const run = startSandbox(
          {
            tree: files.tree,
            scratch: join(dir, 'scratch'),
            binds: files.binds,
            argv: job.argv,
            env: { ...job.env, SLIPWAY_JOB: job.id, SLIPWAY_HOST: this.deps.hostName },
            network: job.network,
            uid: JOB_UID_BASE + h.slot!,
            gid: JOB_UID_BASE + h.slot!,
            limits: {
              timeoutMs: job.limits.timeoutMs,
              memoryBytes: job.limits.memoryBytes ?? undefined,
              cpus: job.limits.cpus ?? undefined,
              processes: job.limits.processes,
            },
          },
          (stream, line) => reporter.line(stream, line),
        );
        h.run = run;
        const limitsBy = probe.limitsBy;
        const startedAt = new Date().toISOString();
        reporter.set({
          ...BLANK_RUN,
          state: 'running',
          limitsBy,
          startedAt,
          bytesReceived: { ...bytes },
        });
        const r = await run.done;
        final = {
          ...BLANK_RUN,
          state: r.cancelled
            ? 'cancelled'
            : r.timedOut
              ? 'timed_out'
              : r.exitCode === 0
                ? 'succeeded'
                : 'failed',
          exitCode: r.exitCode,
          signal: r.signal,
          limitsBy: r.limitsBy,
          bytesReceived: bytes,
          startedAt,
          durationMs: Math.round(r.durationMs),
          detail: r.timedOut
            ? `killed after ${Math.round(job.limits.timeoutMs / 1000)} s`
            : r.cancelled
              ? 'cancelled'
              : null,
        };
      }
    } catch (e) {
      final =
        h.cancelled || e instanceof Cancelled
          ? { ...BLANK_RUN, state: 'cancelled', detail: 'cancelled', bytesReceived: bytes }
          : {
              ...BLANK_RUN,
              state: 'failed',
              detail: `could not start: ${(e as Error).message}`,
              bytesReceived: bytes,
            };
    }
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    this.deps.log(
      `job ${job.id.slice(0, 8)}: ${final.state}${final.exitCode !== null ? ` (exit ${final.exitCode})` : ''}`,
    );
    await reporter.finish(final);
    this.forget(job.id);
  }

  private cancel(h: Held, why: string): void {
    if (h.cancelled) return;
    h.cancelled = true;
    h.abort.abort();
    if (h.run) h.run.cancel();
    else if (h.slot === null) {
      // Still queued: it ends here.
      void h
        .reporter!.finish({ ...BLANK_RUN, state: 'cancelled', detail: why })
        .then(() => this.forget(h.job.id));
    }
  }

  /** A job that ends without running: its one report. */
  private end(job: GoalJob, s: Partial<RunState> & { state: RunState['state'] }): void {
    this.remember(job.id);
    void this.reporter(job.id, { ...BLANK_RUN, ...s }).finish({ ...BLANK_RUN, ...s });
  }

  private reporter(jobId: string, first: RunState): RunReporter {
    return new RunReporter(
      (body) => this.deps.send(jobId, body),
      this.stopping.signal,
      (msg) => this.deps.log(`job ${jobId.slice(0, 8)}: ${msg}`),
      first,
    );
  }

  private forget(jobId: string): void {
    this.held.delete(jobId);
    this.remember(jobId);
  }

  private remember(jobId: string): void {
    this.done.add(jobId);
    if (this.done.size > DONE_KEPT) this.done.delete(this.done.values().next().value!);
  }
}

const LOST = 'the agent restarted while the job ran: its processes were stopped with it';

class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}
