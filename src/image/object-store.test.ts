import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/index.js';
import { sha256Hex } from './digest.js';
import { ChunkCorruptError, ObjectStore, verifyChunk } from './object-store.js';

let dir: string;
let store: ObjectStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-objects-'));
  store = new ObjectStore(join(dir, 'objects'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function listAll(): Promise<string[]> {
  const out: string[] = [];
  for await (const d of store.list()) out.push(d);
  return out.sort();
}

describe('ObjectStore', () => {
  it('stores, finds, sizes, lists and removes chunks', async () => {
    const data = Buffer.from('hello chunk');
    const digest = sha256Hex(data);
    expect(await store.has(digest)).toBe(false);
    expect(await listAll()).toEqual([]);

    await store.put(digest, data);
    await store.put(digest, data); // idempotent
    expect(store.pathOf(digest)).toBe(join(dir, 'objects', digest.slice(0, 2), digest));
    expect(await store.has(digest)).toBe(true);
    expect((await store.get(digest)).equals(data)).toBe(true);
    expect(await store.size(digest)).toBe(data.length);

    const other = Buffer.from('another');
    await store.put(sha256Hex(other), other);
    expect(await listAll()).toEqual([digest, sha256Hex(other)].sort());
    // No temp files are left behind.
    expect(await readdir(join(dir, 'objects', digest.slice(0, 2)))).toEqual([digest]);

    const stats = new Map<string, { size: number; mtimeMs: number }>();
    for await (const { digest: d, ...rest } of store.listStats()) stats.set(d, rest);
    expect([...stats.keys()].sort()).toEqual(await listAll());
    expect(stats.get(digest)?.size).toBe(data.length);
    expect(stats.get(sha256Hex(other))?.size).toBe(other.length);
    expect(Math.abs((stats.get(digest)?.mtimeMs ?? 0) - Date.now())).toBeLessThan(60_000);

    await store.remove(digest);
    await store.remove(digest);
    expect(await store.has(digest)).toBe(false);
    expect(await listAll()).toEqual([sha256Hex(other)]);
  });

  it('refuses bytes that do not match their digest, and writes nothing', async () => {
    const digest = sha256Hex('the real bytes');
    const err = await store.put(digest, Buffer.from('forged bytes')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChunkCorruptError);
    expect(err).toBeInstanceOf(SlipwayError);
    expect((err as ChunkCorruptError).code).toBe('INVALID');
    expect((err as ChunkCorruptError).details).toEqual({
      digest,
      actual: sha256Hex('forged bytes'),
    });
    expect(await store.has(digest)).toBe(false);
    expect(await listAll()).toEqual([]);
    expect(() => verifyChunk(digest, Buffer.from('the real bytes'))).not.toThrow();
  });

  it('answers NOT_FOUND for a missing chunk', async () => {
    const digest = sha256Hex('absent');
    await expect(store.get(digest)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      details: { digest },
    });
    await expect(store.size(digest)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses names that are not digests, so no path can leave the store', async () => {
    expect(() => store.pathOf('../../etc/passwd')).toThrow(SlipwayError);
    await expect(store.get('../x')).rejects.toMatchObject({ code: 'INVALID' });
    // Stray files in the store are not reported as objects.
    await store.put(sha256Hex('x'), Buffer.from('x'));
    await writeFile(join(dir, 'objects', 'README'), 'not an object');
    expect(await listAll()).toEqual([sha256Hex('x')]);
  });
});
