/**
 * One service on this host: stages the releases the goal names (fetch, verify, materialize),
 * activates the one it wants (see activation/pipeline.ts) and says where it is. Goal changes
 * are applied one at a time; a newer goal preempts a health wait.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { SlipwayError, backoffDelay, type BackoffPolicy } from '../core/index.js';
import type { GoalRelease, GoalService, ServiceReport } from '../api/index.js';
import { fetchChunks, type FetchOptions } from '../distribution/index.js';
import { stopRecordedGroup, type PidRecord } from '../executor/index.js';
import {
  deltaBases,
  imageIdOf,
  manifestChunks,
  materialize,
  parseManifest,
  type Manifest,
  type ObjectStore,
} from '../image/index.js';
import type { ActiveStatus, AdoptedProcess } from './activation/hook.js';
import { Activation, activationHooks } from './activation/pipeline.js';
import type { HostLayout } from './host-layout.js';
import { adoptionFor, findLeftover } from './leftover-process.js';
import { PublicPorts } from './public-ports.js';

/** What a service runner needs of the agent. */
export interface RunnerDeps {
  layout: HostLayout;
  objects: ObjectStore;
  hostName: string;
  fetchManifest: (imageId: string) => Promise<unknown>;
  /** Sources and counters for a fetch, as they are at the moment it starts. */
  fetchOptions: () => Omit<FetchOptions, 'imageId' | 'store' | 'onProgress'>;
  /** The port another service on this host listens on, when it runs here. */
  portOf: (service: string) => number | null;
  /** The host's public ports (services that `publish` one); a fresh set when not given. */
  publicPorts?: PublicPorts;
  /**
   * Something worth reporting changed: a state (staged, failed, activating, healthy…), reported
   * at once, or only a fetch's progress, which the agent reports at a gentler pace.
   */
  onChange: (what?: 'state' | 'progress') => void;
  /** Releases were removed: objects only they used can be collected. */
  onPruned: () => void;
  /** Runs a staging so that object collection cannot run at the same time. */
  staging: <T>(fn: () => Promise<T>) => Promise<T>;
  log: (msg: string) => void;
  /** Waits between quiet tries of a failing staging (STAGING_BACKOFF); tests shorten them. */
  stagingBackoff?: BackoffPolicy;
}

/**
 * A reported staging failure is tried again after about 30 s, then longer after each failure in
 * a row, up to a few minutes.
 */
const STAGING_RETRY: BackoffPolicy = { firstMs: 30_000, maxMs: 4 * 60_000 };
/**
 * Tries of a staging that fails for a passing reason (a source or the server out of reach)
 * before the failure is reported, which fails the deployment: a server restarting, or a
 * network blip, should not. The fetch keeps every chunk it verified, so a try resumes.
 */
export const STAGING_TRIES = 3;
/** The waits between the quiet tries: about 2 s before the second, doubled before each after. */
const STAGING_BACKOFF: BackoffPolicy = { firstMs: 2_000, maxMs: 30_000 };
/** How long a leftover process that is not taken over gets to stop before it is killed. */
const LEFTOVER_GRACE_MS = 3_000;

/** Stages and activates the releases of one service on this host, as its goal says. */
export class ServiceRunner {
  private readonly staged = new Map<number, string>();
  /** The reported failure: the deployment sees it and fails. */
  private stagingFailed: { version: number; error: string } | null = null;
  /** An activation that failed before it touched the release running (see commands.ts). */
  private activationFailed: { version: number; error: string } | null = null;
  /** Failed tries of the release being staged, and when to try it again. */
  private tries: { version: number; failed: number; nextAt: number } | null = null;
  private fetching: ServiceReport['fetching'] = null;
  /** What is reported as running: the last activation that announced itself. */
  private active: ActiveStatus | null = null;
  /** The last activation run (it may have failed); it stops whatever it left running. */
  private activation: Activation | null = null;
  private goal: GoalService | null = null;
  /**
   * The process an earlier agent left running, until the goal says whether to take it over
   * (it runs the release to run) or to stop it.
   */
  private leftover: PidRecord | null = null;
  private work: Promise<void> | null = null;
  private again = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private readonly publicPorts: PublicPorts;

