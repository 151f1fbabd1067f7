import { describe, expect, it } from 'vitest';
import { formatAmount, resolveAmount } from './amount.js';

describe('resolveAmount', () => {
  it('takes a count as is, within the total', () => {
    expect(resolveAmount({ count: 2 }, 10)).toBe(2);
    expect(resolveAmount({ count: 20 }, 10)).toBe(10);
    expect(resolveAmount({ count: 0 }, 10)).toBe(0);
  });

  it('rounds percentages up', () => {
    expect(resolveAmount({ percent: 25 }, 10)).toBe(3);
    expect(resolveAmount({ percent: 25 }, 3)).toBe(1);
    expect(resolveAmount({ percent: 50 }, 4)).toBe(2);
    expect(resolveAmount({ percent: 100 }, 7)).toBe(7);
    expect(resolveAmount({ percent: 0 }, 7)).toBe(0);
  });

  it('is not fooled by floating-point noise', () => {
    // 3 * 33.333333333333336 / 100 is 1.0000000000000002 in floating point.
    expect(resolveAmount({ percent: 100 / 3 }, 3)).toBe(1);
  });

  it('clamps to the minimum, but never above the total', () => {
    expect(resolveAmount({ percent: 10 }, 5, 1)).toBe(1);
    expect(resolveAmount({ count: 0 }, 5, 2)).toBe(2);
    expect(resolveAmount({ count: 3 }, 0, 1)).toBe(0);
  });
});

describe('formatAmount', () => {
  it('renders as written', () => {
    expect(formatAmount({ count: 2 })).toBe('2');
    expect(formatAmount({ percent: 25 })).toBe('25%');
  });
});
