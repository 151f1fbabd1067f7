// A process that exits during activation: the real supervisor and health hooks over `sh -c`.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GoalRelease } from '../../api/index.js';
import type { HealthSpec } from '../../core/index.js';
import { until } from '../../../test/helpers/until.js';
import { HostLayout } from '../host-layout.js';
import { PublicPorts } from '../public-ports.js';
import { healthHook } from './health.js';
import type { ActivationHook, ActiveStatus } from './hook.js';
import { Activation } from './pipeline.js';
import { supervisorHook } from './supervisor.js';

/**
 * A TCP check on a port nothing listens on, with a deadline long enough that a test waiting for
 * it would see `not healthy after 20.0s`, not the exit.
 */
const NEVER_HEALTHY: HealthSpec = {
  probe: { kind: 'tcp' },
  timeoutMs: 1000,
  intervalMs: 100,
  healthyAfter: 1,
  deadlineMs: 20_000,
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-activation-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Activates `shell` as release v2 of `api` with the supervisor and health hooks. */
async function activate(shell: string, health: HealthSpec | null) {
  const layout = new HostLayout(dir);
  await mkdir(layout.release('api', 2), { recursive: true });
  let reported: ActiveStatus | null = null;
  const announce: ActivationHook = {
    name: 'announce',
    prepare: (ctx) => {
      ctx.port = 1; // nothing listens there
      ctx.env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
      ctx.publish();
    },
  };
  const a = new Activation([announce, supervisorHook(), healthHook()], {
    service: 'api',
    hostName: 'h1',
    release: { version: 2, config: { run: { shell }, health } } as GoalRelease,
    layout,
    previous: null,
    publish: (status) => (reported = status),
    isCurrent: (status) => reported === status,
    changed: () => {},
    portOf: () => null,
    publicPorts: new PublicPorts(),
    log: () => {},
  });
  await a.run();
  return { a, status: reported as ActiveStatus | null };
}

describe('a process that exits during activation', () => {
  it('fails the activation at once with its exit code and last output', async () => {
    const { a, status } = await activate('echo starting; exit 3', NEVER_HEALTHY);
    await a.stop();
    expect(status).toMatchObject({
      state: 'unhealthy',
      detail: 'exited with code 3 during activation (last output: "starting")',
    });
  });

  it('says which signal killed it', async () => {
    const { a, status } = await activate('echo bye >&2; kill -9 $$', NEVER_HEALTHY);
    await a.stop();
    expect(status?.detail).toBe('was killed by SIGKILL during activation (last output: "bye")');
  });

  it('fails a service without a health check within its grace, with the reason', async () => {
    const { a, status } = await activate('exit 0', null);
    await a.stop();
    expect(status).toMatchObject({
      state: 'unhealthy',
      detail: 'exited with code 0 during activation (no output)',
    });
  });

  it('reports only the last lines, stdout then stderr, without control characters', async () => {
    const script = [
      'for i in 1 2 3 4 5 6 7; do echo "line $i"; done',
      `printf 'red \\033[31mALERT\\033[0m\\000 \\342\\200\\256gnp.exe\\r\\n' >&2`,
      'exit 1',
    ].join('; ');
    const { a, status } = await activate(script, NEVER_HEALTHY);
    await a.stop();
    expect(status?.detail).toBe(
      'exited with code 1 during activation (last output: "line 4\\nline 5\\nline 6\\nline 7\\nred [31mALERT[0m gnp.exe")',
    );
  });

  it('still counts a process that stays up as healthy without a health check', async () => {
    const { a, status } = await activate('exec sleep 30', null);
    expect(status).toMatchObject({ state: 'healthy', detail: null });
    await a.stop();
  });
});

describe('a process without a health check that exits after activation', () => {
  it('is reported unhealthy with how it ended, then healthy once its restart stays up', async () => {
    // The first run waits for `stop`, then crashes; the restart stays up.
    const script =
      'if [ -e ran ]; then exec sleep 30; fi; touch ran; ' +
      'while [ ! -e stop ]; do sleep 0.05; done; echo bye; exit 7';
    const { a, status } = await activate(script, null);
    expect(status).toMatchObject({ state: 'healthy', detail: null });
    await writeFile(join(new HostLayout(dir).release('api', 2), 'stop'), '');
    await until('unhealthy', () => status?.state === 'unhealthy');
    expect(status?.detail).toBe(
      'exited with code 7 after activation (last output: "bye"); restarting it',
    );
    await until('healthy again', () => status?.state === 'healthy');
    expect(status?.detail).toBeNull();
    await a.stop();
  });
});

describe('a process with a health check that exits after activation', () => {
  it('is reported unhealthy at once, though its restart comes up between two probes', async () => {
    // Probes every 500 ms, unhealthy only after three failures in a row: a restart that is up
    // within a second would never be seen failing one.
    const check: HealthSpec = {
      probe: { kind: 'command', run: { shell: 'test -e ready' } },
      timeoutMs: 1000,
      intervalMs: 500,
      healthyAfter: 1,
      deadlineMs: 10_000,
    };
    const script =
      'if [ -e ran ]; then sleep 0.3; touch ready; exec sleep 30; fi; touch ran ready; ' +
      'while [ ! -e stop ]; do sleep 0.05; done; rm ready; echo bye; exit 7';
    const { a, status } = await activate(script, check);
    expect(status).toMatchObject({ state: 'healthy', detail: null });
    await writeFile(join(new HostLayout(dir).release('api', 2), 'stop'), '');
    await until('unhealthy', () => status?.state === 'unhealthy', { timeoutMs: 5_000 });
    expect(status?.detail).toBe(
      'exited with code 7 after activation (last output: "bye"); restarting it',
    );
    await until('healthy again', () => status?.state === 'healthy');
    expect(status?.detail).toBeNull();
    await a.stop();
  });
});
