/** `slipway server`: the control plane, run by `main` (the CLI only reads its options). */
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { CliContext } from '../context.js';

/** Adds `server`. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('server')
    .description('run the control plane (API, event streams, orchestrator, origin store)')
    .option('--data-dir <dir>', 'where the server keeps its state', '.slipway/server')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:7400')
    .addOption(
      new Option('--database-url <url>', 'use this PostgreSQL instead of the embedded one').env(
        'SLIPWAY_DATABASE_URL',
      ),
    )
    .action((o: { dataDir: string; listen: string; databaseUrl?: string }) =>
      ctx.processes.server({ ...o, dataDir: resolve(o.dataDir) }),
    );
}
