// The dynamic port a service keeps on a host.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HostLayout } from '../host-layout.js';
import type { ActivationContext, ReplacedActivation } from './hook.js';
import { portHook } from './port.js';

let dir: string;
let layout: HostLayout;
let holder: Server | null = null;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-port-'));
  layout = new HostLayout(dir);
  await mkdir(layout.shared('api'), { recursive: true });
});
afterEach(async () => {
  await new Promise((r) => (holder ? holder.close(r) : r(undefined)));
  holder = null;
  await rm(dir, { recursive: true, force: true });
});

/** The port `port` chooses for service `api`, with `previous` as the release it replaces. */
async function choose(
  port: number | 'dynamic' | null,
  previous: ReplacedActivation | null = null,
): Promise<number | null> {
  const ctx = {
    service: 'api',
    layout,
    previous,
    release: { version: 2, config: { port } },
    port: null,
  } as unknown as ActivationContext;
  await portHook().prepare?.(ctx);
  return ctx.port;
}

/** Listens on a port the way a running release would. */
async function hold(): Promise<number> {
  const server = createServer();
  holder = server;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

describe('the port hook', () => {
  it('takes a fixed port as is, and none when the service listens on none', async () => {
    expect(await choose(8080)).toBe(8080);
    expect(await choose(null)).toBeNull();
  });

  it('chooses a dynamic port once and keeps it', async () => {
    const first = await choose('dynamic');
    expect(first).toBeGreaterThan(0);
    expect(await readFile(layout.portFile('api'), 'utf8')).toBe(String(first));
    expect(await choose('dynamic')).toBe(first);
  });

  it('gives up a kept port something else took, but not to the release it replaces', async () => {
    const taken = await hold();
    await writeFile(layout.portFile('api'), String(taken));
    const replaced = { version: 1, port: taken, live: true, stop: () => Promise.resolve() };
    expect(await choose('dynamic', replaced)).toBe(taken);
    expect(await choose('dynamic', { ...replaced, live: false })).not.toBe(taken);
  });
});
