/**
 * When and what to collect from the object store: a moment after releases were removed, every
 * object no image a service still needs uses, and those images' manifests. Never while a
 * staging runs (see object-lock.ts).
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageAvailability } from '../distribution/index.js';
import { parseManifest, type Manifest, type ObjectStore } from '../image/index.js';
import type { HostLayout } from './host-layout.js';
import { collectObjects } from './object-gc.js';
import { ObjectLock } from './object-lock.js';

/** A removal is collected after this long, so that removals in a burst are collected once. */
const COLLECT_AFTER_MS = 1_000;

/** What the collector needs to know of the services on this host. */
export interface HeldImages {
  /** Images the services need: on disk, or named by the goal (being fetched). */
  needed(): string[];
  /** Images of releases on disk. */
  staged(): string[];
}

/** Collects the object store after releases were removed, never during a staging. */
export class ObjectCollector {
  private readonly lock = new ObjectLock();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly layout: HostLayout,
    private readonly objects: ObjectStore,
    private readonly images: HeldImages,
    /** What peers are offered: a collected image is not any more. */
    private readonly availability: ImageAvailability,
    private readonly log: (msg: string) => void,
  ) {}

  /** Runs a staging: many may run at once, none while a collection does. */
  staging<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.withShared(fn);
  }

  /** Releases were removed: collects a moment later. */
  collectSoon(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.lock
        .withExclusive(() => this.collect())
        .catch((e: unknown) => this.log(`object collection failed: ${(e as Error).message}`));
    }, COLLECT_AFTER_MS);
  }

  /** Cancels a collection not started yet. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private async collect(): Promise<void> {
    const needed = new Set(this.images.needed());
    const keep: Manifest[] = [];
    for (const imageId of needed) {
      // A needed image whose manifest cannot be read: collect nothing rather than guess.
      const text = await readFile(this.layout.manifest(imageId), 'utf8').catch(() => null);
      if (text === null) {
        if (this.images.staged().includes(imageId)) return;
        continue; // not fetched yet: none of its objects can be here but recent ones (spared)
      }
      keep.push(parseManifest(JSON.parse(text)));
    }
    // No grace needed: no staging runs meanwhile (the lock), so what is not kept is not in use.
    const r = await collectObjects(this.objects, keep, { graceMs: 0 });
    for (const imageId of await readdir(this.layout.images).catch(() => [] as string[])) {
      if (!needed.has(imageId)) {
        await rm(join(this.layout.images, imageId), { recursive: true, force: true });
        this.availability.forget(imageId);
      }
    }
    if (r.removed > 0) {
      this.log(`collected ${r.removed} object(s) no kept release needs (${r.bytesFreed} bytes)`);
    }
  }
}
