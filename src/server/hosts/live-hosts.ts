/**
 * Agents' latest reports and last-seen times, held in memory and written behind in batches.
 * Every agent reports at least every few seconds and once a second while it fetches; a write
 * per report would keep an embedded database busy with little else at a few dozen hosts, and
 * the rows would churn. A report is an observation the agent repeats, so losing the last second
 * of them in a crash loses nothing: the next heartbeat brings it back. This is a cache of the
 * server's, not persistence: the store only sees the batched write.
 */
import { hostReport, type HostReport } from '../../api/index.js';
import type { HostGoals, HostRow, Store } from '../../store/index.js';
import { HostCache } from './host-cache.js';
import { observedChanged } from './observed-change.js';
import { REFRESH_MS, RegionPeers, type RegionAnswer } from './region-peers.js';

/**
 * A host as this server knows it: the stored row with its agent's latest report, and when this
 * server saw the agent's goal long poll drop (the connection closed before the answer, as when
 * the agent dies) with nothing heard from it since. Only the server that held the long poll
 * knows: the stored last-seen time stays what every server goes by.
 */
export type LiveHostRow = HostRow & { pollDroppedAt?: Date };

interface Pending {
  /** Undefined when only the last-seen time changed. */
  report?: HostReport;
  bytesReceived?: Record<string, number>;
  seenAt: Date;
}

const FLUSH_MS = 1_000;

