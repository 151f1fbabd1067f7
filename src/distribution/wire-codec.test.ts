import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { SlipwayError } from '../core/index.js';
import { sha256Hex } from '../image/index.js';
import { decodeChunk, encodeChunk } from './wire-codec.js';

// Counts compressions, to see that a chunk known to be incompressible is not compressed again.
vi.mock('node:zlib', async (importOriginal) => {
  const actual = await importOriginal<typeof zlib>();
  return { ...actual, brotliCompress: vi.fn(actual.brotliCompress) };
});

/** Text-like bytes that compress well, of `size` bytes. */
function compressible(size: number): Buffer {
  const words = ['deploy', 'release', 'chunk', 'region', 'agent', 'rollback', 'health', '\n'];
  let s = '';
  for (let i = 0; s.length < size; i++) s += `${words[(i * 7919) % words.length]} ${i} `;
  return Buffer.from(s.slice(0, size));
}

async function refusal(p: Promise<unknown>): Promise<SlipwayError> {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SlipwayError);
  expect((err as SlipwayError).code).toBe('INVALID');
  return err as SlipwayError;
}

describe('wire codec', () => {
  it('round-trips compressible chunks compressed', async () => {
    for (const size of [2048, 64 * 1024, 290 * 1024, 1024 * 1024]) {
      const data = compressible(size);
      const { encoding, body } = await encodeChunk(data, sha256Hex(data));
      expect(encoding).toBe('br');
      expect(body.length).toBeLessThan(data.length * 0.5);
      const out = await decodeChunk(encoding, body, data.length);
      expect(Buffer.from(out).equals(data)).toBe(true);
    }
  });

  it('sends incompressible chunks as they are, and remembers them by digest', async () => {
    const compress = vi.mocked(zlib.brotliCompress);
    const data = randomBytes(290 * 1024);
    const digest = sha256Hex(data);
    compress.mockClear();
    // The body is the caller's buffer itself, not a copy.
    const first = await encodeChunk(data, digest);
    expect(first.encoding).toBe('identity');
    expect(first.body).toBe(data);
    expect(compress).toHaveBeenCalledTimes(1);
    const again = await encodeChunk(data, digest);
    expect(again.encoding).toBe('identity');
    expect(again.body).toBe(data);
    expect(compress).toHaveBeenCalledTimes(1);
    // Without a digest nothing can be remembered.
    await encodeChunk(data);
    expect(compress).toHaveBeenCalledTimes(2);
    expect(await decodeChunk('identity', first.body, data.length)).toBe(data);
  });

  it('sends identity when compression saves less than a tenth', async () => {
    // Mostly random: a few percent saved is not worth it; half random saves nearly half.
    const data = Buffer.concat([compressible(10 * 1024), randomBytes(200 * 1024)]);
    expect((await encodeChunk(data)).encoding).toBe('identity');
    const half = Buffer.concat([compressible(100 * 1024), randomBytes(100 * 1024)]);
    expect((await encodeChunk(half)).encoding).toBe('br');
    expect(await encodeChunk(new Uint8Array(0))).toEqual({
      encoding: 'identity',
      body: new Uint8Array(0),
    });
  });

  it('refuses a decompression bomb without inflating it', async () => {
    const bomb = brotliCompressSync(Buffer.alloc(64 * 1024 * 1024), {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 },
    });
    expect(bomb.length).toBeLessThan(64 * 1024);
    const err = await refusal(decodeChunk('br', bomb, 1024 * 1024));
    expect(err.message).toMatch(/exceeds 1048576 bytes/);
    // Exactly at the limit is fine; one byte over is not.
    const data = compressible(4096);
    const body = brotliCompressSync(data);
    expect((await decodeChunk('br', body, 4096)).length).toBe(4096);
    await refusal(decodeChunk('br', body, 4095));
    await refusal(decodeChunk('identity', data, 4095));
  });

  it('refuses unknown encodings and corrupt bodies', async () => {
    const data = compressible(4096);
    const err = await refusal(decodeChunk('gzip', gzipSync(data), 1 << 20));
    expect(err.message).toMatch(/unknown chunk encoding "gzip"/);
    await refusal(decodeChunk('', data, 1 << 20));
    await refusal(decodeChunk('br', Buffer.from('not brotli at all'), 1 << 20));
    const body = brotliCompressSync(data);
    await refusal(decodeChunk('br', body.subarray(0, body.length - 8), 1 << 20));
  });
});
