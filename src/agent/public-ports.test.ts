import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCommand } from '../executor/index.js';
import { PublicPorts, type PublishVia } from './public-ports.js';

/** A server answering its name, on a port of its own. */
async function named(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end(name));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

const get = async (port: number) =>
  (await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } })).text();

describe.each<PublishVia>(['nftables', 'proxy'])('a public port through %s', (via) => {
  let blue: Awaited<ReturnType<typeof named>>;
  let green: Awaited<ReturnType<typeof named>>;
  // A table of its own: other tests' agents use the default one.
  const ports = new PublicPorts(() => {}, 'slipway_unit_test');
  const service = `pp-test-${via}`;

  beforeAll(async () => {
    blue = await named('blue');
    green = await named('green');
  });
  afterAll(async () => {
    await ports.close(service).catch(() => {});
    await runCommand(['nft', 'delete', 'table', 'ip', 'slipway_unit_test']);
    blue.server.close();
    green.server.close();
  });

  it('points the public port at a release, then at the next, then nowhere', async () => {
    const pub = await freePort();
    expect(await ports.point(service, pub, blue.port, via)).toBe(via);
    expect(await get(pub)).toBe('blue');
    await ports.point(service, pub, green.port, via);
    expect(await get(pub)).toBe('green');
    await ports.close(service);
    await expect(get(pub)).rejects.toThrow();
  });
});
