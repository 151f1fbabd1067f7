/**
 * Waiting longer after each failure in a row: exponential, capped, with jitter. Every retry
 * loop uses it, so that a process that cannot reach the server, or is refused by it, asks a
 * few times a minute rather than as fast as it can, and a fleet that lost the server at once
 * does not come back at once. Pure: the random source is given.
 */

/** How a retry loop backs off. */
export interface BackoffPolicy {
  /** The wait after the first failure. */
  firstMs: number;
  /** No wait is longer than this. */
  maxMs: number;
  /**
   * The share of each wait that is random, in [0, 1]: a wait of `d` is between `d * (1 -
   * jitter)` and `d`. Default 0.5.
   */
  jitter?: number;
}

/** Numbers in [0, 1), as Math.random. */
export type Random = () => number;

/**
 * The wait after `failures` failures in a row (1: the first): `firstMs` doubled after each one,
 * at most `maxMs`, less a random share of up to `jitter` of it.
 */
export function backoffDelay(
  failures: number,
  policy: BackoffPolicy,
  random: Random = Math.random,
): number {
  const n = Number.isFinite(failures) ? Math.max(1, Math.floor(failures)) : 1;
  // 2 ** 40 is past any cap; bounding the exponent keeps the arithmetic finite.
  const full = Math.min(policy.maxMs, policy.firstMs * 2 ** Math.min(n - 1, 40));
  const jitter = Math.min(1, Math.max(0, policy.jitter ?? 0.5));
  return Math.round(full * (1 - jitter * random()));
}

/** Counts failures in a row and says how long to wait after each; a success starts over. */
export class Backoff {
  private failed = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: Random = Math.random,
  ) {}

  /** Failures in a row so far. */
  get failures(): number {
    return this.failed;
  }

  /** Counts one more failure and returns how long to wait before the next try. */
  next(): number {
    this.failed++;
    return backoffDelay(this.failed, this.policy, this.random);
  }

  /** The last try succeeded: the next failure waits `firstMs` again. */
  reset(): void {
    this.failed = 0;
  }
}
