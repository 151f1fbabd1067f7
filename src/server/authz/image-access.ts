/**
 * Which images an agent may download from the origin: those its own goal names (to stage or run,
 * and the jobs it is to run) and, for a relay, those any goal of its region names (it fetches for
 * its peers). An agent's
 * credential sits on a host that may be compromised; it must not read other services' images.
 *
 * Every chunk is a request, so the answer is cached per host until its goals change (the goal
 * announcement drops it, on every server process), with a short age limit behind that. A refusal
 * reads the goals again (at most once a second per host) before it stands: a goal committed a
 * moment ago may not have been announced here yet.
 */
import { NotFoundError, SlipwayError } from '../../core/index.js';
import { manifestChunks, parseManifest } from '../../image/index.js';
import type { GoalRow, Store } from '../../store/index.js';
import { ALL_HOSTS } from '../app/unit-of-work.js';
import type { Identity } from './identity.js';

/** How long an agent's allowed images are trusted without a goal announcement. */
const ENTRY_MAX_AGE_MS = 60_000;
/** How often a refusal may read an agent's goals again. */
const RECHECK_MS = 1_000;
/** Chunk sets of images kept (an image never changes); a manifest is parsed once. */
const IMAGES_KEPT = 128;
/** Releases of a service whose chunks may serve as delta bases (a host keeps three by default). */
const BASE_RELEASES = 5;
/** Hosts whose allowed images are kept; beyond, the one read longest ago goes. */
const HOSTS_KEPT = 100_000;
const NO_CHUNKS: ReadonlySet<string> = new Set();
/** Hosts whose goals one statement reads. */
const READ_BATCH = 1_000;

interface Entry {
  images: ReadonlySet<string>;
  /**
   * Images of the last releases of the services in those goals: the host may hold them from an
   * earlier goal, and names their chunks as delta bases.
   */
  baseImages: ReadonlySet<string>;
  at: number;
  relay: boolean;
}

export class ImageAccess {
  private readonly entries = new Map<string, Entry>();
  private readonly chunkSets = new Map<string, Promise<ReadonlySet<string>>>();
  /** Hosts to read in the next batch, and the reads under way (one per host at a time). */
  private toRead = new Map<string, { resolve(e: Entry): void; reject(e: unknown): void }>();
  private readonly reading = new Map<string, Promise<Entry>>();
  private readonly unlisten: () => void;

  /**
   * `release` looks a release up (the goal book's, which keeps them: releases never change);
   * null when there is none.
   */
  constructor(
    private readonly store: Store,
    private readonly release: (
      service: string,
      version: number,
    ) => Promise<{ imageId: string } | null>,
    private readonly now: () => number = Date.now,
    private readonly hostsKept: number = HOSTS_KEPT,
  ) {
    this.unlisten = store.listen('goals', (payload) => {
      if (payload === ALL_HOSTS) return this.entries.clear();
      for (const id of payload.split(',')) this.entries.delete(id);
      // A relay's images are its whole region's: any goal change may change them.
      for (const [id, e] of this.entries) if (e.relay) this.entries.delete(id);
    });
  }

  stop(): void {
    this.unlisten();
  }

  /** Throws FORBIDDEN unless `who` may download image `imageId`'s manifest. */
  async checkImage(who: Identity, imageId: string): Promise<void> {
    if (who.kind !== 'agent') return;
    const allowed = await this.allowed(who.hostId, (e) => Promise.resolve(e.images.has(imageId)));
    if (!allowed) {
      throw new SlipwayError(
        'FORBIDDEN',
        `image ${imageId} is not in this host's goal: an agent downloads only the images it is to stage or run`,
      );
    }
  }

  /** Throws FORBIDDEN unless `who` may download chunk `digest` (it is in an image it may). */
  async checkChunk(who: Identity, digest: string): Promise<void> {
    if (who.kind !== 'agent') return;
    if (!(await this.chunkAllowed(who.hostId, digest))) {
      throw new SlipwayError(
        'FORBIDDEN',
        `chunk ${digest} is in no image of this host's goal: an agent downloads only the images it is to stage or run`,
      );
    }
  }

  /**
   * The delta bases an agent may name: chunks of its services' recent releases (a delta tells
   * what the chunk has in common with its base: not to be had for another service's chunks).
   * Null (send the chunk whole) otherwise.
   */
  async allowedBases(who: Identity, digests: string[] | null): Promise<string[] | null> {
    if (who.kind !== 'agent' || !digests) return digests;
    for (const d of digests) {
      const ok = await this.allowed(who.hostId, (e) => this.inImages(e.baseImages, d));
      if (!ok) return null;
    }
    return digests;
  }

  private chunkAllowed(hostId: string, digest: string): Promise<boolean> {
    return this.allowed(hostId, (e) => this.inImages(e.images, digest));
  }

  private async inImages(images: ReadonlySet<string>, digest: string): Promise<boolean> {
    for (const id of images) {
      // An image without a manifest (cannot happen for a release's) grants nothing.
      const chunks = await this.chunksOf(id).catch(() => NO_CHUNKS);
      if (chunks.has(digest)) return true;
    }
    return false;
  }

  private async allowed(
    hostId: string,
    test: (entry: Entry) => Promise<boolean>,
  ): Promise<boolean> {
    const now = this.now();
    let entry = this.entries.get(hostId);
    if (entry && now - entry.at < ENTRY_MAX_AGE_MS && (await test(entry))) return true;
    if (entry && now - entry.at < RECHECK_MS) return false;
    entry = await this.read(hostId, now);
    return test(entry);
  }

