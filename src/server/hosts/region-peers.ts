/**
 * Each region's peers, kept as hosts are heard from, so that a goal answer costs the peers it
 * names, not a read of every host: the region's online hosts with a peer URL the server checked,
 * relays apart from the rest, the rest sorted by id (a host's place among them is its share of
 * the relay's chunks).
 *
 * This server learns of its own agents at once (reports, long polls, enrollment, removal, relay
 * changes). Agents that talk to another server on the same database reach it through the store:
 * every 5 s ({@link REFRESH_MS}) the hosts are read once (not per answer), so such a host shows up
 * as a peer here within about 6 s: the read's period plus the other server's write-behind (1 s).
 *
 * Hosts that stop being heard from leave lazily: a region's set is swept at most every
 * {@link SWEEP_MS}, and each peer handed out is checked online at answer time.
 */
import type { HostRow } from '../../store/index.js';
import { isOnline } from './online.js';

/**
 * How often the hosts are read from the store, for the agents of other servers. No other server
 * shares an embedded store: there the read only catches what this server missed (it learns of
 * every change to hosts as it makes it), and, as PGlite takes the whole session (one query at a
 * time) while it reads, is rare.
 */
export const REFRESH_MS = { postgres: 5_000, pglite: 60_000 } as const;
/** How often a region's set drops the hosts that went offline. */
export const SWEEP_MS = 1_000;
/** Peers looked at, per peer wanted, before an answer makes do with fewer (offline ones). */
const DRAWS_PER_PEER = 4;

/** Where the hosts come from: the store, read in full now and then, or one host at a time. */
export interface HostSource {
  list(): Promise<HostRow[]>;
  byId(id: string): Promise<HostRow | undefined>;
}

export interface Peer {
  hostId: string;
  name: string;
  url: string;
  relay: boolean;
}

export interface RegionAnswer {
  /** Every online relay of the region but the asking host. */
  relays: Peer[];
  /** A random sample of the region's other online peers, at most as many as asked for. */
  others: Peer[];
  /** The host's place among the region's non-relay peers (itself included); null for a relay. */
  share: { index: number; of: number } | null;
}

interface Member {
  id: string;
  name: string;
  /** Null until the host's row was read (an agent of this server the store read missed). */
  region: string | null;
  relay: boolean;
  url: string | null;
  lastSeenAt: Date | null;
  pollDroppedAt?: Date;
  /** When this server last took the host's report (and its URL). */
  reportedAt: number | null;
  /** The store read during which this member was made, or its relay flag set here. */
  since: number;
  relaySince: number;
  /** In its region's set (as a relay if `relay`). */
  listed: boolean;
}

interface Region {
  /** Non-relay members with a checked URL, online when last looked at, sorted by id. */
  fetchers: string[];
  relays: Set<string>;
  sweptAt: number;
}

export class RegionPeers {
  private readonly members = new Map<string, Member>();
  private readonly regions = new Map<string, Region>();
  private readonly loading = new Map<string, Promise<void>>();
  /** Hosts removed here since the running store read began: its rows may still hold them. */
  private readonly gone = new Set<string>();
  /** Counts store reads begun; a member made after a read began may be missing from it. */
  private reads = 0;
  private firstRead: Promise<void> | null = null;
  private reading: Promise<void> | null = null;
  private readAt = -Infinity;

  constructor(
    private readonly source: HostSource,
    private readonly log: (msg: string) => void = () => {},
    private readonly refreshMs: number = REFRESH_MS.postgres,
  ) {}

  /** A report taken here, with the peer URL the server checked (null: none to hand out). */
  reported(id: string, url: string | null, at: Date): void {
    const m = this.member(id);
    m.url = url;
    m.reportedAt = at.getTime();
    delete m.pollDroppedAt;
    this.seen(m, at);
  }

  /** The host was heard from here (a long poll, enrollment). */
  heard(id: string, at: Date): void {
    this.seen(this.member(id), at);
  }