  constructor(
    readonly name: string,
    private readonly deps: RunnerDeps,
  ) {
    this.publicPorts = deps.publicPorts ?? new PublicPorts(deps.log);
  }

  /**
   * Reads which releases are already on disk, and finds the process a previous agent left
   * running, if any: the first goal decides whether it is taken over or stopped.
   */
  async init(): Promise<void> {
    const { layout } = this.deps;
    await mkdir(layout.releases(this.name), { recursive: true });
    await mkdir(layout.logs(this.name), { recursive: true });
    for (const f of await readdir(layout.releases(this.name))) {
      const m = /^v(\d+)\.json$/.exec(f);
      if (!m) continue;
      try {
        const { imageId } = JSON.parse(
          await readFile(layout.releaseMarker(this.name, Number(m[1])), 'utf8'),
        ) as {
          imageId: string;
        };
        this.staged.set(Number(m[1]), imageId);
      } catch {
        // A marker we cannot read: the release will be staged again.
      }
    }
    this.leftover = await findLeftover(layout, this.name);
    if (this.leftover) {
      this.deps.log(
        `${this.name}: found process ${this.leftover.pid} a previous agent left running`,
      );
    }
  }

  /** Hands over the newest goal for this service (null: the service must not run here). */
  setGoal(goal: GoalService | null): void {
    this.goal = goal;
    if (this.active && goal?.active?.version !== this.active.version) this.activation?.abort();
    this.schedule();
  }

  /** Images of the releases on disk. */
  stagedImages(): string[] {
    return [...new Set(this.staged.values())];
  }

  /** Images this service needs on this host: on disk, or named by the goal (being fetched). */
  neededImages(): string[] {
    return [
      ...new Set([...this.staged.values(), ...(this.goal?.stage.map((r) => r.imageId) ?? [])]),
    ];
  }

  report(): ServiceReport {
    return {
      service: this.name,
      staged: [...this.staged.keys()].sort((a, b) => a - b),
      stagingFailed: this.stagingFailed && {
        version: this.stagingFailed.version,
        error: this.stagingFailed.error,
      },
      activationFailed: this.activationFailed && { ...this.activationFailed },
      fetching: this.fetching,
      active: this.active,
    };
  }

  /**
   * The agent stops: the service process keeps running, and serving, for the next agent to take
   * over (its pid file stays; so does a process a previous agent left that was not taken over).
   */
  async leave(): Promise<void> {
    await this.quiesce();
    await this.activation?.leave();
  }

  /** Stops the service process, also one not taken over yet. */
  async close(): Promise<void> {
    await this.quiesce();
    await this.activation?.stop();
    await this.stopLeftover('the agent stops');
  }

