import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay } from './backoff.js';

const policy = { firstMs: 100, maxMs: 1_000, jitter: 0.5 };

describe('backoffDelay', () => {
  it('doubles after each failure in a row, up to the cap', () => {
    const none = () => 0; // no random share taken off
    expect([1, 2, 3, 4, 5, 6, 100].map((n) => backoffDelay(n, policy, none))).toEqual([
      100, 200, 400, 800, 1_000, 1_000, 1_000,
    ]);
  });

  it('takes off at most the jitter share, at random', () => {
    expect(backoffDelay(3, policy, () => 0.999_999)).toBe(200);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(300);
    expect(backoffDelay(20, policy, () => 0.5)).toBe(750);
  });

  it('never waits less than firstMs times (1 - jitter), even for nonsense counts', () => {
    for (const n of [0, -3, Number.NaN, 1e9]) {
      const d = backoffDelay(n, policy, Math.random);
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(1_000);
    }
  });

  it('with no jitter, waits the full time', () => {
    expect(backoffDelay(2, { firstMs: 100, maxMs: 1_000, jitter: 0 }, () => 0.9)).toBe(200);
  });
});

describe('Backoff', () => {
  it('counts failures in a row and starts over after a success', () => {
    const b = new Backoff(policy, () => 0);
    expect([b.next(), b.next(), b.next()]).toEqual([100, 200, 400]);
    expect(b.failures).toBe(3);
    b.reset();
    expect(b.failures).toBe(0);
    expect(b.next()).toBe(100);
  });
});
