import { describe, expect, it } from 'vitest';
import { REPORT_SPREAD_MAX_MS, reportSpreadMs } from './report-spread.js';

describe('the report window of a goal answer', () => {
  it('is none for a few hundred answers, then grows with them, up to a bound', () => {
    expect(reportSpreadMs(1)).toBe(0);
    expect(reportSpreadMs(400)).toBe(0);
    expect(reportSpreadMs(1_000)).toBe(250);
    expect(reportSpreadMs(10_000)).toBe(2_500);
    expect(reportSpreadMs(1_000_000)).toBe(REPORT_SPREAD_MAX_MS);
    expect(reportSpreadMs(20, 10)).toBe(2_000);
  });
});
