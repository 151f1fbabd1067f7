/** An image of one file, built and uploaded as `slipway build` would: what tests deploy. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SlipwayClient } from '../../src/api/index.js';
import { buildImage } from '../../src/cli/index.js';

/** Builds an image of `service` holding `server.js` with `content` (under `dir`); its id. */
export async function tinyImage(
  client: SlipwayClient,
  dir: string,
  service: string,
  content: string,
  tags: string[] = [],
): Promise<string> {
  const tree = join(dir, `tree-${service}-${content}`);
  await mkdir(tree, { recursive: true });
  await writeFile(join(tree, 'server.js'), content);
  return (await buildImage(client, tree, service, tags, () => {})).imageId;
}
