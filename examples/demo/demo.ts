/**
 * The demo: a server and six agents in three regions on this machine, then the main job
 * end to end — deploy two services, upgrade both, ship a broken release that is rolled back
 * automatically — told as it happens, with a table of what runs where; then a job (a script
 * with a vendored Python dependency) on every host, in the job sandbox.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeploymentView, SlipwayClient } from '../../src/api/index.js';
import {
  buildImage,
  formatBytes,
  readServiceMapFile,
  table,
  watchDeployment,
} from '../../src/cli/index.js';
import { LocalFleet, REPO_ROOT, type AgentSpec } from '../../test/harness/local-fleet.js';
import { runJobStep } from './job-step.js';

/** The example services and their service map. */
const EXAMPLES = join(REPO_ROOT, 'examples');

const HOSTS: AgentSpec[] = [
  { name: 'nyc-1', region: 'us-east', relay: true },
  { name: 'nyc-2', region: 'us-east' },
  { name: 'ldn-1', region: 'eu-west', relay: true },
  { name: 'ldn-2', region: 'eu-west' },
  { name: 'mum-1', region: 'ap-south', relay: true },
  { name: 'mum-2', region: 'ap-south' },
];

const say = (line: string) => process.stdout.write(line + '\n');
const detail = (line: string) => process.stdout.write(`    ${line.trim()}\n`);

/** Runs the demo; resolves true when every step turned out as the story says. */
export async function runDemo(opts: { keep: boolean }): Promise<boolean> {
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'slipway-demo-'));
  const fleet = new LocalFleet(dir);
  let ok = true;
  const expect = (cond: boolean, what: string) => {
    if (!cond) {
      ok = false;
      say(`  !! unexpected: ${what}`);
    }
  };
  const stop = async () => {
    say('\nstopping the agents (and their services) and the server');
    await fleet.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    say(
      `Slipway demo: one control plane and ${HOSTS.length} hosts in 3 regions, all on this machine (${dir})\n`,
    );
    await fleet.startServer();
    say(`1. control plane up at ${fleet.url} (embedded PostgreSQL via PGlite)`);
    for (const h of HOSTS) fleet.startAgent(h);
    await fleet.waitForHosts(HOSTS.map((h) => h.name));
    say(
      `2. ${HOSTS.length} agents enrolled: ${HOSTS.map((h) => `${h.name} (${h.region})`).join(', ')}`,
    );
    const c = fleet.client;
    const { doc } = await readServiceMapFile(join(EXAMPLES, 'slipway.yaml'));
    const map = await c.applyServiceMap(doc);
    say(
      `3. service map applied: ${Object.keys(map.map.services).join(', ')} (securities-api runs after scores-api)`,
    );

    say('\n4. first release of both services');
    const scores1 = await build(c, dir, 'scores-api', {}, 'v1');
    const securities1 = await build(c, dir, 'securities-api', {}, 'v1');
    expect(
      (await deploy(c, 'scores-api', scores1)).state === 'succeeded',
      'scores-api v1 should deploy',
    );
    expect(
      (await deploy(c, 'securities-api', securities1)).state === 'succeeded',
      'securities-api v1 should deploy',
    );
    await showSample(c);

    say('\n5. upgrade: scores-api switches model, securities-api adds a field');
    const scores2 = await build(c, dir, 'scores-api', { version: '2', model: 'momentum' }, 'v2');
    const securities2 = await build(
      c,
      dir,
      'securities-api',
      { version: '2', currency: 'USD', exchange: 'XNYS' },
      'v2',
    );
    expect(
      (await deploy(c, 'scores-api', scores2)).state === 'succeeded',
      'scores-api v2 should deploy',
    );
    expect(
      (await deploy(c, 'securities-api', securities2)).state === 'succeeded',
      'securities-api v2 should deploy',
    );
    await showSample(c);

    say('\n6. a broken scores-api v3 (its model cannot load, so its health check fails)');
    const scores3 = await build(
      c,
      dir,
      'scores-api',
      { version: '3', model: 'neural-net-unshipped' },
      'v3',
    );
    const broken = await deploy(c, 'scores-api', scores3);
    expect(broken.state === 'rolled_back', 'scores-api v3 should be rolled back automatically');
    say('   every host is back on scores-api v2, which kept serving:');
    await showSample(c);

    say('\n7. what runs where');
    const rows = await c.status();
    const services = [...new Set(rows.map((r) => r.service))].sort();
    const hosts = HOSTS.map((h) => h.name);
    const received = new Map((await c.listHosts()).map((h) => [h.name, h.bytesReceived]));
    say(
      table(
        ['HOST', 'REGION', ...services, 'RECEIVED FROM ORIGIN / RELAY / PEERS'],
        hosts.map((h) => [
          h + (HOSTS.find((x) => x.name === h)?.relay ? ' (relay)' : ''),
          HOSTS.find((x) => x.name === h)!.region,
          ...services.map((s) => {
            const r = rows.find((x) => x.host === h && x.service === s);
            return r?.active ? `v${r.active} ${r.state}` : '-';
          }),
          ['origin', 'relay', 'peer']
            .map((k) => formatBytes(received.get(h)?.[k] ?? 0))
            .join(' / '),
        ]),
      )
        .split('\n')
        .map((l) => '   ' + l)
        .join('\n'),
    );
    for (const r of rows) {
      const want = 2;
      expect(
        r.active === want && r.state === 'healthy',
        `${r.host} should run ${r.service} v${want}, healthy`,
      );
    }
    say('\n8. a job on every host: a Python script and its vendored dependency, sandboxed');
    const job = await runJobStep(c, fleet.url, fleet.adminToken, EXAMPLES, say);
    if (job.unsupported !== null)
      say(`   (not run here: ${job.unsupported}; nothing else in the demo needs it)`);
    else expect(job.ok, 'the job should succeed on every host');
    say(`\ndemo ${ok ? 'finished' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    if (opts.keep) {
      say(
        `\nstaying up (Ctrl-C to stop):\n  server     ${fleet.url}\n  token      ${join(dir, 'server', 'admin.token')}`,
      );
      say(
        `  try        SLIPWAY_SERVER=${fleet.url} SLIPWAY_TOKEN=$(cat ${join(dir, 'server', 'admin.token')}) npx slipway status`,
      );
      for (const r of rows)
        if (r.port)
          say(`  ${r.host.padEnd(6)} ${r.service.padEnd(15)} http://127.0.0.1:${r.port}/`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
  } catch (e) {
    ok = false;
    say(`\ndemo failed: ${(e as Error).message}\n(logs are in ${join(dir, 'logs')})`);
    await fleet.stop();
    return false;
  }
  await stop();
  return ok;
}

