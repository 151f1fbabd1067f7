/** `slipway agent`: a host's agent, run by `main` with the `AgentSettings` its options make. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SlipwayError, parseHostPort, parseRate, type AgentSettings } from '../../core/index.js';
import { DEFAULT_SERVER, repeatable, type CliContext, type GlobalOptions } from '../context.js';

/** The agent's options as commander parses them, before they are checked. */
interface AgentOptions {
  name: string;
  region: string;
  joinToken?: string;
  label: string[];
  dataDir: string;
  peerListen: string;
  peerUrl?: string;
  relay: boolean;
  maxBandwidth?: string;
}

/** Adds `agent`. */
export function register(program: Command, ctx: CliContext): void {
  program
    .command('agent')
    .description('run the host agent')
    .requiredOption('--name <name>', 'this host’s name')
    .requiredOption('--region <region>', 'this host’s region')
    .option(
      '--join-token <token>',
      'the server’s join token (needed on first start only)',
      process.env.SLIPWAY_JOIN_TOKEN,
    )
    .option('--label <key=value>', 'a label of this host (repeatable)', repeatable, [])
    .option('--data-dir <dir>', 'where the agent keeps images and releases', '.slipway/agent')
    .option(
      '--peer-listen <host:port>',
      'where to serve chunks to agents of this region (port 0: any free port)',
      '0.0.0.0:7401',
    )
    .option(
      '--peer-url <url>',
      'the URL peers reach this agent at (default: the listen address, or the address this host reaches the server from)',
    )
    .option(
      '--relay',
      'be this region’s relay: fetch from the origin what no peer holds yet',
      false,
    )
    .option(
      '--max-bandwidth <rate>',
      'cap deploy traffic each way, e.g. 100mbit or 50MiB/s (default: no cap)',
    )
    .action((o: AgentOptions, cmd: Command) =>
      ctx.processes.agent(agentSettings(o, cmd.optsWithGlobals())),
    );
}

function agentSettings(o: AgentOptions, g: GlobalOptions): AgentSettings {
  return {
    server: g.server ?? DEFAULT_SERVER,
    joinToken: o.joinToken,
    name: o.name,
    region: o.region,
    labels: parseLabels(o.label),
    dataDir: resolve(o.dataDir),
    peerListen: parseHostPort(o.peerListen, '--peer-listen'),
    peerUrl: o.peerUrl,
    relay: o.relay,
    maxBandwidth:
      o.maxBandwidth === undefined ? null : parseRate(o.maxBandwidth, '--max-bandwidth'),
  };
}

function parseLabels(pairs: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const p of pairs) {
    const m = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(p);
    if (!m) throw new SlipwayError('INVALID', `--label ${JSON.stringify(p)}: expected key=value`);
    labels[m[1]!] = m[2]!;
  }
  return labels;
}
