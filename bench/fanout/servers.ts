/** The control plane under test: R `slipway server` processes, sharing a data dir and a database. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  startSlipway,
  stopProcess,
  waitForOutput,
  type FleetProcess,
} from '../../test/harness/local-fleet.js';

/** Every server started and not yet seen to exit: killed at once if this process must exit. */
const running = new Set<FleetProcess>();

/** Flags for the servers' node: `--cpu-prof --cpu-prof-dir=DIR` shows where their CPU goes. */
const nodeFlags = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];

/** A server may take this long to start (the embedded store's first start is slow). */
const START_MS = 120_000;

export interface Servers {
  urls: string[];
  pids: number[];
  adminToken: string;
  joinToken: string;
  logFiles: string[];
  /** Processes that exited on their own, with their codes (a server that fell over). */
  exited(): string[];
  stop(): Promise<void>;
}

/**
 * Starts `replicas` servers on free ports of 127.0.0.1. The first creates the data dir (server
 * key, tokens) and the schema; the rest start after it on the same data dir and database. All
 * agents come from 127.0.0.1, so the per-address connection cap is off.
 */
export async function startServers(
  workDir: string,
  replicas: number,
  databaseUrl: string | null,
): Promise<Servers> {
  const dataDir = join(workDir, 'server');
  const procs: FleetProcess[] = [];
  const stop = async () => {
    // A profiling server writes its profile as it exits: give it time.
    await Promise.all(procs.map((p) => stopProcess(p, nodeFlags.length > 0 ? 60_000 : 5_000)));
  };
  const start = async (i: number) => {
    const args = ['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0'];
    args.push('--max-connections-per-address', '0');
    if (databaseUrl) args.push('--database-url', databaseUrl);
    const p = startSlipway(args, join(workDir, 'logs', `server-${i}.log`), process.env, nodeFlags);
    procs.push(p);
    running.add(p);
    p.child.once('exit', () => running.delete(p));
    return (await waitForOutput(p, /listening on (http:\/\/\S+)/, START_MS))[1]!;
  };
  try {
    const urls = [await start(0)];
    const rest = await Promise.all(Array.from({ length: replicas - 1 }, (_, i) => start(i + 1)));
    urls.push(...rest);
    const token = async (kind: string) =>
      (await readFile(join(dataDir, `${kind}.token`), 'utf8')).trim();
    return {
      urls,
      pids: procs.map((p) => p.child.pid!),
      adminToken: await token('admin'),
      joinToken: await token('join'),
      logFiles: procs.map((p) => p.logFile),
      exited: () =>
        procs
          .filter((p) => p.child.exitCode !== null || p.child.signalCode !== null)
          .map((p) => `${p.logFile}: ${p.child.exitCode ?? p.child.signalCode}`),
      stop,
    };
  } catch (e) {
    await stop();
    // The work directory goes after the run: the server's last words go into the error.
    const tails = await Promise.all(procs.map((p) => logTail(p.logFile)));
    throw new Error(`${(e as Error).message}\n${tails.join('\n')}`, { cause: e });
  }
}

/** The last lines of a log, for an error message. */
async function logTail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-5).join('\n');
}

/** Kills every server at once (SIGKILL): for an exit that cannot wait. */
export function killServersNow(): void {
  for (const p of running) p.child.kill('SIGKILL');
}
