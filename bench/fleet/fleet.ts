/**
 * The machines of a run: the origin and the hosts, either as network namespaces on shaped
 * links or, in loopback mode, as directories and processes on 127.0.0.1.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  ORIGIN_IP,
  createBridge,
  createMachine,
  eachLimited,
  hostIp,
  inNamespace,
  linkCounters,
  linkNames,
  withCongestionControl,
} from './netns.js';

/** One machine. */
export interface Machine {
  /** `origin`, `h1`, `h2`, … */
  name: string;
  /** Where it listens and is reached. */
  ip: string;
  /** Its namespace and root-side veth; null on loopback. */
  ns: string | null;
  veth: string | null;
  /** Its own working directory (what is on its disk). */
  dir: string;
}

/** A host of the fleet. */
export interface Host extends Machine {
  region: string;
  /** The first host of each region is its relay. */
  relay: boolean;
}

/** The whole fleet. */
export interface Fleet {
  loopback: boolean;
  origin: Machine;
  hosts: Host[];
  regions: string[];
  /** Each host's link, bits per second, each way. */
  rate: number;
  originRate: number;
}

/** Lays out the fleet's machines (creates nothing on the network yet). */
export function planFleet(opts: {
  loopback: boolean;
  hosts: number;
  regions: number;
  rate: number;
  originRate: number;
  dir: string;
}): Fleet {
  const regions = Array.from({ length: opts.regions }, (_, i) => `r${i + 1}`);
  const machine = (name: string, ip: string): Machine => {
    const dir = join(opts.dir, 'machines', name);
    mkdirSync(dir, { recursive: true });
    return opts.loopback
      ? { name, ip: '127.0.0.1', ns: null, veth: null, dir }
      : { name, ip, ...linkNames(name === 'origin' ? 'o' : name), dir };
  };
  const hosts = Array.from({ length: opts.hosts }, (_, i): Host => {
    // Round robin, so every region gets hosts however many there are; hosts 1..R are relays.
    const region = regions[i % regions.length]!;
    return { ...machine(`h${i + 1}`, hostIp(i)), region, relay: i < regions.length };
  });
  return {
    loopback: opts.loopback,
    origin: machine('origin', ORIGIN_IP),
    hosts,
    regions,
    rate: opts.rate,
    originRate: opts.originRate,
  };
}

/**
 * Creates the bridge, the namespaces and the shaped links; returns the machines' TCP congestion
 * control (null: the kernel lacks CONGESTION_CONTROL, they use the machine's default).
 */
export async function buildNetwork(fleet: Fleet): Promise<string | null> {
  await createBridge();
  const machines: { m: Machine; rate: number }[] = [
    { m: fleet.origin, rate: fleet.originRate },
    ...fleet.hosts.map((m) => ({ m, rate: fleet.rate })),
  ];
  return withCongestionControl(async (congestionControl) => {
    await eachLimited(machines, 8, ({ m, rate }) =>
      createMachine({ ns: m.ns!, veth: m.veth!, ip: m.ip, rate, congestionControl }),
    );
    return congestionControl;
  });
}

/** The argv that runs `argv` on `m` (inside its namespace, or as is on loopback). */
export function on(m: Machine, argv: string[]): string[] {
  if (!m.ns) return argv;
  if (m.name !== 'origin') return inNamespace(m.ns, argv);
  // The origin is a machine of its own, with its own CPUs; here it shares two cores with every
  // host. Each process the harness starts leads its own session, and the kernel shares the CPUs
  // out evenly between sessions (autogroups), so among thirty busy hosts the origin would get a
  // thirtieth of them and stall, whatever the method. Raising its session's weight stands in
  // for its own CPUs.
  const first = `echo ${ORIGIN_NICE} > /proc/self/autogroup 2>/dev/null; exec "$@"`;
  return inNamespace(m.ns, ['sh', '-c', first, 'sh', ...argv]);
}

/** The niceness of the origin's autogroup (each host's is 0). */
const ORIGIN_NICE = -15;

/** Bytes received and sent per machine name so far; null on loopback (no links to count). */
export function readCounters(fleet: Fleet): Map<string, { rx: number; tx: number }> | null {
  if (fleet.loopback) return null;
  const out = new Map<string, { rx: number; tx: number }>();
  for (const m of [fleet.origin, ...fleet.hosts]) out.set(m.name, linkCounters(m.veth!));
  return out;
}

/** A TCP port free on 127.0.0.1 right now (loopback mode gives every service its own). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}
