/**
 * A job's files on its host: its image's tree and its script, fetched through the same sources
 * as a release (peers, relay, origin), verified, and materialized under the job's directory.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayError } from '../../core/index.js';
import type { GoalJob } from '../../api/index.js';
import { fetchChunks, type FetchOptions } from '../../distribution/index.js';
import {
  imageIdOf,
  manifestChunks,
  materialize,
  parseManifest,
  type ObjectStore,
} from '../../image/index.js';
import type { SandboxBind } from '../../executor/index.js';
import type { HostLayout } from '../host-layout.js';

export interface JobFilesDeps {
  layout: HostLayout;
  objects: ObjectStore;
  fetchManifest: (imageId: string) => Promise<unknown>;
  fetchOptions: () => Omit<FetchOptions, 'imageId' | 'store' | 'onProgress'>;
}

/** Where the job's tree is and what else to bind (the script); counts bytes by source. */
export async function jobFiles(
  deps: JobFilesDeps,
  job: GoalJob,
  dir: string,
  bytes: Record<string, number>,
  signal: AbortSignal,
): Promise<{ tree: string; binds: SandboxBind[] }> {
  const tree = join(dir, 'tree');
  if (job.imageId) await fetchTree(deps, job.imageId, tree, bytes, signal);
  else await mkdir(tree, { recursive: true, mode: 0o755 });
  const binds: SandboxBind[] = [];
  if (job.script) {
    const scriptDir = join(dir, 'script');
    await fetchTree(deps, job.script.imageId, scriptDir, bytes, signal);
    binds.push({ source: join(scriptDir, job.script.name), target: `/script/${job.script.name}` });
  }
  return { tree, binds };
}

async function fetchTree(
  deps: JobFilesDeps,
  imageId: string,
  dest: string,
  bytes: Record<string, number>,
  signal: AbortSignal,
): Promise<void> {
  const manifest = parseManifest(await deps.fetchManifest(imageId));
  if (imageIdOf(manifest) !== imageId) {
    throw new SlipwayError(
      'INVALID',
      `manifest served for image ${imageId.slice(0, 12)} does not hash to it`,
    );
  }
  await mkdir(join(deps.layout.images, imageId), { recursive: true });
  await writeFile(deps.layout.manifest(imageId), JSON.stringify(manifest));
  const sources = deps.fetchOptions();
  await fetchChunks(manifestChunks(manifest), {
    ...sources,
    imageId,
    store: deps.objects,
    signal,
    onBytes: (kind, n) => {
      sources.onBytes?.(kind, n);
      bytes[kind] = (bytes[kind] ?? 0) + n;
    },
  });
  await materialize(manifest, dest, deps.objects);
}
