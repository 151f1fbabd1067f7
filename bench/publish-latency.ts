/**
 * What a published port's switch costs on the data path: request latency through the kernel's
 * redirect (nftables) and through the agent's proxy, against a direct connection to the
 * release's own port, side by side in one run (rounds interleaved, so the machine's noise falls
 * on all three alike).
 *
 *   npm run bench:publish [-- --requests 2000 --rounds 5]
 *
 * Two patterns: requests on one kept-alive connection (the data path alone), and a new
 * connection per request (connection set-up through the path too). nftables needs root (or
 * CAP_NET_ADMIN) and `nft`; without them its rows say so.
 */
import { createServer } from 'node:http';
import { Agent } from 'node:http';
import { parseArgs } from 'node:util';
import { percentile, timedGet } from './latency.js';
import { PublicPorts } from '../src/agent/public-ports.js';
import { freePort, runCommand } from '../src/executor/index.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
  },
});
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);

async function main(): Promise<void> {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const direct = (server.address() as { port: number }).port;
  const ports = new PublicPorts();
  const paths: { name: string; port: number | null; why?: string }[] = [
    { name: 'direct', port: direct },
  ];
  for (const via of ['nftables', 'proxy'] as const) {
    const port = await freePort();
    try {
      await ports.point(`bench-${via}`, port, direct, via);
      paths.push({ name: via, port });
    } catch (e) {
      paths.push({ name: via, port: null, why: (e as Error).message });
    }
  }
  const samples = new Map<string, number[]>();
  for (const pattern of ['kept-alive', 'new connection'] as const) {
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of paths) {
        if (p.port === null) continue;
        const agent =
          pattern === 'kept-alive' ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;
        const key = `${pattern}/${p.name}`;
        const xs = samples.get(key) ?? [];
        for (let i = 0; i < REQUESTS / ROUNDS; i++) xs.push(await timedGet(p.port, agent));
        samples.set(key, xs);
        if (agent) agent.destroy();
      }
    }
  }
  console.log(
    `${REQUESTS} requests per path and pattern, sequential, in ${ROUNDS} interleaved rounds`,
  );
  console.log('pattern          path       p50 ms   p99 ms   p50 ×direct  p99 ×direct');
  const json: Record<string, unknown> = {};
  for (const pattern of ['kept-alive', 'new connection']) {
    const base = samples.get(`${pattern}/direct`)!;
    const [b50, b99] = [percentile(base, 0.5), percentile(base, 0.99)];
    for (const p of paths) {
      const xs = samples.get(`${pattern}/${p.name}`);
      if (!xs) {
        console.log(`${pattern.padEnd(16)} ${p.name.padEnd(10)} not measured: ${p.why ?? ''}`);
        continue;
      }
      const [p50, p99] = [percentile(xs, 0.5), percentile(xs, 0.99)];
      console.log(
        `${pattern.padEnd(16)} ${p.name.padEnd(10)} ${p50.toFixed(3).padStart(7)}  ${p99.toFixed(3).padStart(7)}  ${(p50 / b50).toFixed(2).padStart(11)}  ${(p99 / b99).toFixed(2).padStart(11)}`,
      );
      json[`${pattern}/${p.name}`] = {
        p50_ms: p50,
        p99_ms: p99,
        p50_ratio: p50 / b50,
        p99_ratio: p99 / b99,
      };
    }
  }
  console.log(JSON.stringify(json));
  for (const via of ['nftables', 'proxy']) await ports.close(`bench-${via}`).catch(() => {});
  await runCommand(['nft', 'delete', 'table', 'ip', 'slipway']).catch(() => {});
  server.close();
}

await main();