  /** This server saw the host's long poll drop at `at`; null: it polls again. */
  pollDropped(id: string, at: Date | null): void {
    const m = this.members.get(id);
    if (!m) return;
    if (at) m.pollDroppedAt = at;
    else delete m.pollDroppedAt;
  }

  /** A host enrolled here. */
  enrolled(row: HostRow, at: Date): void {
    this.merge(row, at.getTime());
  }

  relayChanged(id: string, relay: boolean, now: number): void {
    const m = this.members.get(id);
    if (!m) return;
    this.unlist(m);
    m.relay = relay;
    m.relaySince = this.reads;
    this.place(m, now);
  }

  /** A host was removed here (committed). */
  removed(id: string): void {
    if (this.reading) this.gone.add(id);
    this.forget(id);
  }

  /** The peers of `host`'s region to name in its goal: all relays, and `sent` others. */
  async answer(
    host: { id: string; region: string; relay: boolean },
    now: number,
    sent: number,
  ): Promise<RegionAnswer> {
    await this.fresh(now);
    const r = this.regions.get(host.region);
    if (!r) return { relays: [], others: [], share: host.relay ? null : { index: 0, of: 1 } };
    this.sweep(r, now);
    const relays: Peer[] = [];
    for (const id of r.relays) {
      const m = this.members.get(id)!;
      if (id !== host.id && isOnline(m, now)) relays.push(peerOf(m));
    }
    return { relays, others: this.sample(r.fetchers, host.id, now, sent), share: shareOf(r, host) };
  }

  /** Reads the hosts from the store when due; the first read is waited for, later ones not. */
  private async fresh(now: number): Promise<void> {
    if (!this.reading && now - this.readAt >= this.refreshMs) {
      this.readAt = now;
      const read = this.read(now).finally(() => {
        if (this.reading === read) this.reading = null;
      });
      this.reading = read;
      this.firstRead ??= read.catch((e: unknown) => {
        this.firstRead = null;
        this.readAt = -Infinity;
        throw e;
      });
      read.catch((e: unknown) => this.log(`reading hosts for peers: ${(e as Error).message}`));
    }
    await this.firstRead;
    // Hosts this server heard from before the store told it their region.
    if (this.loading.size > 0) await Promise.all(this.loading.values());
  }

  private async read(now: number): Promise<void> {
    const read = ++this.reads;
    this.gone.clear();
    const rows = await this.source.list();
    const present = new Set<string>();
    for (const row of rows) {
      present.add(row.id);
      if (!this.gone.has(row.id)) this.merge(row, now);
    }
    this.gone.clear();
    // Gone from the store: removed on another server (unless made here since the read began).
    for (const [id, m] of this.members) {
      if (!present.has(id) && m.since < read && m.region !== null) this.forget(id);
    }
  }

  private forget(id: string): void {
    const m = this.members.get(id);
    if (!m) return;
    this.unlist(m);
    this.members.delete(id);
  }

  /** The member `id`, made if new; `load`: read its row when no store read will bring it. */
  private member(id: string, load = true): Member {
    let m = this.members.get(id);
    if (!m) {
      m = {
        id,
        name: id,
        region: null,
        relay: false,
        url: null,
        lastSeenAt: null,
        reportedAt: null,
        since: this.reads,
        relaySince: -1,
        listed: false,
      };
      this.members.set(id, m);
      if (load && this.firstRead) this.load(id);
    }
    return m;
  }

  /** Reads one host this server heard from but the last store read did not have. */
  private load(id: string): void {
    if (this.loading.has(id)) return;
    const loaded = this.source
      .byId(id)
      .then((row) => {
        // Placed as of when it was heard: each peer is checked online again when handed out.
        if (row) this.merge(row, this.members.get(id)?.lastSeenAt?.getTime() ?? 0);
        else if (this.members.get(id)?.region === null) this.members.delete(id);
      })
      .catch((e: unknown) => this.log(`reading host ${id} for peers: ${(e as Error).message}`))
      .finally(() => this.loading.delete(id));
    this.loading.set(id, loaded);
  }

