/**
 * Which chunks of each image this agent holds, as bitmaps over the image's distinct chunks in
 * manifest order: what the peer server streams to peers that watch an image. Fetches set bits
 * as chunks arrive and watchers hear of each at once, so peers can take a chunk from us moments
 * after we got it, long before our own copy of the image is complete.
 */
export interface HaveWatcher {
  /** Chunk `i` of the image is held now. */
  chunk(i: number): void;
  /** The image is no longer offered here. */
  end(): void;
}

interface Tracked {
  index: Map<string, number>;
  bits: Uint8Array;
  watchers: Set<HaveWatcher>;
}

export class ImageAvailability {
  private readonly images = new Map<string, Tracked>();

  /** Starts tracking an image; `held(i)` says whether chunk i is already here. */
  track(imageId: string, digests: readonly string[], held: (i: number) => boolean): void {
    const image = this.images.get(imageId) ?? {
      index: new Map(digests.map((d, i) => [d, i])),
      bits: new Uint8Array(Math.ceil(digests.length / 8)),
      watchers: new Set<HaveWatcher>(),
    };
    this.images.set(imageId, image);
    for (let i = 0; i < digests.length; i++) if (held(i)) hold(image, i);
  }

  /** Records that a chunk is now held (by every tracked image that uses it). */
  add(digest: string): void {
    for (const image of this.images.values()) {
      const i = image.index.get(digest);
      if (i !== undefined) hold(image, i);
    }
  }

  /**
   * The image's bitmap now, and every chunk held from now on told to `watcher`; null when the
   * image is not tracked here. Call the returned function to stop.
   */
  watch(imageId: string, watcher: HaveWatcher): { bits: Uint8Array; stop: () => void } | null {
    const image = this.images.get(imageId);
    if (!image) return null;
    image.watchers.add(watcher);
    return { bits: image.bits.slice(), stop: () => image.watchers.delete(watcher) };
  }

  has(imageId: string): boolean {
    return this.images.has(imageId);
  }

  forget(imageId: string): void {
    const image = this.images.get(imageId);
    this.images.delete(imageId);
    for (const w of image?.watchers ?? []) w.end();
  }
}

function hold(image: Tracked, i: number): void {
  if (hasBit(image.bits, i)) return;
  setBit(image.bits, i);
  for (const w of image.watchers) w.chunk(i);
}

export function setBit(bits: Uint8Array, i: number): void {
  bits[i >> 3]! |= 1 << (i & 7);
}

export function clearBit(bits: Uint8Array, i: number): void {
  bits[i >> 3]! &= ~(1 << (i & 7));
}

export function hasBit(bits: Uint8Array | null, i: number): boolean {
  return bits !== null && ((bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
}
