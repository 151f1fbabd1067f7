/**
 * Expected fleet-wide stage time of Slipway's distribution, from the algorithm's parameters:
 * the origin sends each chunk to one relay per region (the relay fetches in manifest order, one
 * fetch per chunk however many ask), the relay sends each chunk to one host of its region, and
 * every host fetches the rest from peers of its region that hold them (rarest first, told by
 * their have streams as chunks arrive); each host's download and upload are capped by its link.
 *
 *   npm run bench:model                      the fleet of the issue: 100,000 hosts, 5 regions, 10 GB
 *   npm run bench:model -- --hosts 30 --regions 3 --size 256MiB --rate 100mbit
 *   npm run bench:model -- --compare FILE    FILE: saved output of `bench:fleet --json`
 *
 * time = control + max(host bound, origin bound) + pipeline + materialize
 *
 *   host bound    every host must receive the image through its own link
 *   origin bound  the origin must send one copy per region through its link
 *   pipeline      the last chunk's way origin → relay → through the region: copies double per
 *                 hop (every holder serves another host), so about log2(hosts per region) hops;
 *                 a chunk is passed on while it arrives (cut-through), so a hop adds a have
 *                 message (sent in batches: half a batch's wait on average, the batch going
 *                 out after HAVE_BATCH_MS or once it holds HAVE_BATCH_MAX chunks, whichever
 *                 comes first) and a request's round trip, and the chunk one transfer in all
 *   materialize   writing the release tree once its chunks are verified
 *   control       the deployment reaching the agents and their reports reaching the server:
 *                 grows with the agents per server, fitted to `npm run bench:fanout` (one server
 *                 on the embedded store, 2 cores shared with the simulated agents): from the
 *                 deployment's creation to every agent's goal (p99) plus from then to success,
 *                 2.0 s at 1,000 agents, 6.4 s at 5,000 and 13.2 s at 10,000
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { HAVE_BATCH_MAX, HAVE_BATCH_MS } from '../src/distribution/index.js';
import { CHUNKING } from '../src/image/index.js';
import { FLEET_FLAGS } from './fleet/args.js';
import { TCP_PAYLOAD_SHARE } from './fleet/netns.js';
import type { FleetJson } from './fleet/report.js';
import { formatBytes, formatRate, parseRate, parseSize } from './fleet/units.js';

/** The fleet and its links. */
interface Inputs {
  hosts: number;
  regions: number;
  /** bytes */
  size: number;
  /** bits per second, each way */
  hostRate: number;
  originRate: number;
}

/** The algorithm's parameters; every one is printed with the prediction. */
interface Params {
  /** Mean chunk size (content-defined chunking), bytes. */
  chunkBytes: number;
  /** One chunk request's round trip and handling, seconds. */
  requestS: number;
  /**
   * How long a peer gathers new chunks before it announces them (HAVE_BATCH_MS), seconds; less
   * when HAVE_BATCH_MAX chunks arrive sooner.
   */
  haveBatchS: number;
  /** Payload share of the wire, as on the harness's links (jumbo frames). */
  tcpGoodput: number;
  /**
   * How much of a host link's capacity the swarm loses per unit of upload load: the share of
   * a host link the swarm keeps busy is 1 / (1 + loss × load), where load is the share of the
   * non-relay hosts' uplinks that must carry the image (the relay sends one copy, they send the
   * rest: (f − 1) / f for f of them per region). Busier uplinks mean longer queues at holders,
   * uneven rarest-first choices and idle slots while holders are discovered. Measured, not
   * derived: fitted to the default fleet (30 hosts, 3 regions, 2.5 Mbit/s, TCP cubic, ~70 KiB
   * chunks), whose cold stage took 61.6-62.9 s in four runs of this scheduler; it predicts 62.6 s
   * and 60.7 s for 30 and 10 hosts against 62.6 s and 57.6 s measured in one full run of each.
   */
  swarmLoss: number;
  /**
   * Deployment created → agents fetching, plus their last report → success, seconds; null: from
   * the agents per server (see CONTROL_FIT).
   */
  controlS: number | null;
  /** Agents one server serves (replicas on PostgreSQL share the fleet). */
  agentsPerServer: number;
  /** How fast a host writes the verified release tree, bytes per second. */
  materializeBps: number;
}

const DEFAULT_PARAMS: Params = {
  // FastCDC's mean chunk is about its minimum plus its average parameter.
  chunkBytes: CHUNKING.minSize + CHUNKING.avgSize,
  requestS: 0.002,
  haveBatchS: HAVE_BATCH_MS / 1000,
  tcpGoodput: TCP_PAYLOAD_SHARE,
  swarmLoss: 0.12,
  controlS: null,
  agentsPerServer: 10_000,
  materializeBps: 1e9,
};

