/** Releases: `slipway releases NAME` lists a service's releases. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { shortId, table } from '../output.js';

/** Adds `releases`. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('releases')
    .description('releases of a service')
    .argument('<service>', 'the service')
    .option('--json', 'print JSON')
    .action(async (service: string, o: { json?: boolean }, cmd: Command) => {
      ctx.out.result(await ctx.client(cmd).listReleases(service), o.json, (rels) =>
        table(
          ['RELEASE', 'IMAGE', 'ENV', 'CREATED'],
          rels.map((r) => [`v${r.version}`, shortId(r.imageId), r.environment, r.createdAt]),
        ),
      );
    });
}
