import { describe, expect, it } from 'vitest';
import { ReportSpread } from './report-spread.js';

describe('the report spread of a server', () => {
  it('widens the window as answers go out together, and closes it once they stop', () => {
    let now = 10_000;
    const spread = new ReportSpread(100, () => now);
    const windows = Array.from({ length: 30 }, () => spread.answer());
    // The first ten (a tenth of a second's worth) report at once; later ones over longer.
    expect(windows.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(windows[29]).toBe(300);
    // In the next second the burst still counts; two seconds later it is over.
    now += 1_000;
    expect(spread.answer()).toBe(310);
    now += 2_000;
    expect(spread.answer()).toBe(0);
  });
});
