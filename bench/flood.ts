/**
 * How an authenticated caller is answered while unauthenticated clients flood the server.
 *
 *   npm run bench:flood [-- --slow 3000 --posters 8 --requests 200 --addresses 16]
 *
 * A real `slipway server` (embedded store) on loopback. The caller sends `GET /v1/hosts` one
 * after another (keep-alive) and we take p50/p99: first with no flood, then while a flood runs
 * in another process: `--slow` connections that send part of their headers and then a header
 * line now and then (reopened when the server closes them), and `--posters` loops of
 * unauthenticated `POST /v1/images` declaring 60 MiB and sending as fast as the server takes
 * it. The flood comes once from `--addresses` source addresses (127.0.0.2…, so the
 * per-address cap does not simply refuse it), once from one address.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    slow: { type: 'string', default: '3000' },
    posters: { type: 'string', default: '8' },
    requests: { type: 'string', default: '200' },
    addresses: { type: 'string', default: '16' },
    flood: { type: 'string' },
  },
});

const BIN = fileURLToPath(new URL('../bin/slipway.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface FloodPlan {
  url: string;
  addresses: string[];
  slow: number;
  posters: number;
}

interface FloodCounts {
  slowOpen: number;
  slowClosedByServer: number;
  postsRefused: number;
  postBytesSent: number;
}

/** The flood, in its own process so it does not slow the measuring caller's event loop. */
function flood(plan: FloodPlan): void {
  const { hostname, port } = new URL(plan.url);
  const counts: FloodCounts = {
    slowOpen: 0,
    slowClosedByServer: 0,
    postsRefused: 0,
    postBytesSent: 0,
  };
  let stopping = false;
  const open = (i: number, onConnect: (s: Socket) => void, onClosed: () => void) => {
    const s = connect(
      {
        host: hostname,
        port: Number(port),
        localAddress: plan.addresses[i % plan.addresses.length],
      },
      () => onConnect(s),
    );
    s.on('error', () => {});
    s.on('close', () => {
      if (!stopping) onClosed();
    });
    return s;
  };
  const slowOne = (i: number) => {
    let timer: NodeJS.Timeout | undefined;
    open(
      i,
      (s) => {
        counts.slowOpen++;
        s.write('GET /v1/hosts HTTP/1.1\r\nhost: x\r\n');
        timer = setInterval(() => s.write('x-slow: 1\r\n'), 2_000);
      },
      () => {
        clearInterval(timer);
        counts.slowOpen = Math.max(0, counts.slowOpen - 1);
        counts.slowClosedByServer++;
        // Bounded: a closed connection is reopened after a pause, not in a tight loop.
        setTimeout(() => slowOne(i), 200);
      },
    );
  };
  const body = Buffer.alloc(1024 * 1024, 0x20);
  const poster = (i: number) => {
    open(
      i,
      (s) => {
        s.write(
          'POST /v1/images HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
            `content-length: ${60 * 1024 * 1024}\r\n\r\n`,
        );
        const pump = () => {
          while (!s.destroyed && s.write(body)) counts.postBytesSent += body.length;
        };
        s.on('drain', pump);
        s.once('data', (d: Buffer) => {
          if (d.toString('latin1').startsWith('HTTP/1.1 401')) counts.postsRefused++;
          s.destroy();
        });
        pump();
      },
      () => setImmediate(() => poster(i)),
    );
  };
  void (async () => {
    for (let i = 0; i < plan.slow; i++) {
      slowOne(i);
      if (i % 200 === 199) await sleep(20);
    }
    for (let i = 0; i < plan.posters; i++) poster(i);
    process.send?.({ ready: true });
  })();
  process.on('message', (m: { stop?: boolean }) => {
    if (!m.stop) return;
    stopping = true;
    process.send?.({ counts }, () => process.exit(0));
  });
}

/** p50 and p99 of `n` authenticated `GET /v1/hosts`, one after another, from 127.0.0.1. */
async function measure(
  url: string,
  token: string,
  n: number,
): Promise<{ p50: number; p99: number; failed: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const status = await new Promise<number>((resolve) => {
      const req = request(
        `${url}/v1/hosts`,
        {
          agent,
          localAddress: '127.0.0.1',
          headers: { authorization: `Bearer ${token}` },
          timeout: 30_000,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.on('timeout', () => req.destroy());
      req.end();
    });
    if (status !== 200) failed++;
    times.push(performance.now() - t0);
  }
  agent.destroy();
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { p50: at(0.5), p99: at(0.99), failed };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

async function startServer(
  dir: string,
): Promise<{ child: ChildProcess; url: string; token: string }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, 'server', '--data-dir', dir, '--listen', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  const token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
  return { child, url: `http://127.0.0.1:${port}`, token };
}

async function underFlood(plan: FloodPlan, token: string, n: number) {
  const child = fork(fileURLToPath(import.meta.url), ['--flood', JSON.stringify(plan)], {
    stdio: 'inherit',
  });
  await new Promise<void>((r) => child.on('message', (m: { ready?: boolean }) => m.ready && r()));
  await sleep(1_000); // let the slow connections land
  const m = await measure(plan.url, token, n);
  const counts = await new Promise<FloodCounts>((r) => {
    child.on('message', (msg: { counts?: FloodCounts }) => msg.counts && r(msg.counts));
    child.send({ stop: true });
  });
  await new Promise((r) => child.once('exit', r));
  return { ...m, counts };
}

async function main(): Promise<void> {
  const n = Number(values.requests);
  const dir = await mkdtemp(join(tmpdir(), 'slipway-flood-'));
  const server = await startServer(dir);
  try {
    const many = Array.from({ length: Number(values.addresses) }, (_, i) => `127.0.0.${i + 2}`);
    const plan = { url: server.url, slow: Number(values.slow), posters: Number(values.posters) };
    await measure(server.url, server.token, 20); // warm up
    const none = await measure(server.url, server.token, n);
    const spread = await underFlood({ ...plan, addresses: many }, server.token, n);
    const one = await underFlood({ ...plan, addresses: ['127.0.0.2'] }, server.token, n);
    const ms = (x: number) => `${x.toFixed(2)} ms`;
    const row = (name: string, r: { p50: number; p99: number; failed: number }) =>
      `${name.padEnd(34)} p50 ${ms(r.p50).padStart(10)}  p99 ${ms(r.p99).padStart(10)}  ratio p50 ${(r.p50 / none.p50).toFixed(1)}x, p99 ${(r.p99 / none.p99).toFixed(1)}x  failed ${r.failed}/${n}`;
    console.log(
      `GET /v1/hosts, ${n} sequential authenticated requests; flood: ${plan.slow} slow connections + ${plan.posters} unauthenticated 60 MiB POST loops`,
    );
    console.log(row('no flood', none));
    console.log(row(`flood from ${many.length} addresses`, spread));
    console.log(
      `  flood: ${spread.counts.slowOpen} slow connections held at the end, ${spread.counts.slowClosedByServer} closed by the server, ${spread.counts.postsRefused} large POSTs refused (401), ${(spread.counts.postBytesSent / 2 ** 20).toFixed(0)} MiB of their bodies handed to the socket before the server closed it`,
    );
    console.log(row('flood from one address', one));
    console.log(
      `  flood: ${one.counts.slowOpen} slow connections held at the end, ${one.counts.slowClosedByServer} closed by the server, ${one.counts.postsRefused} large POSTs refused (401), ${(one.counts.postBytesSent / 2 ** 20).toFixed(0)} MiB of their bodies handed to the socket before the server closed it`,
    );
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}

if (values.flood) flood(JSON.parse(values.flood) as FloodPlan);
else await main();