/** The control term's fit: a fixed part and a part per 1,000 agents of a server (seconds). */
const CONTROL_FIT = { fixedS: 0.76, perThousandS: 1.24 };

/** The control term for `hosts` over servers of `agentsPerServer` each. */
export function controlSeconds(hosts: number, p: Params): number {
  if (p.controlS !== null) return p.controlS;
  const perServer = Math.min(hosts, p.agentsPerServer);
  return CONTROL_FIT.fixedS + (CONTROL_FIT.perThousandS * perServer) / 1000;
}

/** The issue's fleet: 100,000 hosts in 5 regions, a 10 GB image, 10 Gbit/s everywhere. */
const SCALE: Inputs = {
  hosts: 100_000,
  regions: 5,
  size: 10e9,
  hostRate: 10e9,
  originRate: 10e9,
};

interface Prediction {
  seconds: number;
  terms: [string, number, string][];
  limitS: number;
}

/** The prediction, term by term. */
export function predict(i: Inputs, p: Params): Prediction {
  const perRegion = Math.ceil(i.hosts / i.regions);
  const fetchers = perRegion - 1;
  const load = fetchers > 1 ? (fetchers - 1) / fetchers : 0;
  const efficiency = 1 / (1 + p.swarmLoss * load);
  // Bytes per second each host and the origin actually move.
  const hostBps = (i.hostRate / 8) * p.tcpGoodput * efficiency;
  const originBps = (i.originRate / 8) * p.tcpGoodput;
  const hostBound = i.size / hostBps;
  const originBound = (i.regions * i.size) / originBps;
  // The chunk moves at the slowest link on its way; a relay gets its share of the origin's.
  const chunkS = p.chunkBytes / Math.min(hostBps, originBps / i.regions);
  const hops = 2 + Math.ceil(Math.log2(Math.max(1, perRegion)));
  const batchS = Math.min(p.haveBatchS, HAVE_BATCH_MAX * chunkS);
  const hop = 2 * p.requestS + batchS / 2;
  const pipeline = chunkS + hops * hop;
  const materialize = i.size / p.materializeBps;
  const control = controlSeconds(i.hosts, p);
  const servers = Math.ceil(i.hosts / p.agentsPerServer);
  const terms: [string, number, string][] = [
    [
      'control',
      control,
      p.controlS !== null
        ? 'deployment to agents, last report to server (as given)'
        : `deployment to agents, last report to server: ${servers} server(s) of up to ` +
          `${p.agentsPerServer} agents (bench:fanout fit ${CONTROL_FIT.fixedS} s + ` +
          `${CONTROL_FIT.perThousandS} s per 1,000 agents of a server)`,
    ],
    [
      'host bound',
      hostBound,
      `image / (host link × goodput × swarm efficiency ${efficiency.toFixed(2)}) = ` +
        `${formatBytes(i.size)} / ${formatRate(hostBps * 8)}; uplink load ${load.toFixed(2)}`,
    ],
    [
      'origin bound',
      originBound,
      `${i.regions} regions × image / (origin link × goodput) = ${formatBytes(i.regions * i.size)} / ${formatRate(originBps * 8)}`,
    ],
    [
      'pipeline',
      pipeline,
      `one chunk ${(chunkS * 1000).toFixed(1)} ms + ${hops} hops × ${(hop * 1000).toFixed(1)} ms ` +
        `(half a have batch + have message + request; chunks pass on as they arrive); ` +
        `${perRegion} hosts per region`,
    ],
    ['materialize', materialize, `image / ${decimal(p.materializeBps)}/s`],
  ];
  return {
    seconds: control + Math.max(hostBound, originBound) + pipeline + materialize,
    terms,
    limitS: i.size / (i.hostRate / 8),
  };
}

