/**
 * A local fleet of real processes: one server (and, on PostgreSQL, replicas of it) and several
 * agents on loopback, each with its own data dir, each a `slipway` process as on a real host.
 * The demo, the integration tests and the benchmarks use it; the product does not.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SlipwayError } from '../../src/core/index.js';
import { SlipwayClient } from '../../src/api/index.js';
import { HostLayout, stopServicesLeft } from '../../src/agent/index.js';

/**
 * The repository's root. Found by looking upwards, because this file runs both from its source
 * (tests, benchmarks) and compiled into dist/ (the demo), at different depths.
 */
export const REPO_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** The slipway executable, run with the same node. */
export const SLIPWAY_BIN = join(REPO_ROOT, 'bin', 'slipway.js');

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** One agent of the fleet: its name, region, labels and role. */
export interface AgentSpec {
  name: string;
  region: string;
  labels?: Record<string, string>;
  relay?: boolean;
  /** e.g. `100mbit` */
  maxBandwidth?: string;
  /** The server the agent talks to (a replica's URL); the first server's by default. */
  server?: string;
  /** Jobs it runs at once (default: one per core). */
  jobSlots?: number;
}

/** A further server process on the first one's database (see `LocalFleet.startReplica`). */
export interface FleetReplica extends FleetProcess {
  url: string;
  dataDir: string;
}

/** A started `slipway` process and the file its output goes to. */
export interface FleetProcess {
  child: ChildProcess;
  logFile: string;
}

/**
 * Starts `slipway <args>` as a child process, its output appended to `logFile`; `nodeFlags` go to
 * node (a benchmark's `--cpu-prof --cpu-prof-dir=DIR`).
 */
export function startSlipway(
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
  nodeFlags: string[] = [],
): FleetProcess {
  mkdirSync(dirname(logFile), { recursive: true });
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, [...nodeFlags, SLIPWAY_BIN, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return { child, logFile };
}

/** How long a server may take to start (see startServer). */
const SERVER_START_MS = 90_000;

/** Resolves with the first match of `re` in the process's stderr, or rejects when it exits first. */
export function waitForOutput(
  p: FleetProcess,
  re: RegExp,
  timeoutMs = 30_000,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(
      () => done(new SlipwayError('UNAVAILABLE', `timed out waiting for ${re} (see ${p.logFile})`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) done(null, m);
    };
    const onExit = (code: number | null) =>
      done(
        new SlipwayError(
          'UNAVAILABLE',
          `process exited (code ${code}) before ${re} (see ${p.logFile})`,
        ),
      );
    const done = (err: Error | null, m?: RegExpMatchArray) => {
      clearTimeout(timer);
      p.child.stderr?.off('data', onData);
      p.child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    };
    p.child.stderr?.on('data', onData);
    p.child.once('exit', onExit);
  });
}

