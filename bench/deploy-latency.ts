/**
 * Time from `deploy` to every host healthy, for a small service on a local fleet of real
 * processes (a server on the embedded store and six agents in three regions, on loopback).
 *
 *   npm run bench:deploy [-- --runs 5 --hosts 6]
 *
 * Each run deploys a new image of the example scores-api (so every host fetches, stages and
 * activates it) and measures, from the moment the deployment is created: all hosts staged, and
 * all hosts healthy. Rollouts: batches of 2, all hosts at once, and three waves without a bake
 * (a canary host, one region, the rest); then a rollback to the release before, already on
 * every host's disk. Each is put against the service's own health check: it needs
 * `healthyAfter` × `interval` (0.4 s) of probes before a host is healthy at all.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { SlipwayClient } from '../src/api/index.js';
import { buildImage } from '../src/cli/index.js';
import { LocalFleet } from '../test/harness/local-fleet.js';

const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));
const REGIONS = ['us-east', 'eu-west', 'ap-south'];

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, hosts: { type: 'string', default: '6' } },
});
const runs = Number(values.runs);
const hostCount = Number(values.hosts);

/** The health check's floor: `healthyAfter` probes `interval` apart. */
const HEALTH_FLOOR_MS = 2 * 200;

const mapFor = (rollout: string) => `
regions: [${REGIONS.join(', ')}]
services:
  scores-api:
    run: [node, server.js]
    port: dynamic
    health: { http: /healthz, interval: 200ms, timeout: 1s, healthyAfter: 2, deadline: 10s }
    rollout: ${rollout}
`;

const ROLLOUTS: [string, string][] = [
  ['batches of 2', '{ batchSize: 2 }'],
  ['all at once', '{ batchSize: 100% }'],
  [
    '3 waves, no bake',
    `{ batchSize: 100%, waves: [{ name: canary, hosts: 1 }, { name: first, regions: [${REGIONS[0]}] }, { name: rest }] }`,
  ],
];

interface Sample {
  staged: number;
  healthy: number;
}

async function deployOnce(client: SlipwayClient, dir: string, n: number): Promise<Sample> {
  const src = join(dir, 'src', `v${n}`);
  await cp(join(EXAMPLES, 'scores-api'), src, { recursive: true });
  await writeFile(
    join(src, 'release.json'),
    JSON.stringify({ version: String(n), model: 'momentum' }),
  );
  const { imageId } = await buildImage(client, src, 'scores-api', [], () => {});
  return timed(client, () => client.createDeployment({ service: 'scores-api', image: imageId }));
}

/** From the deployment's creation: all hosts staged, and all healthy. */
async function timed(
  client: SlipwayClient,
  create: () => ReturnType<SlipwayClient['createDeployment']>,
): Promise<Sample> {
  const t0 = performance.now();
  const d = await create();
  let staged = NaN;
  for (;;) {
    const now = await client.getDeployment(d.id);
    if (Number.isNaN(staged) && now.state !== 'staging') staged = performance.now() - t0;
    if (now.state === 'succeeded') return { staged, healthy: performance.now() - t0 };
    if (['failed', 'rolled_back', 'cancelled'].includes(now.state)) {
      throw new Error(`deployment ${d.id} ended ${now.state}: ${now.reason ?? ''}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const secs = (ms: number) => (ms / 1000).toFixed(2);

const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-'));
const fleet = new LocalFleet(dir);
const interrupted = () => void fleet.stop().finally(() => process.exit(130));
process.once('SIGINT', interrupted);
try {
  await fleet.startServer();
  const names = Array.from({ length: hostCount }, (_, i) => `h${i + 1}`);
  names.forEach((name, i) => fleet.startAgent({ name, region: REGIONS[i % REGIONS.length]! }));
  await fleet.waitForHosts(names);
  const client = fleet.client;
  console.log(
    `deploy → all ${hostCount} hosts healthy, scores-api (2 files, ~3 KiB), ${runs} runs each`,
  );
  console.log(
    'rollout              staged (median)  healthy (median)  healthy min..max  ×health check',
  );
  const line = (name: string, samples: Sample[]) => {
    const healthy = samples.map((x) => x.healthy);
    console.log(
      `${name.padEnd(20)} ${`${secs(median(samples.map((x) => x.staged)))} s`.padEnd(16)} ${`${secs(median(healthy))} s`.padEnd(17)} ${`${secs(Math.min(...healthy))}..${secs(Math.max(...healthy))} s`.padEnd(17)} ${(median(healthy) / HEALTH_FLOOR_MS).toFixed(1)}`,
    );
  };
  let n = 0;
  for (const [name, rollout] of ROLLOUTS) {
    await client.applyServiceMap(parseYaml(mapFor(rollout)));
    const samples: Sample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await deployOnce(client, dir, ++n));
    line(name, samples);
  }
  // Back to the release before, on every disk already; then forward again for the next run.
  // All at once: a rollback takes the rollout of the release it returns to.
  await client.applyServiceMap(parseYaml(mapFor(ROLLOUTS[1]![1])));
  await deployOnce(client, dir, ++n);
  await deployOnce(client, dir, ++n);
  const back: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    back.push(
      await timed(client, () =>
        client.createDeployment({ service: 'scores-api', kind: 'rollback' }),
      ),
    );
    await deployOnce(client, dir, ++n);
  }
  line('rollback (on disk)', back);
} finally {
  await fleet.stop();
  await rm(dir, { recursive: true, force: true });
}
