/**
 * Hosts' goal rows, the jobs they are to run, and the releases goals name, kept in memory by
 * host and goal generation (`ByGeneration`), so that answering the long polls of a fleet-wide
 * change reads the goals of many hosts in a few statements rather than one (and a release once)
 * per host. Releases never change once made.
 */
import type { GoalRelease } from '../../api/index.js';
import type { GoalRow, HostGoals, OpenJobRun, Store } from '../../store/index.js';
import { ByGeneration } from './by-generation.js';

/** Releases kept (a goal names at most two per service). */
const RELEASES_KEPT = 4_096;

function byHost<T extends { hostId: string }>(ids: string[], rows: T[]): Map<string, T[]> {
  const m = new Map<string, T[]>(ids.map((id) => [id, []]));
  for (const r of rows) m.get(r.hostId)?.push(r);
  return m;
}

export class GoalBook {
  private readonly goals: ByGeneration<GoalRow[]>;
  private readonly jobs: ByGeneration<OpenJobRun[]>;
  private readonly releases = new Map<string, Promise<GoalRelease | null>>();

  constructor(private readonly store: Store) {
    this.goals = new ByGeneration(
      async (ids) => {
        const m = byHost(ids, await store.goals.ofHosts(ids));
        for (const rows of m.values()) rows.sort((a, b) => (a.service < b.service ? -1 : 1));
        return m;
      },
      () => [],
    );
    this.jobs = new ByGeneration(
      async (ids) => byHost(ids, await store.jobs.openOnHosts(ids)),
      () => [],
    );
  }

  /** The host's goal rows as of `generation` or later. */
  goalsOf(hostId: string, generation: number): Promise<GoalRow[]> {
    return this.goals.of(hostId, generation);
  }

  /** The host's runs of jobs not ended, as of `generation` or later. */
  jobsOf(hostId: string, generation: number): Promise<OpenJobRun[]> {
    return this.jobs.of(hostId, generation);
  }

  /** A release as a goal names it (null: no such release). */
  release(service: string, version: number): Promise<GoalRelease | null> {
    const key = `${service}:${version}`;
    let r = this.releases.get(key);
    if (!r) {
      r = this.store.releases
        .get(service, version)
        .then((row) =>
          row ? { version: row.version, imageId: row.imageId, config: row.config } : null,
        );
      // A failed read is not kept; nor is "no such release" (it may be made yet).
      r.then(
        (v) => v === null && this.releases.delete(key),
        () => this.releases.delete(key),
      );
      if (this.releases.size >= RELEASES_KEPT)
        this.releases.delete(this.releases.keys().next().value!);
      this.releases.set(key, r);
    }
    return r;
  }

  /**
   * Goals read with their generation (a goal announcement's read): the long polls it wakes
   * find them here instead of reading them again.
   */
  learn(states: readonly HostGoals[]): void {
    for (const h of states) this.goals.learn(h.id, h.goalGeneration, h.goals);
  }

  /**
   * A host just enrolled has no goals and no jobs at its first generation: its first long poll
   * reads neither (at 50 enrollments at a time, those reads were most of what the database did).
   */
  enrolled(hostId: string, generation: number): void {
    this.goals.learn(hostId, generation, []);
    this.jobs.learn(hostId, generation, []);
  }

  /** A removed host's goals are forgotten. */
  forget(hostId: string): void {
    this.goals.forget(hostId);
    this.jobs.forget(hostId);
  }
}
