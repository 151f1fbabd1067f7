/**
 * A real Prometheus (Debian's `prometheus`) on loopback for tests, with its own config and data
 * directory, scraping the targets given every second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from './until.js';

export interface TestPrometheus {
  url: string;
  /** Stops it (it can be stopped before the test ends, to see a gate that cannot be read). */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function startPrometheus(targets: string[]): Promise<TestPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-prom-'));
  const port = await freePort();
  await writeFile(
    join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: test',
      `    static_configs: [{ targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}] }]`,
    ].join('\n'),
  );
  const p: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  p.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await until(
      'prometheus to be ready',
      async () => {
        if (p.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
        return (await fetch(`${url}/-/ready`)).ok;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  } catch (e) {
    p.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  let stopped = false;
  return {
    url,
    async stop() {
      if (!stopped) {
        stopped = true;
        p.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
