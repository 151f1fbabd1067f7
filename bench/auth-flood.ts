/**
 * Does a flood of wrong API tokens slow the callers with right ones? Measured side by side in
 * one run: a server whose failed-authentication limit is on (the default) and one with it off.
 *
 *   npm run bench:auth-flood [-- --requests 2000 --flood 1000 --concurrency 32]
 *
 * Each server runs in this process over an in-memory embedded store. A caller with a valid
 * token sends `GET /v1/deployments` (a database read) one after another and we take p50/p99:
 * first quiet, then while another process sends bursts of `--flood` requests with wrong tokens
 * from 127.0.0.2 (`--concurrency` at a time) for as long as the caller runs.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { request, Agent } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ObjectStore } from '../src/image/index.js';
import { bootstrapTokens, buildServer, type SlipwayServer } from '../src/server/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { TEST_SERVER_KEY } from '../test/helpers/server-key.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    flood: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '32' },
    'flood-at': { type: 'string' },
  },
});

/** The flooding process: bursts of wrong tokens until killed; reports answered counts. */
async function flood(url: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: Number(values.concurrency) });
  const counts: Record<string, number> = {};
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const req = request(
        `${url}/v1/deployments`,
        {
          agent,
          localAddress: '127.0.0.2',
          headers: { authorization: `Bearer slw_user_wrong-${i}` },
        },
        (res) => {
          counts[res.statusCode ?? 0] = (counts[res.statusCode ?? 0] ?? 0) + 1;
          // The parent measures once the flood is under way.
          if (++answered === 100) process.send!('flooding');
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', () => resolve());
      req.end();
    });
  process.on('message', () => process.send!(counts));
  let answered = 0;
  for (let n = 0; ; n += Number(values.flood)) {
    const burst = Array.from({ length: Number(values.flood) }, (_, i) => n + i);
    const inFlight = new Set<Promise<void>>();
    for (const i of burst) {
      const p: Promise<void> = one(i).then(() => void inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= Number(values.concurrency)) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  }
}

async function caller(url: string, token: string, n: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const req = request(
        `${url}/v1/deployments`,
        { agent, headers: { authorization: `Bearer ${token}` } },
        (res) => {
          if (res.statusCode !== 200) reject(new Error(`caller got ${res.statusCode}`));
          res.resume();
          res.on('end', resolve);
        },
      );
      req.on('error', reject);
      req.end();
    });
    times.push(performance.now() - t0);
  }
  agent.destroy();
  return times;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

async function measure(name: string, failedLogins?: { burst: number; perSecond: number }) {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-auth-flood-'));
  const store: Store = await openStore({ engine: 'pglite', dataDir: null });
  const { written } = await bootstrapTokens(store, dir);
  const server: SlipwayServer = buildServer({
    serverKey: TEST_SERVER_KEY,
    store,
    objects: new ObjectStore(join(dir, 'origin')),
    failedLogins,
  });
  const url = await server.listen('127.0.0.1', 0);
  const token = written.find((w) => w.kind === 'admin')!.token;
  try {
    const n = Number(values.requests);
    await caller(url, token, 20); // warm up
    const quiet = await caller(url, token, n);
    const child: ChildProcess = fork(
      fileURLToPath(import.meta.url),
      ['--flood-at', url, '--flood', values.flood, '--concurrency', values.concurrency],
      {
        execArgv: ['--import', 'tsx'],
      },
    );
    await new Promise((r) => child.once('message', r));
    const flooded = await caller(url, token, n);
    const counts = await new Promise<Record<string, number>>((resolve) => {
      child.once('message', (m) => resolve(m as Record<string, number>));
      child.send('counts');
    });
    child.kill();
    return { name, quiet, flooded, counts };
  } finally {
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (values['flood-at']) {
  await flood(values['flood-at']);
} else {
  const on = await measure('limit on (default)');
  const off = await measure('limit off', { burst: 1e9, perSecond: 1e9 });
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  console.log(
    `caller: ${values.requests} GET /v1/deployments one after another; flood: bursts of ${values.flood} wrong tokens, ${values.concurrency} at a time, from 127.0.0.2`,
  );
  console.log(
    'server              quiet p50  quiet p99  flood p50  flood p99  p99 ratio  flood answers by status',
  );
  for (const r of [on, off]) {
    const ratio = pct(r.flooded, 0.99) / pct(r.quiet, 0.99);
    console.log(
      [
        r.name.padEnd(18),
        ms(pct(r.quiet, 0.5)).padStart(9),
        ms(pct(r.quiet, 0.99)).padStart(9),
        ms(pct(r.flooded, 0.5)).padStart(9),
        ms(pct(r.flooded, 0.99)).padStart(9),
        ratio.toFixed(2).padStart(9),
        ' ' + JSON.stringify(r.counts),
      ].join('  '),
    );
  }
  const ratioOf = (r: typeof on) => pct(r.flooded, 0.99) / pct(r.quiet, 0.99);
  console.log(
    `flood p99 / quiet p99: ${ratioOf(on).toFixed(2)} with the limit, ${ratioOf(off).toFixed(2)} without`,
  );
}
