/** `slipway build DIR`: chunk the tree locally, upload only what the origin lacks, register the image. */
import type { SlipwayClient } from '../api/index.js';
import { readChunkAt, scanTree } from '../image/index.js';
import { formatBytes } from './output.js';

export interface BuildResult {
  imageId: string;
  files: number;
  bytes: number;
  chunks: number;
  uploadedChunks: number;
  uploadedBytes: number;
  tags: string[];
}

const UPLOAD_CONCURRENCY = 4;

export async function buildImage(
  client: SlipwayClient,
  dir: string,
  service: string,
  tags: string[],
  progress: (line: string) => void,
): Promise<BuildResult> {
  progress(`scanning ${dir}`);
  const { manifest, chunks, narrowed } = await scanTree(dir);
  if (narrowed.length > 0) {
    const first = narrowed[0]!;
    progress(
      `warning: ${narrowed.length} path(s) had setuid, setgid, sticky or world-writable modes; the image holds them without those bits (e.g. ${first.path}: 0o${first.from.toString(8)} -> 0o${first.to.toString(8)})`,
    );
  }
  const digests = [...chunks.keys()];
  const missing: string[] = [];
  for (let i = 0; i < digests.length; i += 10_000) {
    missing.push(...(await client.missingChunks(digests.slice(i, i + 10_000))).missing);
  }
  const total = missing.reduce((n, d) => n + (chunks.get(d)?.size ?? 0), 0);
  progress(`${chunks.size} chunks, ${missing.length} to upload (${formatBytes(total)})`);
  let done = 0;
  let next = 0;
  let lastPrint = Date.now();
  const worker = async () => {
    while (next < missing.length) {
      const digest = missing[next++]!;
      const loc = chunks.get(digest)!;
      await client.putChunk(digest, await readChunkAt(loc));
      done += loc.size;
      if (Date.now() - lastPrint > 1000) {
        lastPrint = Date.now();
        progress(`uploaded ${formatBytes(done)} of ${formatBytes(total)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: UPLOAD_CONCURRENCY }, worker));
  const image = await client.createImage({ service, manifest, tags });
  return {
    imageId: image.id,
    files: image.files,
    bytes: image.size,
    chunks: chunks.size,
    uploadedChunks: missing.length,
    uploadedBytes: total,
    tags: image.tags,
  };
}
