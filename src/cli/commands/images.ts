/** Images: `slipway build` makes and uploads one, `slipway gc` deletes the origin's unused chunks. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SlipwayError, parseDuration } from '../../core/index.js';
import { buildImage } from '../build.js';
import { repeatable, type CliContext } from '../context.js';
import { formatBytes } from '../output.js';

/** Adds `build` and `gc`. */
export function register(program: Command, ctx: CliContext): void {
  const { out } = ctx;

  program
    .command('build')
    .description('chunk a directory into an image and upload what the server lacks')
    .argument('<dir>', 'the directory to build the image from')
    .requiredOption('--service <name>', 'the service the image is for')
    .option('--tag <tag>', 'tag the image (repeatable)', repeatable, [])
    .option('--json', 'print JSON')
    .action(
      async (dir: string, o: { service: string; tag: string[]; json?: boolean }, cmd: Command) => {
        const res = await buildImage(
          ctx.client(cmd),
          resolve(dir),
          o.service,
          o.tag,
          out.progressUnless(o.json),
        );
        if (o.json) return out.json(res);
        // The summary is for people; stdout holds only the image id, for scripts.
        out.progress(
          `image for ${o.service}: ${res.files} files, ${formatBytes(res.bytes)}; uploaded ${res.uploadedChunks} of ${res.chunks} chunks (${formatBytes(res.uploadedBytes)})${res.tags.length ? `; tags ${res.tags.join(', ')}` : ''}`,
        );
        out.line(res.imageId);
      },
    );

  program
    .command('gc')
    .description('delete origin chunks that no image references')
    .option('--grace <duration>', 'spare chunks younger than this (default: the server’s, 1h)')
    .option('--json', 'print JSON')
    .action(async (o: { grace?: string; json?: boolean }, cmd: Command) => {
      const graceSeconds = o.grace === undefined ? undefined : parseGrace(o.grace);
      const r = await ctx.client(cmd).collectGarbage(graceSeconds);
      out.result(
        r,
        o.json,
        () =>
          `removed ${r.removed} chunk(s), freed ${formatBytes(r.bytesFreed)}; ${r.referenced} chunk(s) referenced by images`,
      );
    });
}

function parseGrace(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new SlipwayError(
      'INVALID',
      `--grace ${JSON.stringify(text)}: not a duration (e.g. 30m, 1h)`,
    );
  }
  return Math.round(ms / 1000);
}
