/**
 * A relay sends each chunk into its region once. Its one link is the region's inlet from the
 * origin and, for every chunk, the outlet to the first peer; with host links alike, the relay
 * sends as fast as it receives only if it never sends a chunk twice. So a chunk the relay is
 * sending to one host, or has just sent, is refused to the others: they take it from that host,
 * or from whoever got it from there (the peers trade, see fetch-chunks.ts). RESEND_AFTER_MS
 * after it was sent there the relay sends it again, in case that host went away.
 */
import { SlipwayError } from '../core/index.js';

/**
 * How long after sending a chunk to one host the relay refuses it to the others. The send ends
 * when the last byte is in the kernel's socket buffer, not at the host: the kernel grows a
 * connection's buffer to hold several chunks, and the relay's link is shared by every send under
 * way. bench:fleet (30 hosts, 5 Mbit/s) measured chunks reaching their host 0.1-10 s after the
 * relay's send ended (median 1.4 s); with 5 s here the relay sent a fifth to a third of the image
 * twice (its link carried 1.2-1.33 images), with 20 s 1.03-1.07.
 */
export const RESEND_AFTER_MS = 20_000;
/** The header of a 409 answer saying in how many milliseconds the relay would send the chunk. */
export const RETRY_AFTER_MS_HEADER = 'x-slipway-retry-after-ms';
/** Entries kept before old ones are swept. */
const SWEEP_AT = 4_096;

/** The answer (HTTP 409) to a host asking the relay for a chunk another host just got. */
export class ChunkSentElsewhereError extends SlipwayError {
  constructor(
    source: string,
    digest: string,
    /** How long until the relay would send the chunk again. */
    readonly retryAfterMs: number,
  ) {
    super(
      'CONFLICT',
      `${source} sent chunk ${digest.slice(0, 12)} to another host of the region moments ago; take it from a peer`,
      { digest, retryAfterMs },
    );
    this.name = 'ChunkSentElsewhereError';
  }
}

export class RelayLedger {
  /** Per chunk: the host it went to, and when the sending ended (null: still under way). */
  private readonly sent = new Map<string, { to: string; at: number | null }>();

  constructor(private readonly resendAfterMs = RESEND_AFTER_MS) {}

  /**
   * Claims the chunk for `host`: 0 when the relay should send it (nobody else is getting it or
   * got it lately, or `host` itself is asking again), else how many milliseconds until it may
   * be sent again. A claim ends with `delivered` or `failed`.
   */
  claim(digest: string, host: string, now = Date.now()): number {
    const last = this.sent.get(digest);
    if (last && last.to !== host) {
      if (last.at === null) return this.resendAfterMs;
      if (now - last.at < this.resendAfterMs) return this.resendAfterMs - (now - last.at);
    }
    if (this.sent.size >= SWEEP_AT) this.sweep(now);
    this.sent.set(digest, { to: host, at: null });
    return 0;
  }

  /** The relay finished sending the chunk to `host`: the window refusing others starts now. */
  delivered(digest: string, host: string, now = Date.now()): void {
    const last = this.sent.get(digest);
    if (last?.to === host) last.at = now;
  }

  /** Sending the chunk to `host` failed: the next host to ask gets it. */
  failed(digest: string, host: string): void {
    if (this.sent.get(digest)?.to === host) this.sent.delete(digest);
  }

  private sweep(now: number): void {
    for (const [digest, { at }] of this.sent) {
      if (at !== null && now - at >= this.resendAfterMs) this.sent.delete(digest);
    }
  }
}
