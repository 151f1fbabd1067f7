import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ObjectStore, sha256Hex } from '../image/index.js';
import type { ChunkRef, Manifest } from '../image/index.js';
import { DEFAULT_OBJECT_GRACE_MS, collectObjects } from './object-gc.js';

let dir: string;
let objects: ObjectStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-gc-'));
  objects = new ObjectStore(join(dir, 'objects'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Stores a chunk of `size` random bytes, written `ageMs` ago. */
async function chunk(size: number, ageMs = DEFAULT_OBJECT_GRACE_MS * 2): Promise<ChunkRef> {
  const data = randomBytes(size);
  const digest = sha256Hex(data);
  await objects.put(digest, data);
  const when = (Date.now() - ageMs) / 1000;
  await utimes(objects.pathOf(digest), when, when);
  return { digest, size };
}

function manifestOf(files: ChunkRef[][]): Manifest {
  return {
    format: 1,
    entries: files.map((chunks, i) => ({
      path: `f${i}`,
      type: 'file' as const,
      mode: 0o644,
      size: chunks.reduce((n, c) => n + c.size, 0),
      chunks,
    })),
  };
}

describe('collectObjects', () => {
  it('removes what no kept manifest references and keeps the rest', async () => {
    const a = await chunk(100);
    const b = await chunk(200);
    const orphan1 = await chunk(300);
    const orphan2 = await chunk(400);
    const result = await collectObjects(objects, [manifestOf([[a], [b]])]);
    expect(result).toEqual({ removed: 2, bytesFreed: 700, kept: 2 });
    expect(await objects.has(a.digest)).toBe(true);
    expect(await objects.has(b.digest)).toBe(true);
    expect(await objects.has(orphan1.digest)).toBe(false);
    expect(await objects.has(orphan2.digest)).toBe(false);
    // Nothing more to do the second time.
    expect(await collectObjects(objects, [manifestOf([[a], [b]])])).toEqual({
      removed: 0,
      bytesFreed: 0,
      kept: 2,
    });
  });

  it('spares recent objects, a fetch may have just written them', async () => {
    const old = await chunk(10);
    const fresh = await chunk(20, 60_000);
    expect(await collectObjects(objects, [])).toEqual({ removed: 1, bytesFreed: 10, kept: 1 });
    expect(await objects.has(old.digest)).toBe(false);
    expect(await objects.has(fresh.digest)).toBe(true);

    // The grace and the clock are the caller's to set.
    expect(await collectObjects(objects, [], { graceMs: 30_000 })).toMatchObject({ removed: 1 });
    const later = await chunk(30, 0);
    expect(
      await collectObjects(objects, [], { now: Date.now() + DEFAULT_OBJECT_GRACE_MS + 1 }),
    ).toMatchObject({ removed: 1 });
    expect(await objects.has(later.digest)).toBe(false);
  });

  it('never removes what a kept release needs when manifests share chunks', async () => {
    const shared = await chunk(1000);
    const onlyV1 = await chunk(50);
    const onlyV2 = await chunk(60);
    const v1 = manifestOf([[shared, onlyV1]]);
    const v2 = manifestOf([[onlyV2], [shared], [shared, onlyV2]]);

    // Both kept: nothing goes.
    expect(await collectObjects(objects, [v1, v2])).toEqual({ removed: 0, bytesFreed: 0, kept: 3 });

    // v1 dropped, v2 kept: the chunk they share stays.
    expect(await collectObjects(objects, [v2])).toEqual({ removed: 1, bytesFreed: 50, kept: 2 });
    for (const c of [shared, onlyV2]) expect(await objects.has(c.digest)).toBe(true);
    expect(await objects.has(onlyV1.digest)).toBe(false);
  });

  it('handles an empty or missing store', async () => {
    expect(await collectObjects(objects, [])).toEqual({ removed: 0, bytesFreed: 0, kept: 0 });
  });
});
