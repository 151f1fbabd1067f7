/** `slipway server`: the control plane, run by `main` (the CLI only reads its options). */
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { parseCidr } from '../../core/index.js';
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
    .addOption(
      new Option(
        '--peer-networks <cidr,...>',
        'networks whose addresses agents may advertise as peer URLs though they report from another address (agents behind NAT)',
      ).env('SLIPWAY_PEER_NETWORKS'),
    )
    .action((o: { dataDir: string; listen: string; databaseUrl?: string; peerNetworks?: string }) =>
      ctx.processes.server({
        dataDir: resolve(o.dataDir),
        listen: o.listen,
        databaseUrl: o.databaseUrl,
        peerNetworks: (o.peerNetworks ?? '')
          .split(',')
          .filter((n) => n.trim() !== '')
          .map((n) => parseCidr(n, '--peer-networks')),
      }),
    );
}
