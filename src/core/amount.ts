/** Amounts of hosts (`2` or `25%`), resolved against how many hosts there are. */
import type { Amount } from './types.js';

// Absorbs floating-point noise such as 3 * 33.3333 / 100 = 1.0000000000000002, which would ceil to 2.
const EPSILON = 1e-9;

/**
 * Resolves an amount to a number of hosts out of `total`. Percentages round up, so `25%` of 3
 * hosts is 1 host, not 0. The result is clamped to `[minimum, total]`; when the two bounds cross
 * (no hosts at all), `total` wins, since there are never more hosts than exist.
 */
export function resolveAmount(a: Amount, total: number, minimum = 0): number {
  const raw = 'count' in a ? a.count : Math.ceil((total * a.percent) / 100 - EPSILON);
  return Math.min(total, Math.max(minimum, raw));
}

/** Renders an amount as users write it: `2` or `25%`. */
export function formatAmount(a: Amount): string {
  return 'count' in a ? String(a.count) : `${a.percent}%`;
}
