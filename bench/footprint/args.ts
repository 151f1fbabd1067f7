/** The footprint benchmark's command line. */
import { parseArgs } from 'node:util';
import { UsageError, whole } from '../fanout/args.js';
import { formatBytes, parseSize } from '../fleet/units.js';
import { catalogProblem } from './catalog.js';

/** What one run measures. */
export interface Options {
  /** Simulated agents enrolled with the embedded server. */
  agents: number;
  images: number;
  releases: number;
  /** Bytes of the image the real agent stages. */
  stageSize: number;
  /** An empty PostgreSQL database for the second server; null: that row is not measured. */
  databaseUrl: string | null;
  skipFleet: boolean;
  /** Passed on to bench/fleet/main.ts. */
  fleetArgs: string[];
  json: boolean;
  /** Keep the work directory (data dirs, logs) after the run. */
  keep: boolean;
}

const MAX_AGENTS = 20_000;
const MAX_IMAGES = 10_000;
const MAX_RELEASES = 100_000;
const MIN_STAGE = 1024 * 1024;
const MAX_STAGE = 64 * 1024 ** 3;

export const USAGE = `usage: npm run bench:footprint -- [options]

Resident memory of \`slipway server\` (embedded store idle, and with simulated agents, images and
releases; PostgreSQL idle) and of one \`slipway agent\` (idle, and while staging), the agent's
idle CPU and its CPU per GiB staged, and (bench:fleet) the agents' CPU per GiB against aria2.

  --agents N            simulated agents enrolled with the embedded server (default 1000, 1..${MAX_AGENTS})
  --images N            small distinct images registered (default 200, 0..${MAX_IMAGES})
  --releases N          releases made, each by a stage deployment (default 2000, 0..${MAX_RELEASES})
  --stage-size SIZE     the image the real agent stages, e.g. 256MiB (default 256MiB)
  --database-url URL    an empty PostgreSQL database (a new one per run) for the PostgreSQL row;
                        without it that row is not measured
  --skip-fleet          leave out the agents' CPU per GiB against aria2 (bench:fleet, minutes, root)
  --fleet-args "ARGS"   more options for bench:fleet, e.g. "--loopback --hosts 2 --size 32MiB"
  --json                print one JSON object as the last line of stdout
  --keep                keep the work directory (data dirs, logs)
  --help                this text`;

/** Splits `--fleet-args` into words: on whitespace, with '…' or "…" keeping one word together. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  for (const m of text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

/**
 * `--fleet-args "--hosts 2"` as one `--fleet-args=--hosts 2`: parseArgs takes a value that
 * starts with a dash for a forgotten value, and `--fleet-args` is always followed by options.
 */
function joinFleetArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--fleet-args' && i + 1 < argv.length) out.push(`${a}=${argv[++i]}`);
    else out.push(a);
  }
  return out;
}

/** Parses `argv` (without node and the script); null for --help. */
export function parseOptions(argv: string[]): Options | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: joinFleetArgs(argv),
      strict: true,
      allowPositionals: false,
      options: {
        agents: { type: 'string' },
        images: { type: 'string' },
        releases: { type: 'string' },
        'stage-size': { type: 'string' },
        'database-url': { type: 'string' },
        'skip-fleet': { type: 'boolean', default: false },
        'fleet-args': { type: 'string' },
        json: { type: 'boolean', default: false },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return null;
  const images = whole('images', values.images, 200, 0, MAX_IMAGES);
  const releases = whole('releases', values.releases, 2000, 0, MAX_RELEASES);
  const problem = catalogProblem(images, releases);
  if (problem) throw new UsageError(problem);
  const sizeText = values['stage-size'] ?? '256MiB';
  let stageSize: number;
  try {
    stageSize = parseSize(sizeText, '--stage-size');
  } catch {
    throw new UsageError(`--stage-size: "${sizeText}" is not a size; write e.g. 256MiB or 1GiB`);
  }
  if (stageSize < MIN_STAGE || stageSize > MAX_STAGE) {
    throw new UsageError(
      `--stage-size must be from ${formatBytes(MIN_STAGE)} to ${formatBytes(MAX_STAGE)}, not ${sizeText}`,
    );
  }
  const databaseUrl = values['database-url'] ?? null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new UsageError(`--database-url must be a postgres:// URL, not "${databaseUrl}"`);
  }
  const fleetArgs = splitWords(values['fleet-args'] ?? '');
  if (values['skip-fleet'] && fleetArgs.length > 0) {
    throw new UsageError('--fleet-args has no effect with --skip-fleet: give one or the other');
  }
  for (const own of ['--methods', '--json']) {
    if (fleetArgs.some((a) => a === own || a.startsWith(`${own}=`))) {
      throw new UsageError(`--fleet-args must not hold ${own}: the footprint bench sets it`);
    }
  }
  return {
    agents: whole('agents', values.agents, 1000, 1, MAX_AGENTS),
    images,
    releases,
    stageSize,
    databaseUrl,
    skipFleet: values['skip-fleet'],
    fleetArgs,
    json: values.json,
    keep: values.keep,
  };
}
