/**
 * A control-plane restart in the middle of a stage: the region's relay cannot reach the origin
 * for a while, and its hosts must wait for it rather than take the image from the origin.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalFleet, stopProcess } from './harness/local-fleet.js';
import { buildExample, TEST_MAP, waitForEnd } from './helpers/cluster.js';
import { until } from './helpers/until.js';
import type { Host } from '../src/api/index.js';

/** How long the control plane stays down: the length of a restart, not a wait for anything. */
const OUTAGE_MS = 3_000;
const IMAGE_BYTES = 8 << 20;
/**
 * Every agent's cap: the relay takes about 8 s to bring the image in, so the restart lands in
 * the middle of the stage even on a slow machine.
 */
const BANDWIDTH = '8mbit';

describe('a server restarted mid-stage', () => {
  let fleet: LocalFleet | undefined;
  let dir = '';
  afterEach(async () => {
    await fleet?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("leaves a region's hosts with their relay: the origin still sends it about one copy", async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-relay-restart-'));
    const f = (fleet = new LocalFleet(dir));
    await f.startServer();
    const hosts = ['h1', 'h2', 'h3'];
    f.startAgent({ name: 'relay', region: 'r1', relay: true, maxBandwidth: BANDWIDTH });
    for (const name of hosts) f.startAgent({ name, region: 'r1', maxBandwidth: BANDWIDTH });
    await f.waitForHosts(['relay', ...hosts]);
    await f.client.applyServiceMap(parseYaml(TEST_MAP));

    const imageId = await buildExample(
      f.client,
      join(dir, 'src'),
      'scores-api',
      { version: '1', model: 'm' },
      { 'model.bin': randomBytes(IMAGE_BYTES) },
    );
    const d = await f.client.createDeployment({
      service: 'scores-api',
      image: imageId,
      kind: 'stage',
    });

    const received = async () =>
      new Map((await f.client.listHosts()).map((h) => [h.name, h] as [string, Host]));
    const fromOrigin = (all: Map<string, Host>, name: string) =>
      all.get(name)?.bytesReceived.origin ?? 0;
    // Mid-stage: the relay has a part of the image, far from all of it.
    await until(
      'the relay to have a part of the image',
      async () => fromOrigin(await received(), 'relay') >= IMAGE_BYTES / 8,
      { timeoutMs: 60_000 },
    );
    await stopProcess(f.server!);
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await f.restartServer();

    const final = await waitForEnd(f.client, d.id, 120_000);
    expect(final.state, final.reason ?? undefined).toBe('succeeded');
    // The latest counts reach the new server within a report or two.
    const counts = await until(
      'every host to report what it received',
      async () => {
        const all = await received();
        const total = (n: string) =>
          Object.values(all.get(n)?.bytesReceived ?? {}).reduce((a, b) => a + b, 0);
        return ['relay', ...hosts].every((n) => total(n) >= IMAGE_BYTES) ? all : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const hostsFromOrigin = hosts.map((n) => fromOrigin(counts, n));
    const why = `origin bytes per host ${JSON.stringify(hostsFromOrigin)}; ${await fetchProblems(f, hosts)}`;
    // The hosts took (nearly) nothing from the origin: about one copy came into the region.
    expect(
      hostsFromOrigin.reduce((a, b) => a + b, 0),
      why,
    ).toBeLessThanOrEqual(IMAGE_BYTES / 10);
    expect(fromOrigin(counts, 'relay')).toBeLessThan(IMAGE_BYTES * 1.2);
    expect(final.hosts.map((h) => h.hostName).sort()).toEqual(['h1', 'h2', 'h3', 'relay']);
  }, 180_000);
});

/** What the hosts' fetches ran into, to read when they did go to the origin. */
async function fetchProblems(f: LocalFleet, hosts: string[]): Promise<string> {
  const lines: string[] = [];
  for (const name of hosts) {
    const log = await readFile(join(f.dir, 'logs', `agent-${name}.log`), 'utf8');
    lines.push(
      ...log
        .split('\n')
        .filter((l) => l.includes('fetch:'))
        .slice(0, 5),
    );
  }
  return lines.join('\n');
}
