/** Transfer rates and sizes as users write them: `100mbit`, `1gbit`, `12.5MB/s`, `50MiB/s`, `256MiB`. */
import { ValidationError } from './errors.js';

const BITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };
const BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  // As container tools write limits (`--memory 512m`): binary units.
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
};

/** Parses a rate into bytes per second; throws a ValidationError naming `where` otherwise. */
export function parseRate(text: string, where = 'rate'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)(\/s)?\s*$/i.exec(text);
  const value = Number(m?.[1]);
  const unit = m?.[2]?.toLowerCase() ?? '';
  let bytesPerSecond = NaN;
  if (m && !m[3] && unit in BITS) bytesPerSecond = (value * BITS[unit]!) / 8;
  else if (m?.[3] && unit in BYTES) bytesPerSecond = value * BYTES[unit]!;
  if (!(bytesPerSecond > 0)) {
    throw new ValidationError(`invalid ${where}`, [
      {
        path: where,
        message: `${JSON.stringify(text)} is not a rate: write e.g. 100mbit, 1gbit, 12.5MB/s or 50MiB/s`,
      },
    ]);
  }
  return bytesPerSecond;
}

/** Parses a size (`256MiB`, `1GiB`, `100MB`, `512m`, or a bare number of bytes) into bytes. */
export function parseSize(text: string, where = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = (m?.[2] ?? '').toLowerCase() || 'b';
  const bytes = unit in BYTES ? Math.round(Number(m?.[1]) * BYTES[unit]!) : NaN;
  if (!(bytes > 0)) {
    throw new ValidationError(`invalid ${where}`, [
      { path: where, message: `${JSON.stringify(text)} is not a size: write e.g. 256MiB or 1GiB` },
    ]);
  }
  return bytes;
}
