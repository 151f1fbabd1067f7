/** The `slipway` command line: global options, each noun's verbs, and errors as exit codes. */
import { Command, CommanderError, Option } from 'commander';
import { ValidationError, formatProblem, isSlipwayError } from '../core/index.js';
import { clientFrom, type CliContext, type ProcessCommands } from './context.js';
import { Output, processStreams, type Streams } from './output.js';
import { register as access } from './commands/access.js';
import { register as agent } from './commands/agent.js';
import { register as audit } from './commands/audit.js';
import { register as deployments } from './commands/deployments.js';
import { register as hosts } from './commands/hosts.js';
import { register as images } from './commands/images.js';
import { register as jobs } from './commands/jobs.js';
import { register as releases } from './commands/releases.js';
import { register as server } from './commands/server.js';
import { register as serviceMap } from './commands/service-map.js';

/** The exit code of a run whose server could not be reached, so scripts can retry it. */
export const EXIT_UNREACHABLE = 3;

/** The nouns, in the order `slipway --help` lists their verbs. */
const NOUNS = [
  server,
  agent,
  images,
  serviceMap,
  deployments,
  hosts,
  releases,
  access,
  audit,
  jobs,
];

/** The program with every verb; `ctx` is where its verbs print and what they run. */
export function buildProgram(ctx: CliContext): Command {
  const { stdout, stderr } = ctx.out.streams;
  const program = new Command('slipway')
    .description(
      'Puts immutable release images onto fleets of servers, fast, and keeps them there safely.',
    )
    .addOption(new Option('--server <url>', 'control plane URL').env('SLIPWAY_SERVER'))
    .addOption(new Option('--token <token>', 'API token').env('SLIPWAY_TOKEN'))
    .showHelpAfterError()
    .configureOutput({
      writeOut: (s) => stdout.write(s),
      writeErr: (s) => stderr.write(s),
      getOutHelpWidth: () => (stdout.isTTY ? stdout.columns : undefined) ?? 80,
      getErrHelpWidth: () => (stderr.isTTY ? stderr.columns : undefined) ?? 80,
    })
    // Throw instead of exiting, so that runCli decides the exit code (and a test can read it).
    // Set before the verbs are added: each copies these settings from the program.
    .exitOverride();
  for (const register of NOUNS) register(program, ctx);
  return program;
}

/**
 * Runs the CLI and resolves with its exit code: 0 success, 1 failure (including a deployment
 * that failed), 3 the server could not be reached. Errors are printed as what went wrong, with
 * every problem. A verb that starts a server or an agent resolves once it is running.
 */
export async function runCli(
  argv: string[],
  processes: ProcessCommands,
  streams: Streams = processStreams(),
): Promise<number> {
  const out = new Output(streams);
  let exitCode = 0;
  const ctx: CliContext = {
    processes,
    out,
    client: (cmd) => clientFrom(cmd.optsWithGlobals()),
    fail: (code = 1) => {
      exitCode = code;
    },
  };
  try {
    await buildProgram(ctx).parseAsync(argv);
    return exitCode;
  } catch (e) {
    // Commander has printed its own message (or the help) already.
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof ValidationError) {
      // The message repeats the problems after its first line: print each once, on its own line.
      out.error(e.message.split('\n')[0] ?? e.message, e.problems.map(formatProblem));
    } else if (isSlipwayError(e)) {
      out.error(e.message);
    } else {
      out.error((e as Error).stack ?? String(e));
    }
    return isSlipwayError(e, 'UNAVAILABLE') ? EXIT_UNREACHABLE : 1;
  }
}
