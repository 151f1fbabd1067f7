import { describe, expect, it } from 'vitest';
import { parseRate, parseSize } from './rate.js';

describe('parseRate', () => {
  it('reads bit rates as network people write them', () => {
    expect(parseRate('100mbit')).toBe(12_500_000);
    expect(parseRate('1gbit')).toBe(125_000_000);
    expect(parseRate('800kbit')).toBe(100_000);
  });

  it('reads byte rates with decimal and binary units', () => {
    expect(parseRate('12.5MB/s')).toBe(12_500_000);
    expect(parseRate('50MiB/s')).toBe(50 * 1024 * 1024);
  });

  it('refuses anything else, naming where', () => {
    expect(() => parseRate('fast', '--max-bandwidth')).toThrow(
      /--max-bandwidth.*"fast" is not a rate/s,
    );
    expect(() => parseRate('0mbit')).toThrow(/not a rate/);
    expect(() => parseRate('100mb')).toThrow(/not a rate/);
  });
});

describe('parseSize', () => {
  it('reads binary and decimal units and bare bytes', () => {
    expect(parseSize('256MiB')).toBe(256 * 1024 ** 2);
    expect(parseSize('1GB')).toBe(1e9);
    expect(parseSize('4096')).toBe(4096);
  });
  it('names what is wrong', () => {
    expect(() => parseSize('12 parsecs', '--size')).toThrow(/--size: "12 parsecs" is not a size/);
    expect(() => parseSize('0MiB')).toThrow(/not a size/);
  });
});
