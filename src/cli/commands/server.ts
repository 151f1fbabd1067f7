/** `slipway server`: the control plane, run by `main` (the CLI only reads its options). */
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseCidr } from '../../core/index.js';
import type { CliContext, ServerOptions } from '../context.js';

/** A whole number >= `min`, or commander's error naming the option's rule. */
const wholeNumber =
  (min: number) =>
  (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`must be a whole number >= ${min}`);
    }
    return n;
  };

/** Adds `server` and `db migrate`. */
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
    .option(
      '--max-connections-per-address <n>',
      'connections one client address may hold open; more are closed at once (0: no cap). Raise it when many agents reach the server through one NAT address',
      wholeNumber(0),
      256,
    )
    .option(
      '--max-image-entries <n>',
      'most files, directories and symlinks one image may have',
      wholeNumber(1),
      100_000,
    )
    .action((o: Omit<ServerOptions, 'peerNetworks'> & { peerNetworks?: string }) =>
      ctx.processes.server({
        ...o,
        dataDir: resolve(o.dataDir),
        peerNetworks: (o.peerNetworks ?? '')
          .split(',')
          .filter((n) => n.trim() !== '')
          .map((n) => parseCidr(n, '--peer-networks')),
      }),
    );

  program
    .command('db')
    .description('the control plane’s PostgreSQL (with a verb: migrate)')
    .command('migrate')
    .description(
      'apply pending schema migrations as the owner role, and grant a runtime role what a server needs (INSERT and SELECT only on the audit trail)',
    )
    .addOption(
      new Option('--database-url <url>', 'PostgreSQL, as the role that owns the schema')
        .env('SLIPWAY_DATABASE_URL')
        .makeOptionMandatory(),
    )
    .option('--runtime-role <role>', 'the role `slipway server` connects as')
    .action(async (o: { databaseUrl: string; runtimeRole?: string }) => {
      const r = await ctx.processes.migrateDatabase(o.databaseUrl, o.runtimeRole);
      ctx.out.line(
        r.applied.length > 0
          ? `applied ${r.applied.length} migration(s): ${r.applied.join(', ')}`
          : 'schema up to date',
      );
      if (r.granted)
        ctx.out.line(`granted ${r.granted} what a server needs; on audit: INSERT and SELECT only`);
    });
}
