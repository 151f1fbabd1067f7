import { describe, expect, it } from 'vitest';
import { shuffle } from './shuffle.js';

describe('shuffle', () => {
  it('reorders in place, keeping every element once', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i);
    const same = shuffle(xs);
    expect(same).toBe(xs);
    expect([...xs].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('puts every element in every place, over many runs', () => {
    const seen = Array.from({ length: 4 }, () => new Set<number>());
    for (let run = 0; run < 400; run++) shuffle([0, 1, 2, 3]).forEach((x, at) => seen[at]!.add(x));
    for (const places of seen) expect(places.size).toBe(4);
  });

  it('takes its randomness from the source it is given', () => {
    // A source that always says "the last place": every swap is with itself.
    expect(shuffle([1, 2, 3, 4], () => 0.999)).toEqual([1, 2, 3, 4]);
    // One that always says "the first place" rotates the first element to the end.
    expect(shuffle([1, 2, 3, 4], () => 0)).toEqual([2, 3, 4, 1]);
  });
});
