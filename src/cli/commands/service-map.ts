/** The service map: `slipway apply` checks and applies `slipway.yaml`. */
import type { Command } from 'commander';
import { ValidationError, isSlipwayError } from '../../core/index.js';
import type { CliContext } from '../context.js';
import { locateProblems, readServiceMapFile } from '../service-map-file.js';

/** Adds `apply`. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('apply')
    .description('validate and apply the service map; nothing changes when any problem is found')
    .requiredOption('-f, --file <file>', 'the service map (YAML)')
    .option('--json', 'print JSON')
    .action(async (o: { file: string; json?: boolean }, cmd: Command) => {
      const { doc, text } = await readServiceMapFile(o.file);
      try {
        const rec = await ctx.client(cmd).applyServiceMap(doc);
        ctx.out.result(
          rec,
          o.json,
          () =>
            `applied service map v${rec.version}: ${Object.keys(rec.map.services).length} service(s), ${Object.keys(rec.map.environments).length} environment(s)`,
        );
      } catch (e) {
        // The server names problems by path in the document; point them at the file's lines.
        if (isSlipwayError(e, 'INVALID') && Array.isArray(e.details.problems)) {
          const problems = locateProblems(text, o.file, e.details.problems as never);
          throw new ValidationError(
            `${o.file} has ${problems.length} problem(s); nothing was applied`,
            problems,
          );
        }
        throw e;
      }
    });
}