  /**
   * The images a host's goals (or, for a relay, its region's goals) name. Hosts asked for within
   * one turn of the event loop are read together: when a fleet starts fetching a new release,
   * every host's first chunk asks at once, and reading each on its own was four queries a host.
   */
  private read(hostId: string, now: number): Promise<Entry> {
    const known = this.reading.get(hostId);
    if (known) return known;
    const entry = new Promise<Entry>((resolve, reject) => {
      this.toRead.set(hostId, { resolve, reject });
      if (this.toRead.size === 1) setImmediate(() => void this.readBatch(now));
    });
    this.reading.set(hostId, entry);
    const forget = () => this.reading.delete(hostId);
    entry.then(forget, forget);
    return entry;
  }

  private async readBatch(now: number): Promise<void> {
    const batch = this.toRead;
    this.toRead = new Map();
    try {
      const entries = await this.entriesOf([...batch.keys()], now);
      for (const [id, waiting] of batch) {
        const entry = entries.get(id);
        // A host that is not registered (any more) may download nothing; not kept.
        if (!entry) {
          waiting.resolve({ images: new Set(), baseImages: new Set(), at: now, relay: false });
          continue;
        }
        // Not all of them at once: at a fleet's size, every host would then be read again.
        this.entries.delete(id);
        if (this.entries.size >= this.hostsKept)
          this.entries.delete(this.entries.keys().next().value!);
        this.entries.set(id, entry);
        waiting.resolve(entry);
      }
    } catch (e) {
      for (const waiting of batch.values()) waiting.reject(e);
    }
  }

  /**
   * The entries of those of these hosts that exist, read in a few statements whatever their
   * number.
   */
  private async entriesOf(hostIds: string[], now: number): Promise<Map<string, Entry>> {
    const hosts = new Map((await this.store.hosts.byIds(hostIds)).map((h) => [h.id, h]));
    // A relay fetches for its whole region: its region's hosts' goals count as its own.
    const relayRegions = new Set([...hosts.values()].filter((h) => h.relay).map((h) => h.region));
    const regions = new Map<string, string[]>();
    if (relayRegions.size > 0) {
      for (const h of await this.store.hosts.list()) {
        if (!relayRegions.has(h.region)) continue;
        const ids = regions.get(h.region) ?? [];
        ids.push(h.id);
        regions.set(h.region, ids);
      }
    }
    const goalHosts = new Set([...hosts.keys(), ...[...regions.values()].flat()]);
    const goals = new Map<string, GoalRow[]>();
    // The files of the jobs a host is to run: their image and script.
    const jobImages = new Map<string, string[]>();
    for (let i = 0; i < goalHosts.size; i += READ_BATCH) {
      const part = [...goalHosts].slice(i, i + READ_BATCH);
      for (const g of await this.store.goals.ofHosts(part)) {
        const list = goals.get(g.hostId) ?? [];
        list.push(g);
        goals.set(g.hostId, list);
      }
      for (const j of await this.store.jobs.openOnHosts(part)) {
        const list = jobImages.get(j.hostId) ?? [];
        if (j.spec.imageId) list.push(j.spec.imageId);
        if (j.spec.script) list.push(j.spec.script.imageId);
        jobImages.set(j.hostId, list);
      }
    }
    const recent = new Map<string, string[]>();
    const recentOf = async (service: string) => {
      let images = recent.get(service);
      if (!images) {
        const releases = (await this.store.releases.list(service)).slice(0, BASE_RELEASES);
        recent.set(service, (images = releases.map((r) => r.imageId)));
      }
      return images;
    };
    const result = new Map<string, Entry>();
    for (const id of hostIds) {
      const host = hosts.get(id);
      if (!host) continue;
      const mine = (host.relay ? (regions.get(host.region) ?? []) : [id]).flatMap(
        (h) => goals.get(h) ?? [],
      );
      const images = new Set<string>(
        (host.relay ? (regions.get(host.region) ?? []) : [id]).flatMap(
          (h) => jobImages.get(h) ?? [],
        ),
      );
      for (const g of mine) {
        for (const v of [g.stageVersion, g.activeVersion]) {
          const image = v === null ? null : (await this.release(g.service, v))?.imageId;
          if (image) images.add(image);
        }
      }
      const baseImages = new Set(images);
      for (const service of new Set(mine.map((g) => g.service)))
        for (const image of await recentOf(service)) baseImages.add(image);
      result.set(id, { images, baseImages, at: now, relay: host.relay });
    }
    return result;
  }

  private chunksOf(imageId: string): Promise<ReadonlySet<string>> {
    let set = this.chunkSets.get(imageId);
    if (!set) {
      set = this.store.images.manifest(imageId).then((text) => {
        if (!text) throw new NotFoundError('image', imageId);
        const m = parseManifest(JSON.parse(text));
        return new Set(manifestChunks(m).map((c) => c.digest));
      });
      set.catch(() => this.chunkSets.delete(imageId));
      this.chunkSets.set(imageId, set);
      if (this.chunkSets.size > IMAGES_KEPT)
        this.chunkSets.delete(this.chunkSets.keys().next().value!);
    }
    return set;
  }
}
