import { describe, expect, it } from 'vitest';
import { MAX_CHUNK_BYTES } from '../../api/index.js';
import {
  CHUNKING,
  canonicalJson,
  checkManifest,
  manifestSchema,
  imageIdOf,
  parseManifest,
} from '../../image/index.js';
import { canonicalManifestInSlices, parseManifestInSlices } from './manifest-in-slices.js';

const digest = 'a'.repeat(64);
function manifestOf(files: number) {
  const entries: unknown[] = [{ path: 'd', type: 'dir', mode: 0o755 }];
  for (let i = 0; i < files; i++) {
    const path = `d/f${String(i).padStart(6, '0')}`;
    entries.push({ path, type: 'file', mode: 0o644, size: 3, chunks: [{ digest, size: 3 }] });
  }
  return { format: 1, entries };
}

describe('manifests in slices', () => {
  it('gives the same manifest, canonical text and id as doing it at once', async () => {
    const json = manifestOf(4_500);
    const m = await parseManifestInSlices(json, 10_000);
    expect(m).toEqual(parseManifest(json));
    const { text, id } = await canonicalManifestInSlices(m);
    expect(text).toBe(canonicalJson(m));
    expect(id).toBe(imageIdOf(m));
  });

  it('names problems by their index in the whole manifest', async () => {
    const json = manifestOf(4_500);
    (json.entries[4_321] as { mode: number }).mode = -1;
    await expect(parseManifestInSlices(json, 10_000)).rejects.toMatchObject({
      problems: [expect.objectContaining({ path: 'entries[4321].mode' })],
    });
  });

  it('applies every rule of checkManifest, past the first slice too', async () => {
    const json = manifestOf(4_500);
    (json.entries[4_321] as { mode: number }).mode = 0o4755;
    (json.entries[3_000] as { path: string }).path = 'd/zz';
    const problems = checkManifest(manifestSchema.parse(json));
    expect(problems.map((p) => p.path)).toEqual(['entries[3001].path', 'entries[4321].mode']);
    await expect(parseManifestInSlices(json, 10_000)).rejects.toMatchObject({ problems });
  });

  it('refuses more entries than the limit before checking any', async () => {
    await expect(parseManifestInSlices(manifestOf(10), 5)).rejects.toThrow(
      /11 entries, more than the 5 this server accepts/,
    );
  });

  it('lets through a chunk of the largest size the chunker cuts, and no more', () => {
    expect(MAX_CHUNK_BYTES).toBe(CHUNKING.maxSize);
  });
});