  /** No new work from now on; resolves once the work under way has ended. */
  private async quiesce(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.activation?.abort();
    await this.work;
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.work) {
      this.again = true;
      return;
    }
    this.work = this.reconcile()
      .catch((e: unknown) => this.deps.log(`${this.name}: ${(e as Error).stack ?? String(e)}`))
      .finally(() => {
        this.work = null;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
  }

  private async reconcile(): Promise<void> {
    const goal = this.goal;
    if (!goal) return this.deactivate();
    // First, so that a release that still runs is supervised again before anything is staged.
    if (this.leftover && goal.active) await this.adoptLeftover(goal.active);
    for (const r of goal.stage) {
      if (this.staged.get(r.version) === r.imageId) continue;
      if (this.tries?.version === r.version && Date.now() < this.tries.nextAt) continue;
      await this.deps.staging(() => this.stage(r));
    }
    const want = goal.active;
    if (!want) return this.deactivate();
    if (this.goal !== goal) return; // a newer goal arrived while staging: start over with it
    const running = this.activation?.live === true && this.activation.version === want.version;
    if (!running && this.staged.get(want.version) === want.imageId) {
      await this.stopLeftover(`v${want.version} is to run`);
      await this.activate(want);
    }
    await this.prune(goal);
  }

  private async stage(r: GoalRelease): Promise<void> {
    const { layout, objects } = this.deps;
    this.fetching = { version: r.version, bytesDone: 0, bytesTotal: 0 };
    this.deps.onChange();
    try {
      const manifest = parseManifest(await this.deps.fetchManifest(r.imageId));
      if (imageIdOf(manifest) !== r.imageId) {
        throw new SlipwayError(
          'INVALID',
          `manifest served for image ${r.imageId.slice(0, 12)} does not hash to it`,
        );
      }
      await mkdir(layout.manifest(r.imageId).replace(/manifest\.json$/, ''), { recursive: true });
      await writeFile(layout.manifest(r.imageId), JSON.stringify(manifest));
      const earlier = await this.earlierReleases();
      await fetchChunks(manifestChunks(manifest), {
        ...this.deps.fetchOptions(),
        imageId: r.imageId,
        bases: deltaBases(
          manifest,
          earlier.map((e) => e.manifest),
        ),
        store: objects,
        onProgress: (p) => {
          this.fetching = { version: r.version, ...p };
          this.deps.onChange('progress');
        },
      });
      const dir = layout.release(this.name, r.version);
      if (this.staged.has(r.version)) {
        // Same version number, other image (the control plane was reset): replace it.
        await rm(dir, { recursive: true, force: true });
      }
      const done = await materialize(manifest, dir, objects, {
        reuseFrom: earlier,
      });
      if (done.filesLinked > 0) {
        this.deps.log(
          `${this.name}: v${r.version}: ${done.filesLinked} file(s) shared with earlier releases, ${done.filesWritten} written`,
        );
      }
      await writeFile(
        layout.releaseMarker(this.name, r.version),
        JSON.stringify({ imageId: r.imageId }),
      );
      this.staged.set(r.version, r.imageId);
      this.stagingFailed = null;
      this.tries = null;
      this.deps.log(`${this.name}: staged v${r.version}`);
    } catch (e) {
      this.stagingFailedOnce(r.version, e);
    } finally {
      this.fetching = null;
      this.deps.onChange();
    }
  }

  /**
   * A passing failure is tried again shortly, up to STAGING_TRIES times, unreported; any other,
   * or the last try, is reported (and tried again later, see STAGING_RETRY).
   */
  private stagingFailedOnce(version: number, e: unknown): void {
    const error = (e as Error).message;
    const failed = (this.tries?.version === version ? this.tries.failed : 0) + 1;
    const quiet = passing(e) && failed < STAGING_TRIES;
    const wait = quiet
      ? backoffDelay(failed, this.deps.stagingBackoff ?? STAGING_BACKOFF)
      : backoffDelay(failed - STAGING_TRIES + 1, STAGING_RETRY);
    this.tries = { version, failed, nextAt: Date.now() + wait };
    if (quiet) {
      this.deps.log(
        `${this.name}: staging v${version} failed (try ${failed} of ${STAGING_TRIES}), trying again in ${(wait / 1000).toFixed(1)} s: ${error}`,
      );
    } else {
      this.stagingFailed = { version, error };
      this.deps.log(`${this.name}: staging v${version} failed: ${error}`);
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.schedule(), wait);
  }

  /**
   * Releases on disk with their manifests, newest first: files they share with a new release
   * are linked, and their chunks are the bases of its deltas.
   */
  private async earlierReleases(): Promise<{ manifest: Manifest; dir: string }[]> {
    const out: { manifest: Manifest; dir: string }[] = [];
    const newestFirst = [...this.staged].sort(([a], [b]) => b - a);
    for (const [version, imageId] of newestFirst) {
      try {
        const text = await readFile(this.deps.layout.manifest(imageId), 'utf8');
        out.push({
          manifest: parseManifest(JSON.parse(text)),
          dir: this.deps.layout.release(this.name, version),
        });
      } catch {
        // No manifest on disk for it: that release's files are not reused.
      }
    }
    return out;
  }

  /**
   * Takes over the process a previous agent left running when it runs `want`, the release to
   * run, as staged here: it is not restarted, only supervised and health-checked again.
   * Otherwise it keeps running until another release is activated or the service stops.
   */
  private async adoptLeftover(want: GoalRelease): Promise<void> {
    const rec = this.leftover;
    if (!rec || this.activation || this.staged.get(want.version) !== want.imageId) return;
    const verdict = await adoptionFor(rec, want, this.deps.layout, this.name);
    if ('refused' in verdict) {
      this.deps.log(`${this.name}: not taking over process ${rec.pid}: ${verdict.refused}`);
      return;
    }
    this.leftover = null;
    await this.activate(want, verdict.adopt);
  }

  /** Stops the process a previous agent left running, if it was not taken over. */
  private async stopLeftover(why: string): Promise<void> {
    const rec = this.leftover;
    if (!rec) return;
    this.leftover = null;
    if (await stopRecordedGroup(rec, LEFTOVER_GRACE_MS)) {
      this.deps.log(
        `${this.name}: stopped the process a previous agent left running (${rec.pid}): ${why}`,
      );
    }
    await rm(this.deps.layout.pidFile(this.name), { force: true });
  }

  private async activate(r: GoalRelease, adopt: AdoptedProcess | null = null): Promise<void> {
    const activation = new Activation(activationHooks(r), {
      service: this.name,
      hostName: this.deps.hostName,
      release: r,
      layout: this.deps.layout,
      adopt,
      previous: this.activation,
      publish: (status) => {
        this.active = status;
        this.activationFailed = null;
        this.deps.onChange();
      },
      isCurrent: (status) => this.active === status,
      changed: () => this.deps.onChange(),
      portOf: this.deps.portOf,
      publicPorts: this.publicPorts,
      log: this.deps.log,
    });
    // Set before it runs: a newer goal aborts its health wait (setGoal).
    const previous = this.activation;
    this.activation = activation;
    try {
      await activation.run();
    } catch (e) {
      // Failed before it stopped the release running (its beforeActivate hook): that one
      // serves on, and stays the one a later activation replaces.
      if (previous?.live && this.active?.version !== r.version) {
        this.activation = previous;
        this.activationFailed = { version: r.version, error: (e as Error).message };
        this.deps.log(`${this.name}: v${r.version} not activated: ${(e as Error).message}`);
        this.deps.onChange();
        return;
      }
      throw e;
    }
  }

  /** The port the service is reached on here, if it runs: its public port when it has one. */
  activePort(): number | null {
    if (!this.active) return null;
    return this.active.published?.port ?? this.active.port ?? null;
  }

  private async deactivate(): Promise<void> {
    await this.stopLeftover('the service is not to run here');
    const activation = this.activation;
    if (!this.active && !activation?.live) return;
    await activation?.stop();
    this.activation = null;
    if (this.active?.published) await this.publicPorts.close(this.name);
    if (this.active) this.deps.log(`${this.name}: stopped v${this.active.version}`);
    this.active = null;
    this.deps.onChange();
  }

  /** Keeps the releases the goal needs and the newest `keepReleases`; removes the rest. */
  private async prune(goal: GoalService): Promise<void> {
    const keep = new Set(goal.stage.map((r) => r.version));
    if (this.active) keep.add(this.active.version);
    const limit = goal.active?.config.keepReleases ?? goal.stage[0]?.config.keepReleases ?? 3;
    const newest = [...this.staged.keys()].sort((a, b) => b - a).slice(0, limit);
    for (const v of newest) keep.add(v);
    let removed = false;
    for (const v of [...this.staged.keys()]) {
      if (keep.has(v)) continue;
      await rm(this.deps.layout.releaseMarker(this.name, v), { force: true });
      await rm(this.deps.layout.release(this.name, v), { recursive: true, force: true });
      this.staged.delete(v);
      this.deps.log(`${this.name}: removed old release v${v}`);
      removed = true;
    }
    if (removed) this.deps.onPruned();
  }
}

/** A failure that may pass by itself: a source or the server out of reach, a connection cut. */
function passing(e: unknown): boolean {
  if (e instanceof SlipwayError) return e.code === 'UNAVAILABLE';
  const code = (e as NodeJS.ErrnoException).code;
  return ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'].includes(code ?? '');
}
