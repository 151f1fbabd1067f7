/** The change that fans out: a one-service map, a tiny image, a deployment to every host. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SlipwayClient } from '../../src/api/index.js';
import { buildImage } from '../../src/cli/index.js';

export const SERVICE = 'fanout';

/**
 * The service map: one service on every host of `regions` regions, all in one batch, no health
 * check. Its command never runs: the agents are simulated.
 */
export function serviceMap(regions: number) {
  return {
    regions: Array.from({ length: regions }, (_, i) => `r${i + 1}`),
    services: {
      [SERVICE]: {
        run: ['node', 'server.js'],
        rollout: { batchSize: '100%' },
      },
    },
  };
}

/** Builds and registers a one-file image through the admin client; resolves with its id. */
export async function buildTinyImage(admin: SlipwayClient): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-fanout-image-'));
  try {
    await writeFile(join(dir, 'server.js'), `// built ${new Date().toISOString()}\n`);
    const built = await buildImage(admin, dir, SERVICE, [], () => {});
    return built.imageId;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
