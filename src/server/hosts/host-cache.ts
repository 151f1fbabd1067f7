/**
 * The hosts as this server last read them from the store, kept in memory so that a goal answer,
 * a host list or an orchestrator pass reads no host row: at 10,000 hosts a full read costs a
 * fifth of a second of the embedded database, and those run thousands of times a minute.
 *
 * Kept fresh by reading only the rows written since the last read (the store stamps every write
 * to a host row with the database's clock) every {@link CHANGES_EVERY_MS}, and the goal
 * generations of the hosts whose goals changed at once when that is announced (a long poll must
 * see its host's new generation before it is woken). A full read every
 * {@link FULL_READ_MS} also drops hosts another server removed. A host this server has not read
 * yet (enrolled on another server a moment ago) is read on its own when asked for.
 */
import type { HostGoals, HostRow, Store } from '../../store/index.js';
import { observedChanged } from './observed-change.js';

/** How often the rows written since the last read are read. */
export const CHANGES_EVERY_MS = 1_000;
/** How often every row is read again. */
export const FULL_READ_MS = 60_000;
/**
 * Each read of changes starts this far before the last one's database time: a transaction that
 * began before that read and committed after it stamped its rows with its start.
 */
const OVERLAP_MS = 2_000;

export class HostCache {
  private readonly rows = new Map<string, HostRow>();
  private readonly names = new Map<string, string>();
  /** The names, sorted, while no name came or went; null to sort again. */
  private sorted: string[] | null = null;
  /** The database's clock at the last read; null before the first. */
  private readAt: Date | null = null;
  private fullAt = -Infinity;
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Counts reads begun and rows put, to order the two. */
  private ticks = 0;
  /** When (in ticks) this server last put each row not read back since. */
  private readonly putAt = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    private readonly log: (msg: string) => void = () => {},
    /** Told of a host whose report changed what a deployment step reads, or that went away. */
    private readonly observed: (hostId: string) => void = () => {},
  ) {}

  /** Reads changes every {@link CHANGES_EVERY_MS} until {@link stop}. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.refresh().catch((e: unknown) => this.log(`reading hosts: ${(e as Error).message}`));
    }, CHANGES_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Reads the goal generations of these hosts (of all: `'all'`) as committed now, with their
   * goal rows, for a goal change announced by its writer; answers what it read. Not the rows:
   * a goal change does not mark them written (a fleet-wide one would have every server read
   * every row again), and at 10,000 hosts the rows with their reports take a quarter of a
   * second of the embedded database. A host not cached yet is read when asked for.
   */
  async readGoals(ids: readonly string[] | 'all'): Promise<HostGoals[]> {
    await this.ready();
    const read = await this.store.hosts.goalStates(ids);
    for (const g of read) {
      const row = this.rows.get(g.id);
      if (row && row.goalGeneration < g.goalGeneration)
        this.rows.set(g.id, { ...row, goalGeneration: g.goalGeneration });
    }
    return read;
  }

  /**
   * Resolves after a read that began after this call: what was committed before it is in the
   * cache then. Calls during a read share the one after it.
   */
  refresh(): Promise<void> {
    this.next ??= (async () => {
      await this.running?.catch(() => {});
      this.next = null;
      const read = this.read();
      this.running = read;
      try {
        await read;
      } finally {
        if (this.running === read) this.running = null;
      }
    })();
    return this.next;
  }

  /** Resolves once the first read is done (at once after it). */
  async ready(): Promise<void> {
    if (this.readAt === null) await this.refresh();
  }

  /** Every host, in no particular order (the first call waits for the first read). */
  async all(): Promise<HostRow[]> {
    await this.ready();
    return [...this.rows.values()];
  }

  async byId(id: string): Promise<HostRow | undefined> {
    await this.ready();
    const row = this.rows.get(id);
    if (row) return row;
    const began = ++this.ticks;
    return this.readOne(await this.store.hosts.byId(id), began);
  }

  async byName(name: string): Promise<HostRow | undefined> {
    await this.ready();
    const id = this.names.get(name);
    const row = id && this.rows.get(id);
    if (row) return row;
    const began = ++this.ticks;
    return this.readOne(await this.store.hosts.byName(name), began);
  }

  /** The cached row, if any, without reading the store. */
  peek(id: string): HostRow | undefined {
    return this.rows.get(id);
  }

  peekByName(name: string): HostRow | undefined {
    const id = this.names.get(name);
    return id === undefined ? undefined : this.rows.get(id);
  }

  /** Every cached host's name, sorted; kept until a name comes or goes. */
  async sortedNames(): Promise<readonly string[]> {
    await this.ready();
    this.sorted ??= [...this.names.keys()].sort();
    return this.sorted;
  }

  /**
   * A row this server wrote (or read inside a transaction): kept until a read that began after
   * this call. A read under way may bring the row as it was before the write; that is dropped.
   */
  put(row: HostRow): void {
    this.putAt.set(row.id, ++this.ticks);
    this.set(row);
  }

  /** A row a read that began at tick `began` brought, unless this server put a newer one since. */
  private take(row: HostRow, began: number): void {
    if (!this.newerThan(row.id, began)) this.set(row);
  }

  private newerThan(id: string, began: number): boolean {
    const at = this.putAt.get(id);
    if (at === undefined) return false;
    if (at > began) return true;
    this.putAt.delete(id); // read since: the store has it
    return false;
  }

  private set(row: HostRow): void {
    const old = this.rows.get(row.id);
    // A goal generation only grows: a row read before a goal change committed never takes back
    // the one read after it (a long poll would wait on for a change it already missed).
    if (old && old.goalGeneration > row.goalGeneration)
      row = { ...row, goalGeneration: old.goalGeneration };
    if (old && old.name !== row.name) this.names.delete(old.name);
    if (!old || old.name !== row.name) this.sorted = null;
    if (!old || observedChanged(old.report, row.report)) this.observed(row.id);
    this.rows.set(row.id, row);
    this.names.set(row.name, row.id);
  }

  /** A host removed here (committed). */
  removed(id: string): void {
    this.putAt.delete(id);
    const old = this.rows.get(id);
    if (!old) return;
    this.rows.delete(id);
    this.names.delete(old.name);
    this.sorted = null;
    this.observed(id);
  }

  /**
   * A row read on its own, begun at tick `began`: kept unless this server put a newer one, and
   * then that newer one is the answer.
   */
  private readOne(row: HostRow | undefined, began: number): HostRow | undefined {
    if (!row) return undefined;
    this.take(row, began);
    return this.rows.get(row.id) ?? row;
  }

  private async read(): Promise<void> {
    const full = this.readAt === null || this.now() - this.fullAt >= FULL_READ_MS;
    const since = full ? new Date(0) : new Date(this.readAt!.getTime() - OVERLAP_MS);
    const started = this.now();
    const began = ++this.ticks;
    const { hosts, now } = await this.store.hosts.changedSince(since);
    if (full) {
      // Rows put here since the read began stay; the rest is what the store holds (a row it
      // no longer holds was removed by another server).
      const present = new Set(hosts.map((h) => h.id));
      for (const id of [...this.rows.keys()])
        if (!present.has(id) && !this.newerThan(id, began)) this.removed(id);
      this.fullAt = started;
    }
    for (const h of hosts) this.take(h, began);
    this.readAt = now;
  }
}
