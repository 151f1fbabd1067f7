/**
 * Failed authentications counted per source address: a token bucket of BURST, refilled at
 * PER_SECOND. While an address's bucket is empty, its requests with a token this server has not
 * already accepted are refused at once (429), without the database lookup a guess costs, so a
 * flood of wrong tokens neither reaches the store nor slows anyone else. Tokens already in the
 * cache still work from that address.
 */

/** Wrong tokens an address may send at once before it is slowed down. */
export const FAILED_LOGIN_BURST = 20;
/** And then this many a second. */
export const FAILED_LOGINS_PER_SECOND = 1;
/** Addresses counted at once; the one seen longest ago is forgotten beyond. */
const ADDRESSES = 10_000;

export class FailedLogins {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly burst = FAILED_LOGIN_BURST,
    private readonly perSecond = FAILED_LOGINS_PER_SECOND,
  ) {}

  /** Milliseconds until `source` may try an unknown token again (0: now). */
  waitMs(source: string): number {
    const b = this.refilled(source);
    if (!b || b.tokens >= 1) return 0;
    return Math.ceil(((1 - b.tokens) / this.perSecond) * 1000);
  }

  /** A token from `source` was wrong. */
  failed(source: string): void {
    const b = this.refilled(source) ?? { tokens: this.burst, at: this.now() };
    b.tokens = Math.max(0, b.tokens - 1);
    this.buckets.delete(source);
    if (this.buckets.size >= ADDRESSES) this.buckets.delete(this.buckets.keys().next().value!);
    this.buckets.set(source, b);
  }

  private refilled(source: string): { tokens: number; at: number } | undefined {
    const b = this.buckets.get(source);
    if (!b) return undefined;
    const now = this.now();
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    if (b.tokens >= this.burst) {
      this.buckets.delete(source);
      return undefined;
    }
    return b;
  }
}