/** Builds an image of an example service, with `release` written over its release.json. */
async function build(
  c: SlipwayClient,
  dir: string,
  service: string,
  release: Record<string, string>,
  tag: string,
): Promise<string> {
  const src = join(dir, 'src', `${service}-${tag}`);
  await cp(join(EXAMPLES, service), src, { recursive: true });
  if (Object.keys(release).length > 0)
    await writeFile(join(src, 'release.json'), JSON.stringify(release) + '\n');
  const res = await buildImage(c, src, service, [tag], () => {});
  detail(
    `built ${service} ${tag}: image ${res.imageId.slice(0, 12)}, ${res.files} files, uploaded ${res.uploadedChunks}/${res.chunks} chunks`,
  );
  return res.imageId;
}

async function deploy(c: SlipwayClient, service: string, imageId: string): Promise<DeploymentView> {
  const d = await c.createDeployment({ service, image: imageId });
  detail(
    `deploy ${service} v${d.release} to ${d.hosts.length} hosts in batches of ${d.hosts.filter((h) => h.batch === 0).length}`,
  );
  return watchDeployment(c, d, detail);
}

/** Asks one host's securities-api what it serves, as a user would. */
async function showSample(c: SlipwayClient): Promise<void> {
  const rows = await c.status();
  const sec = rows.find((r) => r.service === 'securities-api' && r.port);
  if (!sec?.port) return;
  try {
    const res = await fetch(`http://127.0.0.1:${sec.port}/securities`);
    detail(`GET ${sec.host}/securities → ${(await res.text()).slice(0, 160)}`);
  } catch (e) {
    detail(`GET ${sec.host}/securities failed: ${(e as Error).message}`);
  }
}
