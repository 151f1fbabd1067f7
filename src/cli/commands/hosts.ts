/** Hosts: `slipway hosts` lists them, online or not, with what they run and received. */
import type { Command } from 'commander';
import type { Host } from '../../api/index.js';
import type { CliContext } from '../context.js';
import { formatBytes, table } from '../output.js';

/** Adds `hosts`. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('hosts')
    .description('registered hosts')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      ctx.out.result(await ctx.client(cmd).listHosts(), o.json, hostsTable);
    });
}

function hostsTable(hosts: Host[]): string {
  return table(
    ['HOST', 'REGION', 'LABELS', 'ONLINE', 'RECEIVED (ORIGIN/RELAY/PEER)', 'SERVICES'],
    hosts.map((h) => [
      h.name + (h.relay ? ' (relay)' : ''),
      h.region,
      Object.entries(h.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
      h.online ? 'yes' : 'no',
      ['origin', 'relay', 'peer'].map((k) => formatBytes(h.bytesReceived[k] ?? 0)).join(' / '),
      h.services
        .map((s) => `${s.service}${s.active ? `@v${s.active.version}(${s.active.state})` : ''}`)
        .join(' ') || '-',
    ]),
  );
}
