/**
 * Hosts: `slipway hosts` lists them, online or not, with what they run and received;
 * `slipway hosts remove NAME` removes one (so that a new machine may enroll under its name);
 * `slipway hosts relay NAME on|off` names a host its region's relay.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { Host } from '../../api/index.js';
import type { CliContext } from '../context.js';
import { byRegion, formatBytes, table } from '../output.js';

/** Adds `hosts` and its verbs. */
export function register(program: Command, ctx: CliContext): void {
  const hosts = program
    .command('hosts')
    .description('registered hosts (with a verb: remove one, name a relay)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      ctx.out.result(byRegion(await ctx.client(cmd).listHosts()), o.json, hostsTable);
    });

  hosts
    .command('remove')
    .description(
      'remove a host: revoke its credential and drop its goals; stop its agent first, then a new host may enroll under its name',
    )
    .argument('<name>', 'host name')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await ctx.client(cmd).removeHost(name);
      ctx.out.line(`removed host ${name}`);
    });

  hosts
    .command('relay')
    .description('name a host its region’s relay (on) or not (off)')
    .argument('<name>', 'host name')
    .argument('<on|off>', 'on or off', onOff)
    .action(async (name: string, relay: boolean, _o: unknown, cmd: Command) => {
      const h = await ctx.client(cmd).setHostRelay(name, relay);
      ctx.out.line(`${h.name} (${h.region}): ${h.relay ? 'relay' : 'not a relay'}`);
    });
}

function onOff(value: string): boolean {
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new InvalidArgumentError(`expected on or off, not ${JSON.stringify(value)}`);
}

function hostsTable(hosts: Host[]): string {
  const problems = hosts
    .filter((h) => h.peerUrlProblem)
    .map((h) => `\n${h.name}: peer URL not handed to peers: ${h.peerUrlProblem}`);
  return (
    table(
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
    ) + problems.join('')
  );
}
