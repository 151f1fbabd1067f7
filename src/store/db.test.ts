import { describe, expect, it } from 'vitest';
import { byId, inBatches } from './db.js';

describe('inBatches', () => {
  it('slices in order, the last slice holding the rest', () => {
    expect(inBatches([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(inBatches([1, 2], 2)).toEqual([[1, 2]]);
    expect(inBatches([], 2)).toEqual([]);
  });

  it('takes a thousand rows by default', () => {
    expect(inBatches(Array.from({ length: 2_500 }, (_, i) => i)).map((b) => b.length)).toEqual([
      1000, 1000, 500,
    ]);
  });

  it('refuses a size that would never end', () => {
    expect(() => inBatches([1], 0)).toThrow(/batch size 0 is not >= 1/);
  });
});

describe('byId', () => {
  it('orders by code unit, the same in every process whatever its locale', () => {
    expect(['b', 'B', 'a', 'é', 'A'].sort(byId)).toEqual(['A', 'B', 'a', 'b', 'é']);
  });
});
