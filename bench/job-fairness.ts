/**
 * Whether jobs starve a host's services: a service's request latency while sandboxed jobs keep
 * every core busy, against the same service on the idle host, and against the same CPU burners
 * run the plain way (no sandbox, normal priority), side by side in interleaved rounds.
 *
 *   npm run bench:jobs [-- --requests 3000 --rounds 3]
 *
 * The service is a separate Node process answering HTTP on loopback, as a service on the host
 * would be; each burner is `sh -c 'while :; do :; done'`, one per core. Needs root and
 * bubblewrap (the job sandbox does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile, timedGet } from './latency.js';
import { JOB_UID_BASE } from '../src/agent/jobs/job-runner.js';
import { probeSandbox, startSandbox, type SandboxRun } from '../src/executor/index.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '3' },
  },
});
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
const BURNERS = availableParallelism();
const BURN = ['sh', '-c', 'while :; do :; done'];

const SERVICE = `
const http = require('node:http');
const s = http.createServer((req, res) => {
  // A little work per request, as a pricing service would do.
  let x = 0;
  for (let i = 0; i < 20000; i++) x += Math.sqrt(i);
  res.end(String(x));
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
`;

type Load = 'idle' | 'sandboxed jobs' | 'plain processes';

async function withLoad<T>(load: Load, dir: string, fn: () => Promise<T>): Promise<T> {
  const jobs: SandboxRun[] = [];
  const plain: ChildProcess[] = [];
  for (let i = 0; i < (load === 'idle' ? 0 : BURNERS); i++) {
    if (load === 'plain processes') plain.push(spawn(BURN[0]!, BURN.slice(1), { stdio: 'ignore' }));
    else {
      jobs.push(
        startSandbox(
          {
            tree: dir,
            scratch: join(dir, `scratch-${i}`),
            argv: BURN,
            env: {},
            network: false,
            uid: JOB_UID_BASE + i,
            gid: JOB_UID_BASE + i,
            limits: { timeoutMs: 600_000 },
          },
          () => {},
        ),
      );
    }
  }
  // Let the burners get going before the service is measured.
  await new Promise((r) => setTimeout(r, 500));
  try {
    return await fn();
  } finally {
    for (const j of jobs) j.cancel();
    for (const p of plain) p.kill('SIGKILL');
    await Promise.all(jobs.map((j) => j.done));
    for (let i = 0; i < jobs.length; i++)
      await rm(join(dir, `scratch-${i}`), { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const probe = await probeSandbox();
  if (!probe.ok) throw new Error(`cannot run sandboxed jobs here: ${probe.reason}`);
  const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-jobs-'));
  const service = spawn(process.execPath, ['-e', SERVICE], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) =>
    service.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
  );
  const loads: Load[] = ['idle', 'sandboxed jobs', 'plain processes'];
  const samples = new Map<Load, number[]>(loads.map((l) => [l, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const load of loads) {
        await withLoad(load, dir, async () => {
          const agent = new Agent({ keepAlive: true, maxSockets: 1 });
          for (let i = 0; i < REQUESTS / ROUNDS; i++)
            samples.get(load)!.push(await timedGet(port, agent));
          agent.destroy();
        });
      }
    }
  } finally {
    service.kill();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(
    `${REQUESTS} requests per load, sequential, kept-alive, in ${ROUNDS} interleaved rounds; ${BURNERS} CPU burner(s) (one per core) under load; limits by ${probe.limitsBy}`,
  );
  console.log('load              p50 ms   p99 ms   p50 ×idle  p99 ×idle');
  const idle = samples.get('idle')!;
  const [i50, i99] = [percentile(idle, 0.5), percentile(idle, 0.99)];
  const json: Record<string, unknown> = {};
  for (const load of loads) {
    const xs = samples.get(load)!;
    const [p50, p99] = [percentile(xs, 0.5), percentile(xs, 0.99)];
    console.log(
      `${load.padEnd(16)} ${p50.toFixed(3).padStart(7)}  ${p99.toFixed(3).padStart(7)}  ${(p50 / i50).toFixed(2).padStart(9)}  ${(p99 / i99).toFixed(2).padStart(9)}`,
    );
    json[load] = { p50_ms: p50, p99_ms: p99, p50_ratio: p50 / i50, p99_ratio: p99 / i99 };
  }
  console.log(JSON.stringify(json));
}

await main();
