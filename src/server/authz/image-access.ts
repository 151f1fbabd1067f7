/**
 * Which images an agent may download from the origin: those its own goal names (to stage or run)
 * and, for a relay, those any goal of its region names (it fetches for its peers). An agent's
 * credential sits on a host that may be compromised; it must not read other services' images.
 *
 * Every chunk is a request, so the answer is cached per host until its goals change (the goal
 * announcement drops it, on every server process), with a short age limit behind that. A refusal
 * reads the goals again (at most once a second per host) before it stands: a goal committed a
 * moment ago may not have been announced here yet.
 */
import { NotFoundError, SlipwayError } from '../../core/index.js';
import { manifestChunks, parseManifest } from '../../image/index.js';
import type { Store } from '../../store/index.js';
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
  private readonly unlisten: () => void;

  constructor(
    private readonly store: Store,
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

  /** The images a host's goals (or, for a relay, its region's goals) name. */
  private async read(hostId: string, now: number): Promise<Entry> {
    const host = await this.store.hosts.byId(hostId);
    if (!host) return { images: new Set(), baseImages: new Set(), at: now, relay: false };
    const hostIds = host.relay
      ? (await this.store.hosts.list()).filter((h) => h.region === host.region).map((h) => h.id)
      : [host.id];
    const images = new Set<string>();
    const seen = new Set<string>();
    const goals = await this.store.goals.ofHosts(hostIds);
    for (const g of goals) {
      for (const v of [g.stageVersion, g.activeVersion]) {
        const key = `${g.service}:${v}`;
        if (v === null || seen.has(key)) continue;
        seen.add(key);
        const r = await this.store.releases.get(g.service, v);
        if (r) images.add(r.imageId);
      }
    }
    const baseImages = new Set(images);
    for (const service of new Set(goals.map((g) => g.service))) {
      const recent = (await this.store.releases.list(service)).slice(0, BASE_RELEASES);
      for (const r of recent) baseImages.add(r.imageId);
    }
    const entry = { images, baseImages, at: now, relay: host.relay };
    // Not all of them at once: at a fleet's size, every host would then be read again.
    this.entries.delete(hostId);
    if (this.entries.size >= this.hostsKept) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(hostId, entry);
    return entry;
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