  /** Takes in a stored row: what this server heard itself stays when it is newer. */
  private merge(row: HostRow, now: number): void {
    const m = this.member(row.id, false);
    const relay = m.relaySince >= this.reads ? m.relay : row.relay;
    if (m.region !== row.region || m.relay !== relay) this.unlist(m);
    m.name = row.name;
    m.region = row.region;
    m.relay = relay;
    const seen = row.lastSeenAt;
    if (seen && (m.reportedAt === null || seen.getTime() > m.reportedAt)) {
      m.url = row.report?.checkedPeerUrl ?? null;
    }
    if (seen && (!m.lastSeenAt || seen > m.lastSeenAt)) m.lastSeenAt = seen;
    this.place(m, now);
  }

  private seen(m: Member, at: Date): void {
    if (!m.lastSeenAt || at > m.lastSeenAt) m.lastSeenAt = at;
    this.place(m, at.getTime());
  }

  /** Puts a member in its region's set, or takes it out, as it now stands. */
  private place(m: Member, now: number): void {
    const wanted = m.region !== null && m.url !== null && isOnline(m, now);
    if (wanted === m.listed) return;
    if (!wanted) return this.unlist(m);
    let r = this.regions.get(m.region!);
    if (!r) {
      r = { fetchers: [], relays: new Set(), sweptAt: now };
      this.regions.set(m.region!, r);
    }
    if (m.relay) r.relays.add(m.id);
    else r.fetchers.splice(lowerBound(r.fetchers, m.id), 0, m.id);
    m.listed = true;
  }

  private unlist(m: Member): void {
    if (!m.listed || m.region === null) return;
    m.listed = false;
    const r = this.regions.get(m.region);
    if (!r) return;
    if (m.relay) r.relays.delete(m.id);
    else {
      const i = lowerBound(r.fetchers, m.id);
      if (r.fetchers[i] === m.id) r.fetchers.splice(i, 1);
    }
  }

  /** Drops the region's members that went offline; at most every {@link SWEEP_MS}. */
  private sweep(r: Region, now: number): void {
    if (now - r.sweptAt < SWEEP_MS) return;
    r.sweptAt = now;
    const online = (id: string) => {
      const m = this.members.get(id)!;
      if (isOnline(m, now)) return true;
      m.listed = false;
      return false;
    };
    r.fetchers = r.fetchers.filter(online);
    for (const id of r.relays) if (!online(id)) r.relays.delete(id);
  }

  /**
   * Up to `sent` online fetchers other than `self`, in random order: a Fisher-Yates shuffle
   * carried only as far as needed (the swaps kept in a map), so it costs the draws, not the region.
   */
  private sample(fetchers: string[], self: string, now: number, sent: number): Peer[] {
    const n = fetchers.length;
    const draws = Math.min(n, sent * DRAWS_PER_PEER + 1);
    const swaps = new Map<number, number>();
    const picked: Peer[] = [];
    for (let j = 0; j < draws && picked.length < sent; j++) {
      const k = j + Math.floor(Math.random() * (n - j));
      const at = swaps.get(k) ?? k;
      swaps.set(k, swaps.get(j) ?? j);
      const m = this.members.get(fetchers[at]!)!;
      if (m.id !== self && isOnline(m, now)) picked.push(peerOf(m));
    }
    return picked;
  }
}

function shareOf(r: Region, host: { id: string; relay: boolean }): RegionAnswer['share'] {
  if (host.relay) return null;
  const index = lowerBound(r.fetchers, host.id);
  // The asking host counts itself whether or not it is in the set (no URL, say).
  return { index, of: r.fetchers.length + (r.fetchers[index] === host.id ? 0 : 1) };
}

function peerOf(m: Member): Peer {
  return { hostId: m.id, name: m.name, url: m.url!, relay: m.relay };
}

/** The first index of sorted `xs` whose item is not below `x`. */
function lowerBound(xs: string[], x: string): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