export class LiveHosts {
  private pending = new Map<string, Pending>();
  /**
   * What a flush under way is writing: still this server's to show until it commits (a reader
   * of the store meanwhile, such as a transaction creating a deployment, sees the rows without it).
   */
  private flushing = new Map<string, Pending>();
  /** The last write begun: the next waits for it. */
  private flushed: Promise<void> = Promise.resolve();
  /** Goal long polls open on this server, by host. */
  private readonly polls = new Map<string, number>();
  /** When a host's last long poll on this server was dropped, with none open since. */
  private readonly dropped = new Map<string, Date>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Each region's online peers, kept as hosts are heard from. */
  private readonly peers: RegionPeers;
  /** The stored rows, read as they change. */
  private readonly cache: HostCache;
  /** Hosts whose reports changed what a deployment step reads, since {@link takeChanged}. */
  private changed = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly log: (msg: string) => void = () => {},
    now: () => number = Date.now,
  ) {
    this.cache = new HostCache(store, now, log, (id) => this.changed.add(id));
    this.peers = new RegionPeers(
      { list: () => this.cache.all(), byId: (id) => this.cache.byId(id) },
      log,
      REFRESH_MS[store.engine],
    );
  }

  /** Starts reading the hosts' changes from the store. */
  start(): void {
    this.cache.start();
  }

  /**
   * Resolves, with what it read, once these hosts' goal generations as committed before the
   * call are what {@link byId} and {@link list} return.
   */
  readGoals(hostIds: string[] | 'all'): Promise<HostGoals[]> {
    return this.cache.readGoals(hostIds);
  }

  /** Resolves after a read of the hosts' changes that began after this call. */
  refresh(): Promise<void> {
    return this.cache.refresh();
  }

  /**
   * The hosts whose reports changed what a deployment step reads (or that went away) since the
   * last call: here, or on another server and read from the store since.
   */
  takeChanged(): ReadonlySet<string> {
    const taken = this.changed;
    this.changed = new Set();
    return taken;
  }

  /** Records an agent's report; readers here see it at once, the table within a second. */
  report(hostId: string, report: HostReport, at: Date): void {
    const before =
      this.pending.get(hostId)?.report ??
      this.flushing.get(hostId)?.report ??
      this.cache.peek(hostId)?.report ??
      null;
    if (observedChanged(before, report)) this.changed.add(hostId);
    this.pending.set(hostId, { report, bytesReceived: report.bytesReceived, seenAt: at });
    this.dropped.delete(hostId);
    this.peers.reported(hostId, report.checkedPeerUrl, at);
    this.flushSoon();
  }

  /** An agent's goal long poll arrived: it is there. */
  pollOpened(hostId: string, at: Date): void {
    this.polls.set(hostId, (this.polls.get(hostId) ?? 0) + 1);
    this.dropped.delete(hostId);
    this.peers.pollDropped(hostId, null);
    this.touch(hostId, at);
  }

  /**
   * An agent's goal long poll ended: answered (`droppedAt` null), or dropped by the agent's side
   * at `droppedAt`, before the answer. An agent re-polls at once after an answer, and within a
   * second after a dropped connection while it runs; a dead agent's connection is closed by its
   * kernel, so the drop is the first sign of its death, long before its reports stop counting.
   */
  pollClosed(hostId: string, droppedAt: Date | null): void {
    const open = (this.polls.get(hostId) ?? 1) - 1;
    if (open > 0) {
      this.polls.set(hostId, open);
      return;
    }
    this.polls.delete(hostId);
    if (droppedAt) {
      this.dropped.set(hostId, droppedAt);
      this.peers.pollDropped(hostId, droppedAt);
    }
  }

  /** Records that an agent was heard from. */
  touch(hostId: string, at: Date): void {
    const p = this.pending.get(hostId);
    this.pending.set(hostId, p ? { ...p, seenAt: at } : { seenAt: at });
    this.peers.heard(hostId, at);
    this.flushSoon();
  }

  /** A host enrolled here: a peer of its region as soon as it reports a peer URL. */
  enrolled(host: HostRow, at: Date): void {
    this.cache.put(host);
    this.peers.enrolled(host, at);
    this.touch(host.id, at);
  }

  /** An operator named a host its region's relay, or stopped doing so (committed). */
  relayChanged(hostId: string, relay: boolean, now: number): void {
    const row = this.cache.peek(hostId);
    if (row) this.cache.put({ ...row, relay });
    this.peers.relayChanged(hostId, relay, now);
  }

  /** A host was removed (committed): no longer anyone's peer. */
  removed(hostId: string): void {
    this.cache.removed(hostId);
    this.peers.removed(hostId);
  }

  /**
   * The peers to name in a host's goal: every online relay of its region and a random `sent` of
   * its other online peers, never the host itself; and its share of the relay's chunks. Costs
   * the peers named, not the region (see {@link RegionPeers}).
   */
  regionPeers(
    host: { id: string; region: string; relay: boolean },
    now: number,
    sent: number,
  ): Promise<RegionAnswer> {
    return this.peers.answer(host, now, sent);
  }

  /** How many goal long polls of the host this server holds open. */
  pollsOpen(hostId: string): number {
    return this.polls.get(hostId) ?? 0;
  }

  /** Hosts as their agents last described them, by region and name, from memory. */
  async list(): Promise<LiveHostRow[]> {
    const rows = (await this.cache.all()).map((h) => this.overlay(h));
    return rows.sort((a, b) => compare(a.region, b.region) || compare(a.name, b.name));
  }

  /**
   * Up to `limit` hosts (of `region`) by name, after the name `after`, and the name the next
   * page starts after (null on the last): costs the page, not the fleet.
   */
  async page(q: {
    after?: string;
    limit: number;
    region?: string;
  }): Promise<{ hosts: LiveHostRow[]; next: string | null }> {
    const names = await this.cache.sortedNames();
    let i = 0;
    if (q.after !== undefined) {
      // The first name past `after`.
      let hi = names.length;
      while (i < hi) {
        const mid = (i + hi) >>> 1;
        if (names[mid]! <= q.after) i = mid + 1;
        else hi = mid;
      }
    }
    const hosts: LiveHostRow[] = [];
    for (; i < names.length && hosts.length < q.limit; i++) {
      const row = this.cache.peekByName(names[i]!);
      if (row && (q.region === undefined || row.region === q.region)) hosts.push(this.overlay(row));
    }
    // More may follow only if names are left; a region's last page may then come back empty.
    const next = i < names.length && hosts.length > 0 ? hosts.at(-1)!.name : null;
    return { hosts, next };
  }

  /** Resolves once the hosts were read from the store the first time. */
  ready(): Promise<void> {
    return this.cache.ready();
  }

  /** The host as kept in memory, if it is (no read of the store). */
  peek(id: string): LiveHostRow | undefined {
    const h = this.cache.peek(id);
    return h && this.overlay(h);
  }

  async byId(id: string): Promise<LiveHostRow | undefined> {
    const h = await this.cache.byId(id);
    return h && this.overlay(h);
  }

  /**
   * These hosts as `tx` sees them in the store, as their agents last described them: for hosts
   * the cache does not hold yet (enrolled on another server a moment ago), where a missing host
   * must mean a removed one.
   */
  async byIds(ids: readonly string[], tx: Store): Promise<LiveHostRow[]> {
    const rows = await tx.hosts.byIds(ids);
    for (const r of rows) this.cache.put(r);
    return rows.map((h) => this.overlay(h));
  }

  async byName(name: string): Promise<LiveHostRow | undefined> {
    const h = await this.cache.byName(name);
    return h && this.overlay(h);
  }

  /** Writes what is pending in one transaction; a failed write keeps it for the next try. */
  flush(): Promise<void> {
    // One at a time: a write that outlasts the flush interval (a busy embedded store) must not
    // have the next one overtake it, nor hide what it writes from readers (`flushing`).
    const run = this.flushed.catch(() => {}).then(() => this.flushOnce());
    this.flushed = run;
    return run;
  }

  private async flushOnce(): Promise<void> {
    const taken = this.pending;
    if (taken.size === 0) return;
    this.pending = new Map();
    this.flushing = taken;
    try {
      await this.store.transaction((tx) => tx.hosts.saveLiveState(taken));
    } catch (e) {
      for (const [id, p] of taken) if (!this.pending.has(id)) this.pending.set(id, p);
      throw e;
    } finally {
      this.flushing = new Map();
    }
    // Written: the cached rows say so until the next read brings them back.
    for (const [id, p] of taken) {
      const row = this.cache.peek(id);
      if (row) this.cache.put(withPending(row, p));
    }
  }

  /** Stops the timers and writes what is pending. */
  async close(): Promise<void> {
    this.stopped = true;
    this.cache.stop();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
  }

  private overlay(h: HostRow): LiveHostRow {
    const droppedAt = this.dropped.get(h.id);
    let live: LiveHostRow = droppedAt ? { ...h, pollDroppedAt: droppedAt } : h;
    const f = this.flushing.get(h.id);
    if (f) live = withPending(live, f);
    const p = this.pending.get(h.id);
    return p ? withPending(live, p) : live;
  }

  private flushSoon(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush().catch((e: unknown) => this.log(`writing host reports: ${(e as Error).message}`));
    }, FLUSH_MS);
    this.timer.unref();
  }
}

/** A row with what this server heard of its host and has not read back from the store. */
function withPending<R extends HostRow>(h: R, p: Pending): R {
  // Another server may have heard from the host later than this one's pending time.
  const lastSeenAt = h.lastSeenAt && h.lastSeenAt > p.seenAt ? h.lastSeenAt : p.seenAt;
  return p.report === undefined
    ? { ...h, lastSeenAt }
    : { ...h, report: p.report, bytesReceived: p.bytesReceived ?? {}, lastSeenAt };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The last report of a host, or an empty one when it never reported. */
export function reportOf(host: HostRow): HostReport {
  return host.report ?? EMPTY_REPORT;
}

const EMPTY_REPORT: HostReport = hostReport.parse({ services: [] });
