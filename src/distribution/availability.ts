/**
 * Which chunks of each image this agent holds, as bitmaps over the image's distinct chunks in
 * manifest order: what the peer server answers when a peer asks `have`. Fetches set bits as
 * chunks arrive, so peers can take a chunk from us seconds after we got it, long before our
 * own copy of the image is complete.
 */
export class ImageAvailability {
  private readonly images = new Map<string, { index: Map<string, number>; bits: Uint8Array }>();

  /** Starts tracking an image; `held(i)` says whether chunk i is already here. */
  track(imageId: string, digests: readonly string[], held: (i: number) => boolean): void {
    const existing = this.images.get(imageId);
    const bits = existing?.bits ?? new Uint8Array(Math.ceil(digests.length / 8));
    const index = existing?.index ?? new Map(digests.map((d, i) => [d, i]));
    for (let i = 0; i < digests.length; i++) if (held(i)) setBit(bits, i);
    this.images.set(imageId, { index, bits });
  }

  /** Records that a chunk is now held (by every tracked image that uses it). */
  add(digest: string): void {
    for (const image of this.images.values()) {
      const i = image.index.get(digest);
      if (i !== undefined) setBit(image.bits, i);
    }
  }

  /** The image's bitmap, or null when the image is not tracked here. */
  bitmap(imageId: string): Uint8Array | null {
    return this.images.get(imageId)?.bits ?? null;
  }

  has(imageId: string): boolean {
    return this.images.has(imageId);
  }

  forget(imageId: string): void {
    this.images.delete(imageId);
  }
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
