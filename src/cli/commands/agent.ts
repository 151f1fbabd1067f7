/** `slipway agent`: a host's agent, run by `main` with the `AgentSettings` its options make. */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { SlipwayError, parseHostPort, parseRate, type AgentSettings } from '../../core/index.js';
import { DEFAULT_SERVER, repeatable, type CliContext, type GlobalOptions } from '../context.js';

/** The agent's options as commander parses them, before they are checked. */
interface AgentOptions {
  name: string;
  region: string;
  joinToken?: string;
  joinTokenFile?: string;
  label: string[];
  dataDir: string;
  peerListen: string;
  peerUrl?: string;
  relay: boolean;
  maxBandwidth?: string;
  jobSlots?: string;
}

/** Adds `agent` and `stop-services`. */
export function register(program: Command, ctx: CliContext): void {
  registerAgent(program, ctx);
  program
    .command('stop-services')
    .description(
      'stop the service processes left running in an agent data dir (a stopped agent leaves them serving)',
    )
    .option('--data-dir <dir>', 'the agent’s data dir', '.slipway/agent')
    .action(async (o: { dataDir: string }) => {
      const stopped = await ctx.processes.stopServices(resolve(o.dataDir));
      ctx.out.line(
        stopped.length > 0 ? `stopped ${stopped.join(', ')}` : 'no service process was running',
      );
    });
}

function registerAgent(program: Command, ctx: CliContext): void {
  program
    .command('agent')
    .description('run the host agent')
    .requiredOption('--name <name>', 'this host’s name')
    .requiredOption('--region <region>', 'this host’s region')
    .option(
      '--join-token-file <file>',
      'a file holding the server’s join token (needed on first start only)',
    )
    .addOption(
      new Option(
        '--join-token <token>',
        'the join token itself: every local user sees it in ps; prefer --join-token-file',
      ).env('SLIPWAY_JOIN_TOKEN'),
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
    .option('--job-slots <n>', 'jobs run at once on this host; more wait (default: its cores)')
    .action(async (o: AgentOptions, cmd: Command) => {
      const joinToken = await joinTokenOf(o, cmd.getOptionValueSource('joinToken'), ctx);
      return ctx.processes.agent(agentSettings(o, joinToken, cmd.optsWithGlobals()));
    });
}

/** A join token is a few dozen characters: a file much larger is not one. */
const MAX_JOIN_TOKEN_FILE_BYTES = 4_096;

/**
 * The join token from --join-token-file, SLIPWAY_JOIN_TOKEN or --join-token (with a warning:
 * a command line is visible to every local user).
 */
async function joinTokenOf(
  o: AgentOptions,
  source: string | undefined,
  ctx: CliContext,
): Promise<string | undefined> {
  if (o.joinTokenFile !== undefined) {
    if (source === 'cli') {
      throw new SlipwayError(
        'INVALID',
        '--join-token and --join-token-file both given: pass only --join-token-file',
      );
    }
    return readJoinTokenFile(o.joinTokenFile, ctx);
  }
  if (source === 'cli') {
    ctx.out.progress(
      'warning: --join-token puts the join token on the command line, where every local user sees it (ps); use --join-token-file <file> or SLIPWAY_JOIN_TOKEN instead',
    );
  }
  return o.joinToken === '' ? undefined : o.joinToken;
}

async function readJoinTokenFile(path: string, ctx: CliContext): Promise<string> {
  let text: string;
  try {
    const f = await open(path, 'r');
    try {
      const { mode, size } = await f.stat();
      if (size > MAX_JOIN_TOKEN_FILE_BYTES) {
        throw new SlipwayError(
          'INVALID',
          `--join-token-file ${path}: ${size} bytes is too large for a join token (at most ${MAX_JOIN_TOKEN_FILE_BYTES}); is it the right file?`,
        );
      }
      if ((mode & 0o077) !== 0) {
        ctx.out.progress(
          `warning: --join-token-file ${path} is readable by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it`,
        );
      }
      text = await f.readFile('utf8');
    } finally {
      await f.close();
    }
  } catch (e) {
    if (e instanceof SlipwayError) throw e;
    throw new SlipwayError(
      'INVALID',
      `--join-token-file ${path}: cannot read it (${(e as Error).message}); the server wrote its join token to <server data dir>/join.token`,
    );
  }
  const token = text.trim();
  if (!token) {
    throw new SlipwayError(
      'INVALID',
      `--join-token-file ${path} is empty: put the server’s join token in it (the server wrote it to <server data dir>/join.token)`,
    );
  }
  return token;
}

function agentSettings(
  o: AgentOptions,
  joinToken: string | undefined,
  g: GlobalOptions,
): AgentSettings {
  return {
    server: g.server ?? DEFAULT_SERVER,
    joinToken,
    name: o.name,
    region: o.region,
    labels: parseLabels(o.label),
    dataDir: resolve(o.dataDir),
    peerListen: parseHostPort(o.peerListen, '--peer-listen'),
    peerUrl: o.peerUrl,
    relay: o.relay,
    maxBandwidth:
      o.maxBandwidth === undefined ? null : parseRate(o.maxBandwidth, '--max-bandwidth'),
    jobSlots: o.jobSlots === undefined ? undefined : jobSlots(o.jobSlots),
  };
}

function jobSlots(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1024)
    throw new SlipwayError('INVALID', `--job-slots ${JSON.stringify(text)}: expected 1 to 1024`);
  return n;
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
