/**
 * Hosts' goal rows and the releases they name, kept in memory by host and goal generation, so
 * that answering the long polls of a fleet-wide change reads the goals of many hosts in a few
 * statements rather than one (and a release once) per host. A host's goals are read again when
 * its generation moves past the one they were read at; releases never change once made.
 */
import type { GoalRelease } from '../../api/index.js';
import type { GoalRow, HostGoals, Store } from '../../store/index.js';

/** Hosts whose goals one statement reads. */
const READ_BATCH = 1_000;
/** Releases kept (a goal names at most two per service). */
const RELEASES_KEPT = 4_096;

interface Waiting {
  generation: number;
  resolve: (goals: GoalRow[]) => void;
  reject: (e: unknown) => void;
}

export class GoalBook {
  private readonly goals = new Map<string, { generation: number; rows: GoalRow[] }>();
  private readonly releases = new Map<string, Promise<GoalRelease | null>>();
  private waiting = new Map<string, Waiting[]>();
  private scheduled = false;

  constructor(private readonly store: Store) {}

  /** The host's goal rows as of `generation` or later. */
  goalsOf(hostId: string, generation: number): Promise<GoalRow[]> {
    const known = this.goals.get(hostId);
    if (known && known.generation >= generation) return Promise.resolve(known.rows);
    return new Promise((resolve, reject) => {
      const list = this.waiting.get(hostId) ?? [];
      list.push({ generation, resolve, reject });
      this.waiting.set(hostId, list);
      if (!this.scheduled) {
        this.scheduled = true;
        // Every long poll woken in this turn of the event loop asks before the read starts.
        setImmediate(() => void this.read());
      }
    });
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
    for (const h of states) {
      const known = this.goals.get(h.id);
      if (!known || known.generation < h.goalGeneration)
        this.goals.set(h.id, { generation: h.goalGeneration, rows: h.goals });
    }
  }

  /** A removed host's goals are forgotten. */
  forget(hostId: string): void {
    this.goals.delete(hostId);
  }

  private async read(): Promise<void> {
    this.scheduled = false;
    const batch = this.waiting;
    this.waiting = new Map();
    const ids = [...batch.keys()];
    for (let i = 0; i < ids.length; i += READ_BATCH) {
      const part = ids.slice(i, i + READ_BATCH);
      try {
        const rows = await this.store.goals.ofHosts(part);
        const byHost = new Map<string, GoalRow[]>(part.map((id) => [id, []]));
        for (const r of rows) byHost.get(r.hostId)?.push(r);
        for (const id of part) {
          const list = batch.get(id)!;
          const got = byHost.get(id)!.sort((a, b) => (a.service < b.service ? -1 : 1));
          // Read after the generation the askers knew was committed: at least that new.
          const generation = Math.max(...list.map((w) => w.generation));
          const known = this.goals.get(id);
          if (!known || known.generation <= generation)
            this.goals.set(id, { generation, rows: got });
          for (const w of list) w.resolve(got);
        }
      } catch (e) {
        for (const id of part) for (const w of batch.get(id)!) w.reject(e);
      }
    }
  }
}
