// Staging failures: which ones fail the deployment at once, which are tried again first. And
// what an activation sets up for the process, and takes down again.
import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/index.js';
import type { GoalRelease } from '../api/index.js';
import { isAlive } from '../executor/index.js';
import { ObjectStore, imageIdOf, readChunkAt, scanTree, type Manifest } from '../image/index.js';
import { until } from '../../test/helpers/until.js';
import { HostLayout } from './host-layout.js';
import { STAGING_TRIES, ServiceRunner } from './service-runner.js';

let dir: string;
let runner: ServiceRunner | null = null;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-runner-'));
});
afterEach(async () => {
  await runner?.close();
  runner = null;
  await rm(dir, { recursive: true, force: true });
});

/** An image whose chunks this host already holds: staging needs only its manifest. */
async function heldImage(layout: HostLayout): Promise<Manifest> {
  const src = join(dir, 'src');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'app.txt'), 'release one\n');
  const { manifest, chunks } = await scanTree(src);
  const objects = new ObjectStore(layout.objects);
  for (const [digest, loc] of chunks) await objects.put(digest, await readChunkAt(loc));
  return manifest;
}

/** A runner for service `api` whose manifest fetches answer with `answers`, one per call. */
async function runnerWith(
  answers: (() => Promise<unknown>)[],
  portOf: (service: string) => number | null = () => null,
) {
  const layout = new HostLayout(join(dir, 'agent'));
  const manifest = await heldImage(layout);
  const logs: string[] = [];
  let calls = 0;
  const r = new ServiceRunner('api', {
    layout,
    objects: new ObjectStore(layout.objects),
    hostName: 'h1',
    fetchManifest: () => (answers[calls++] ?? (() => Promise.resolve(manifest)))(),
    fetchOptions: () => ({}),
    portOf,
    onChange: () => {},
    onPruned: () => {},
    staging: (fn) => fn(),
    log: (m) => logs.push(m),
    // Real waits, shortened: the rule is the same, the suite need not sit through seconds.
    stagingBackoff: { firstMs: 200, maxMs: 1_000 },
  });
  await r.init();
  // Staging reads only the version and the image; the config matters once it runs.
  const release = { version: 1, imageId: imageIdOf(manifest) } as GoalRelease;
  r.setGoal({ service: 'api', stage: [release], active: null });
  runner = r;
  return { runner: r, logs, calls: () => calls, layout, release };
}

const unreachable = () =>
  Promise.reject(new SlipwayError('UNAVAILABLE', 'cannot reach the Slipway server'));

describe('a staging that fails', () => {
  it('for a passing reason is tried again, and not reported, before it succeeds', async () => {
    const { runner: r, logs } = await runnerWith([unreachable]);
    const failures: unknown[] = [];
    await until(
      'the release to be staged',
      () => {
        failures.push(r.report().stagingFailed);
        return r.report().staged.includes(1);
      },
      { timeoutMs: 15_000 },
    );
    expect(failures.filter((f) => f !== null)).toEqual([]);
    expect(logs.join('\n')).toMatch(/failed \(try 1 of 3\), trying again in 0\.[12]\d* s/);
  });

  it('for a passing reason every time is reported after the last try', async () => {
    const { runner: r, calls } = await runnerWith(
      Array.from({ length: STAGING_TRIES }, () => unreachable),
    );
    await until('the failure to be reported', () => r.report().stagingFailed !== null, {
      timeoutMs: 15_000,
    });
    expect(r.report().stagingFailed).toEqual({
      version: 1,
      error: 'cannot reach the Slipway server',
    });
    expect(calls()).toBe(STAGING_TRIES);
  }, 20_000);

  it('for a lasting reason is reported at once', async () => {
    const bad = () => Promise.resolve({ not: 'a manifest' });
    const { runner: r, calls } = await runnerWith([bad]);
    await until('the failure to be reported', () => r.report().stagingFailed !== null, {
      timeoutMs: 2_000,
    });
    expect(r.report().stagingFailed?.version).toBe(1);
    expect(calls()).toBe(1);
  });
});

describe('an activation', () => {
  it('runs the release with its port and environment, and stops it when unwanted', async () => {
    const {
      runner: r,
      logs,
      layout,
      release,
    } = await runnerWith([], (s) => (s === 'scores-db' ? 5432 : null));
    await until('the release to be staged', () => r.report().staged.includes(1));
    const out = join(dir, 'env.json');
    const script = `require('fs').writeFileSync(process.env.OUT, JSON.stringify(process.env)); setInterval(() => {}, 1000)`;
    const running = {
      ...release,
      config: {
        run: { argv: [process.execPath, '-e', script] },
        port: 'dynamic',
        env: { OUT: out },
        health: null,
        after: ['scores-db'],
        keepReleases: 3,
      },
    } as unknown as GoalRelease;
    r.setGoal({ service: 'api', stage: [running], active: running });
    const active = await until('the release to be healthy', () => {
      const a = r.report().active;
      return a?.state === 'healthy' && a;
    });
    expect(await readlink(layout.current('api'))).toBe('releases/v1');
    expect(await readFile(layout.portFile('api'), 'utf8')).toBe(String(active.port));
    const env = JSON.parse(await readFile(out, 'utf8')) as Record<string, string>;
    expect(env).toMatchObject({
      PORT: String(active.port),
      SLIPWAY_SERVICE: 'api',
      SLIPWAY_RELEASE: 'v1',
      SLIPWAY_HOST: 'h1',
      SCORES_DB_PORT: '5432',
    });
    expect(logs).toContain(`api: activating v1 on port ${active.port}`);
    expect(logs).toContain('api: v1 healthy');

    r.setGoal({ service: 'api', stage: [running], active: null });
    await until('the release to be stopped', () => r.report().active === null);
    expect(logs).toContain('api: stopped v1');
    expect(isAlive(active.pid!)).toBe(false);
  });
});
