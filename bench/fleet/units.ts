/** Sizes and rates as the harness's flags take them, and back to text for its report. */
import { parseRate as coreParseRate } from '../../src/core/index.js';

export { parseSize } from '../../src/core/index.js';

/**
 * Parses a link rate into bits per second, with Slipway's own parser: `100mbit`, `1gbit` (as tc
 * writes them) or a byte rate such as `12.5MB/s`.
 */
export function parseRate(text: string, flag: string): number {
  return coreParseRate(text, flag) * 8;
}

/** `268435456` → `256.0 MiB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `1e8` → `100 Mbit/s`. */
export function formatRate(bitsPerSecond: number): string {
  if (bitsPerSecond >= 1e9) return `${+(bitsPerSecond / 1e9).toFixed(2)} Gbit/s`;
  if (bitsPerSecond >= 1e6) return `${+(bitsPerSecond / 1e6).toFixed(1)} Mbit/s`;
  return `${+(bitsPerSecond / 1e3).toFixed(1)} kbit/s`;
}