/** `1e10` → `10.00 GB`. */
function decimal(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function printPrediction(title: string, i: Inputs, p: Params): Prediction {
  const out = (line: string) => process.stdout.write(line + '\n');
  const pr = predict(i, p);
  out(title);
  out(
    `  inputs: ${i.hosts} hosts in ${i.regions} regions, image ${decimal(i.size)} ` +
      `(${formatBytes(i.size)}), ` +
      `host links ${formatRate(i.hostRate)}, origin ${formatRate(i.originRate)}`,
  );
  out(
    `  parameters: chunk ${formatBytes(p.chunkBytes)}, ` +
      `request ${p.requestS * 1000} ms, have batch ${p.haveBatchS * 1000} ms, TCP goodput ${p.tcpGoodput.toFixed(3)}, ` +
      `swarm loss ${p.swarmLoss}, control ${p.controlS === null ? 'from the fleet' : `${p.controlS} s`}, ` +
      `materialize ${decimal(p.materializeBps)}/s`,
  );
  const bound = pr.terms[1]![1] >= pr.terms[2]![1] ? 'host bound' : 'origin bound';
  for (const [name, s, why] of pr.terms) {
    const unused = (name === 'host bound' || name === 'origin bound') && name !== bound;
    out(
      `  ${name.padEnd(13)} ${s.toFixed(2).padStart(9)} s${unused ? ' (not binding)' : ''}  ${why}`,
    );
  }
  out(
    `  predicted stage time: ${pr.seconds.toFixed(1)} s = ${(pr.seconds / pr.limitS).toFixed(2)} × ` +
      `the physical limit (${pr.limitS.toFixed(1)} s: image / host link)`,
  );
  return pr;
}

/** The JSON object `bench:fleet --json` printed last in `file`. */
function readFleetJson(file: string): FleetJson {
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let k = lines.length - 1; k >= 0; k--) {
    const line = lines[k]!.trim();
    if (line.startsWith('{')) return JSON.parse(line) as FleetJson;
  }
  throw new Error(`${file}: no JSON object (save the output of bench:fleet --json)`);
}

const { values } = parseArgs({
  options: {
    ...FLEET_FLAGS,
    chunk: { type: 'string' },
    request: { type: 'string' },
    'have-batch': { type: 'string' },
    'swarm-loss': { type: 'string' },
    control: { type: 'string' },
    'agents-per-server': { type: 'string' },
    'materialize-rate': { type: 'string' },
    compare: { type: 'string' },
  },
});

const seconds = (text: string | undefined, fallback: number, flag: string) => {
  if (text === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text.trim());
  if (!m) throw new Error(`${flag}: write e.g. 250ms or 1s`);
  return Number(m[1]) / (m[2] === 'ms' ? 1000 : 1);
};
const params: Params = {
  chunkBytes: values.chunk ? parseSize(values.chunk, '--chunk') : DEFAULT_PARAMS.chunkBytes,
  requestS: seconds(values.request, DEFAULT_PARAMS.requestS, '--request'),
  haveBatchS: seconds(values['have-batch'], DEFAULT_PARAMS.haveBatchS, '--have-batch'),
  tcpGoodput: DEFAULT_PARAMS.tcpGoodput,
  swarmLoss: values['swarm-loss'] ? Number(values['swarm-loss']) : DEFAULT_PARAMS.swarmLoss,
  controlS: values.control === undefined ? null : seconds(values.control, 0, '--control'),
  agentsPerServer: values['agents-per-server']
    ? Number(values['agents-per-server'])
    : DEFAULT_PARAMS.agentsPerServer,
  materializeBps: values['materialize-rate']
    ? parseRate(values['materialize-rate'], '--materialize-rate') / 8
    : DEFAULT_PARAMS.materializeBps,
};

if (values.compare) {
  const run = readFleetJson(values.compare);
  const inputs: Inputs = {
    hosts: run.hosts,
    regions: run.regions,
    size: run.size_bytes,
    hostRate: run.rate_bps,
    originRate: run.origin_rate_bps ?? run.rate_bps,
  };
  const pr = printPrediction(`prediction for the run in ${values.compare}:`, inputs, params);
  const measured = run.results.find((r) => r.method === 'slipway-cold');
  if (!measured) {
    process.stdout.write('the run has no slipway-cold result to compare with\n');
    process.exitCode = 1;
  } else {
    const off = measured.seconds / pr.seconds - 1;
    const within = Math.abs(off) <= 0.25;
    process.stdout.write(
      `  measured slipway-cold: ${measured.seconds.toFixed(1)} s; prediction ` +
        `${pr.seconds.toFixed(1)} s; measured is ${(off * 100).toFixed(0)}% ` +
        `${off >= 0 ? 'above' : 'below'} it: ${within ? 'within' : 'NOT within'} 25%` +
        `${run.loopback ? ' (a loopback run: links emulated, origin not capped)' : ''}\n`,
    );
    if (!within) process.exitCode = 1;
  }
} else {
  const custom = values.hosts ?? values.regions ?? values.size ?? values.rate;
  const inputs: Inputs = custom
    ? {
        hosts: Number(values.hosts ?? SCALE.hosts),
        regions: Number(values.regions ?? SCALE.regions),
        size: values.size ? parseSize(values.size, '--size') : SCALE.size,
        hostRate: values.rate ? parseRate(values.rate, '--rate') : SCALE.hostRate,
        originRate: values['origin-rate']
          ? parseRate(values['origin-rate'], '--origin-rate')
          : values.rate
            ? parseRate(values.rate, '--rate')
            : SCALE.originRate,
      }
    : SCALE;
  printPrediction('Slipway stage time, modelled:', inputs, params);
}
