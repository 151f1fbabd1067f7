import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['2s', 2_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h30m', 5_400_000],
    ['30d', 2_592_000_000],
    ['1d12h', 129_600_000],
    ['2s500ms', 2_500],
    [' 2s ', 2_000],
    ['0s', 0],
    ['750', 750],
    [1200, 1200],
    [0, 0],
  ])('%j is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    '',
    '   ',
    '-1s',
    '5 parsecs',
    '2 seconds',
    '12h1d',
    '1w',
    's',
    '1.s',
    '30s1m',
    '1s1s',
    'ms',
  ])('refuses %j', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });

  it('refuses negative and non-finite numbers', () => {
    expect(parseDuration(-5)).toBeUndefined();
    expect(parseDuration(Number.NaN)).toBeUndefined();
    expect(parseDuration(Number.POSITIVE_INFINITY)).toBeUndefined();
  });

  it('rounds to whole milliseconds', () => {
    expect(parseDuration('1.0004s')).toBe(1_000);
    expect(parseDuration(2.6)).toBe(3);
  });
});

describe('formatDuration', () => {
  it.each([
    [250, '250ms'],
    [0, '0ms'],
    [1_000, '1s'],
    [1_500, '1.5s'],
    [120_000, '2m'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [3_900_000, '1h5m'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration', () => {
    for (const ms of [1, 999, 1_001, 59_999, 61_250, 7_322_500]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});
