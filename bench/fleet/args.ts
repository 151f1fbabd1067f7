/** The harness's command line. */
import { parseArgs } from 'node:util';
import { parseRate, parseSize } from './units.js';

/** Every method the harness knows, in the order it runs them. */
export const METHODS = ['http-pull', 'aria2', 'slipway-cold', 'slipway-delta', 'rsync'] as const;
/** One of {@link METHODS}. */
export type MethodName = (typeof METHODS)[number];

/** What one run measures, and how. */
export interface Options {
  hosts: number;
  regions: number;
  /** Image size in bytes. */
  size: number;
  /** Every host's link, each way, in bits per second. */
  rate: number;
  /** The origin's link, each way, in bits per second. */
  originRate: number;
  /** No namespaces: everything on 127.0.0.1, link rates emulated by each tool's own limiter. */
  loopback: boolean;
  /** Why loopback was chosen when the user did not ask for it. */
  loopbackReason: string | null;
  methods: MethodName[];
  json: boolean;
  /** Install missing Debian packages (root only). */
  install: boolean;
  /** Keep the work directory (trees, logs) after the run. */
  keep: boolean;
}

/*
 * Defaults, chosen by measurement on a 2-core machine. Every host is a set of node processes
 * sharing those two cores, and every byte a host receives crosses veth, a bridge and tc, is
 * written and hashed, and in a swarm sent on again: CPU grows with hosts × rate. aria2's swarm
 * of 30 hosts at 100 Mbit/s kept both cores 87% busy, at 25 Mbit/s 49%. 30 Slipway agents with a
 * 16 MiB image kept them 88% busy on average at 5 Mbit/s, and 100% for stretches of up to 8 s
 * (sampled every 0.5 s): the machine, not the links, set the pace, and the same fleet staged in
 * 1.67-1.75 times the physical limit there against 1.46-1.52 at 2.5 Mbit/s (50-66% busy).
 * At 2.5 Mbit/s the physical limit is 54 s: long against start-up costs (a 200 KiB chunk crosses
 * a link in 0.65 s); the 30-host HTTP pull takes about 10 minutes.
 */
const NETNS_DEFAULTS = { hosts: 30, regions: 3, size: '16MiB', rate: '2.5mbit' };
/*
 * On loopback every host is a set of processes on the same cores, and the tools' own limiters
 * are coarser than tc: a smaller fleet and image keep it network-bound and quick.
 */
const LOOPBACK_DEFAULTS = { hosts: 6, regions: 2, size: '32MiB', rate: '25mbit' };

/** The help text. */
export const USAGE = `usage: npm run bench:fleet -- [options]

  --hosts N          hosts in the fleet (default ${NETNS_DEFAULTS.hosts}; loopback ${LOOPBACK_DEFAULTS.hosts})
  --regions N        regions; the first host of each is its relay (default ${NETNS_DEFAULTS.regions}; loopback ${LOOPBACK_DEFAULTS.regions})
  --size SIZE        image size, e.g. 256MiB (default ${NETNS_DEFAULTS.size}; loopback ${LOOPBACK_DEFAULTS.size})
  --rate RATE        every host's link, each way, e.g. 100mbit (default ${NETNS_DEFAULTS.rate})
  --origin-rate RATE the origin's link, each way (default: --rate × --regions, so that it can
                     send each region its copy as fast as a host link takes it)
  --methods LIST     comma-separated subset of ${METHODS.join(',')}
  --json             print one JSON object last
  --loopback         no namespaces: all on 127.0.0.1, rates emulated by the tools (automatic when not root)
  --install          install missing Debian packages with apt-get (root only)
  --keep             keep the work directory (trees, logs) afterwards
`;

/** The flags that describe a fleet, shared with bench:model. */
export const FLEET_FLAGS = {
  hosts: { type: 'string' },
  regions: { type: 'string' },
  size: { type: 'string' },
  rate: { type: 'string' },
  'origin-rate': { type: 'string' },
} as const;

/** Parses argv; throws with a message meant for the user. */
export function parseOptions(argv: string[], isRoot: boolean): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...FLEET_FLAGS,
      methods: { type: 'string' },
      json: { type: 'boolean', default: false },
      loopback: { type: 'boolean', default: false },
      install: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const loopback = values.loopback || !isRoot;
  const loopbackReason =
    !values.loopback && !isRoot ? 'not root: network namespaces need root' : null;
  const d = loopback ? LOOPBACK_DEFAULTS : NETNS_DEFAULTS;
  const int = (text: string | undefined, fallback: number, flag: string, min: number) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag}: expected an integer ≥ ${min}`);
    return n;
  };
  const hosts = int(values.hosts, d.hosts, '--hosts', 1);
  const regions = int(values.regions, Math.min(d.regions, hosts), '--regions', 1);
  if (regions > hosts) throw new Error('--regions: more regions than hosts');
  // Host addresses are 10.77.<1..250>.<1..250>.
  if (!loopback && hosts > 250 * 250) throw new Error('--hosts: at most 62500 with namespaces');
  const rate = parseRate(values.rate ?? d.rate, '--rate');
  const methods = (values.methods ?? METHODS.join(','))
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  for (const m of methods) {
    if (!(METHODS as readonly string[]).includes(m)) {
      throw new Error(`--methods: unknown method ${m}; choose from ${METHODS.join(', ')}`);
    }
  }
  return {
    hosts,
    regions,
    size: parseSize(values.size ?? d.size, '--size'),
    rate,
    originRate: values['origin-rate']
      ? parseRate(values['origin-rate'], '--origin-rate')
      : rate * regions,
    loopback,
    loopbackReason,
    methods: METHODS.filter((m) => methods.includes(m)),
    json: values.json,
    install: values.install,
    keep: values.keep,
  };
}
