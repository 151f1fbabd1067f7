/** The fan-out benchmark's command line. */
import { parseArgs } from 'node:util';

/** What one run measures. */
export interface Options {
  /** Simulated agents. */
  agents: number;
  /** Server processes, on one PostgreSQL when more than one. */
  replicas: number;
  databaseUrl: string | null;
  regions: number;
  /** Bound of the fan-out (and of each probe request), in seconds. */
  timeoutS: number;
  /** Enrollments in flight at once. */
  enrollConcurrency: number;
  /** Threads the simulated agents are spread over. */
  simThreads: number;
  /** How long idle CPU is sampled, in seconds. */
  idleS: number;
  json: boolean;
  /** Keep the work directory (server data and logs) after the run. */
  keep: boolean;
}

/** Bounds: a run on one machine, not a load generator. */
const MAX_AGENTS = 20_000;
const MAX_REPLICAS = 16;
const MAX_REGIONS = 64;
const MAX_TIMEOUT_S = 3_600;

export const USAGE = `usage: npm run bench:fanout -- --agents N [options]

  --agents N            simulated agents, all in this process (on --sim-threads threads) (1..${MAX_AGENTS})
  --sim-threads N       threads the simulated agents are spread over (default 2, at most 16)
  --replicas R          server processes sharing one PostgreSQL (default 1; R > 1 needs --database-url)
  --database-url URL    an empty PostgreSQL database for the server(s), a new one per run: the
                        first server makes its key and tokens there (default: an embedded store)
  --regions N           regions; one agent of each is its relay (default 5)
  --timeout S           bound of the fan-out in seconds (default 120)
  --enroll-concurrency N  enrollments in flight at once (default 50)
  --idle S              seconds over which idle server CPU is sampled (default 10)
  --json                print one JSON object as the last line
  --keep                keep the work directory (server data dir, logs)
  --help                this text`;

/** A mistake on the command line: the message says what to change. */
export class UsageError extends Error {}

/** `value` as a whole number from `min` to `max` (`def` when absent), else a UsageError. */
export function whole(
  name: string,
  value: string | undefined,
  def: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return def;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${value}"`);
  }
  return n;
}

/** Parses `argv` (without node and the script); null for --help. */
export function parseOptions(argv: string[]): Options | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        agents: { type: 'string' },
        replicas: { type: 'string' },
        'database-url': { type: 'string' },
        regions: { type: 'string' },
        timeout: { type: 'string' },
        'enroll-concurrency': { type: 'string' },
        'sim-threads': { type: 'string' },
        idle: { type: 'string' },
        json: { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return null;
  if (values.agents === undefined) throw new UsageError('--agents N is required');
  const agents = whole('agents', values.agents, 0, 1, MAX_AGENTS);
  const replicas = whole('replicas', values.replicas, 1, 1, MAX_REPLICAS);
  const databaseUrl = values['database-url'] ?? null;
  if (replicas > 1 && !databaseUrl) {
    throw new UsageError(
      `--replicas ${replicas} needs --database-url: replicas share one PostgreSQL (the embedded store belongs to one process)`,
    );
  }
  const regions = whole('regions', values.regions, 5, 1, MAX_REGIONS);
  if (regions > agents) {
    throw new UsageError(
      `--regions ${regions} is more than --agents ${agents}: each region needs an agent`,
    );
  }
  return {
    agents,
    replicas,
    databaseUrl,
    regions,
    timeoutS: whole('timeout', values.timeout, 120, 1, MAX_TIMEOUT_S),
    enrollConcurrency: whole('enroll-concurrency', values['enroll-concurrency'], 50, 1, 1_000),
    idleS: whole('idle', values.idle, 10, 1, 600),
    simThreads: whole('sim-threads', values['sim-threads'], 2, 1, 16),
    json: values.json,
    keep: values.keep,
  };
}