/** Sends SIGTERM and waits for the process to exit (SIGKILL after `graceMs`). */
export async function stopProcess(p: FleetProcess, graceMs = 10_000): Promise<void> {
  const child = p.child;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kills a process without warning (SIGKILL), as a crash would, and waits for its end. */
export async function killProcess(p: FleetProcess): Promise<void> {
  const child = p.child;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGKILL');
  await exited;
}

/** A server and agents started as processes, with the tokens and URL to reach them. */
export class LocalFleet {
  server: FleetProcess | null = null;
  /** Servers started after the first on its PostgreSQL database, in start order. */
  readonly replicas: FleetReplica[] = [];
  readonly agents = new Map<string, FleetProcess>();
  url = '';
  adminToken = '';
  joinToken = '';

  constructor(readonly dir: string) {}

  get client(): SlipwayClient {
    return new SlipwayClient({ server: this.url, token: this.adminToken });
  }

  /** Starts the server on a free port (embedded store unless `databaseUrl`). */
  async startServer(opts: { port?: number; databaseUrl?: string } = {}): Promise<void> {
    const args = [
      'server',
      '--data-dir',
      join(this.dir, 'server'),
      '--listen',
      `127.0.0.1:${opts.port ?? 0}`,
    ];
    if (opts.databaseUrl) args.push('--database-url', opts.databaseUrl);
    this.server = startSlipway(args, join(this.dir, 'logs', 'server.log'));
    // A deadline, not an expectation: the embedded database recovering after a SIGKILL took
    // over 20 s on a 2-core machine busy with the whole suite.
    const m = await waitForOutput(this.server, /listening on (http:\/\/\S+)/, SERVER_START_MS);
    this.url = m[1]!;
    this.adminToken = (await readFile(join(this.dir, 'server', 'admin.token'), 'utf8')).trim();
    this.joinToken = (await readFile(join(this.dir, 'server', 'join.token'), 'utf8')).trim();
  }

  /** Kills the server without warning (SIGKILL), as a crash would. */
  async killServer(): Promise<void> {
    if (!this.server) return;
    const exited = new Promise<void>((r) => this.server!.child.once('exit', () => r()));
    this.server.child.kill('SIGKILL');
    await exited;
  }

  /** Restarts the server on the same port and data dir. */
  async restartServer(databaseUrl?: string): Promise<void> {
    const port = Number(new URL(this.url).port);
    await this.startServer({ port, databaseUrl });
  }

  /**
   * Starts another server on the first one's PostgreSQL database (`databaseUrl`, as given to
   * `startServer`), with a data dir of its own holding a copy of the first one's server key:
   * every server on one database must have the same, or it refuses to start.
   */
  async startReplica(databaseUrl: string): Promise<FleetReplica> {
    const n = this.replicas.length + 2;
    const dataDir = join(this.dir, `server-${n}`);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const key = join(dataDir, 'server.key');
    await copyFile(join(this.dir, 'server', 'server.key'), key);
    await chmod(key, 0o600);
    const args = ['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0'];
    args.push('--database-url', databaseUrl);
    const p = startSlipway(args, join(this.dir, 'logs', `server-${n}.log`));
    const m = await waitForOutput(p, /listening on (http:\/\/\S+)/, SERVER_START_MS);
    const replica = { ...p, url: m[1]!, dataDir };
    this.replicas.push(replica);
    return replica;
  }

  startAgent(spec: AgentSpec): FleetProcess {
    const args = [
      'agent',
      '--server',
      spec.server ?? this.url,
      '--name',
      spec.name,
      '--region',
      spec.region,
      '--data-dir',
      join(this.dir, 'agents', spec.name),
      // Several agents share this machine: each serves its region on a port of its own.
      '--peer-listen',
      '127.0.0.1:0',
    ];
    if (spec.relay) args.push('--relay');
    if (spec.maxBandwidth) args.push('--max-bandwidth', spec.maxBandwidth);
    if (spec.jobSlots) args.push('--job-slots', String(spec.jobSlots));
    for (const [k, v] of Object.entries(spec.labels ?? {})) args.push('--label', `${k}=${v}`);
    // In the environment, not on the command line, where every local user would see it (ps).
    const env = { ...process.env, SLIPWAY_JOIN_TOKEN: this.joinToken };
    const p = startSlipway(args, join(this.dir, 'logs', `agent-${spec.name}.log`), env);
    this.agents.set(spec.name, p);
    return p;
  }

  /** Stops an agent as its service manager would: SIGTERM, and its exit awaited. */
  async stopAgent(name: string): Promise<void> {
    const p = this.agents.get(name);
    if (p) await stopProcess(p);
  }

  async killAgent(name: string): Promise<void> {
    const p = this.agents.get(name);
    if (!p) return;
    const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
    p.child.kill('SIGKILL');
    await exited;
  }

  /** Waits until `names` are all registered and online. */
  async waitForHosts(names: string[], timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hosts = await this.client.listHosts().catch(() => []);
      const online = new Set(hosts.filter((h) => h.online).map((h) => h.name));
      if (names.every((n) => online.has(n))) return;
      if (Date.now() > deadline) {
        throw new SlipwayError(
          'UNAVAILABLE',
          `hosts not online after ${timeoutMs} ms: ${names.filter((n) => !online.has(n)).join(', ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Stops every agent, then the services they leave running (an agent that stops leaves them
   * for the next one), then the servers.
   */
  async stop(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => stopProcess(a)));
    await Promise.all(
      [...this.agents.keys()].map((name) =>
        stopServicesLeft(new HostLayout(join(this.dir, 'agents', name))),
      ),
    );
    await Promise.all(this.replicas.map((r) => stopProcess(r)));
    if (this.server) await stopProcess(this.server);
  }
}
