/**
 * The fleet's network: one namespace per machine, each joined by a veth pair to one bridge in
 * the root namespace, every link shaped with tc in both directions.
 *
 *   [slw-o: eth0 10.77.0.1] ══ slw-v-o ─┐
 *   [slw-h1: eth0 10.77.1.1] ═ slw-v-h1 ─┤ slw-br0 (10.77.255.254: the harness itself)
 *   [slw-h2: eth0 10.77.1.2] ═ slw-v-h2 ─┘
 *
 * Egress of the namespace's end (eth0) shapes what the machine sends; egress of the root
 * namespace's end (slw-v-*) shapes what it receives. The root ends' counters give each
 * machine's bytes without asking the tools.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { PREFIX } from './cleanup.js';
import { run } from './proc.js';

/** The bridge every machine's link hangs on. */
export const BRIDGE = `${PREFIX}br0`;
/** The harness's own address on the fleet's network (on the bridge). */
export const CONTROL_IP = '10.77.255.254';
/** The origin's address (server, HTTP, tracker, seeder, rsync daemon). */
export const ORIGIN_IP = '10.77.0.1';
const PREFIX_LEN = 16;
/** Jumbo frames, as in a data centre fabric (an AWS VPC carries 9001 bytes). */
export const MTU = 9000;
/**
 * TCP payload per byte on a link: each frame of MTU bytes carries 52 bytes of IP and TCP
 * headers (with timestamps) and 14 of Ethernet header besides.
 */
export const TCP_PAYLOAD_SHARE = (MTU - 52) / (MTU + 14);

/**
 * Every machine's TCP congestion control, whatever the harness machine's default (a new
 * namespace inherits it): cubic, Linux's default. BBR misjudges these links: it samples the
 * delivery rate at the veth's speed when htb lets a burst through (`ss -ti` on a relay showed
 * bandwidth estimates of gigabits per second on a 2.5 Mbit/s link), sends whole windows into the
 * 0.84 s FIFO and waits out retransmission timeouts. bench:fleet (30 hosts) on a machine
 * defaulting to BBR had chunks reach a host up to 32 s after the relay wrote them, and
 * slipway-cold took 72-84 s (5 runs) against 67-72 s (8 runs) with cubic.
 */
export const CONGESTION_CONTROL = 'cubic';
const IPV4_SYSCTL = '/proc/sys/net/ipv4';

/**
 * Runs `fn` while namespaces may choose CONGESTION_CONTROL (outside the first namespace, only
 * what the machine lists as allowed may be chosen) and puts the machine's list back after.
 * `fn` gets null when the kernel lacks it: the machines then keep the default.
 */
export async function withCongestionControl<T>(fn: (cc: string | null) => Promise<T>): Promise<T> {
  const list = (name: string) => readFileSync(`${IPV4_SYSCTL}/${name}`, 'utf8').trim();
  if (!list('tcp_available_congestion_control').split(/\s+/).includes(CONGESTION_CONTROL)) {
    return fn(null);
  }
  const allowed = list('tcp_allowed_congestion_control');
  if (allowed.split(/\s+/).includes(CONGESTION_CONTROL)) return fn(CONGESTION_CONTROL);
  const file = `${IPV4_SYSCTL}/tcp_allowed_congestion_control`;
  writeFileSync(file, `${allowed} ${CONGESTION_CONTROL}`);
  try {
    return await fn(CONGESTION_CONTROL);
  } finally {
    writeFileSync(file, allowed);
  }
}

/** One machine's end of the network. */
export interface Link {
  /** The namespace, e.g. `slw-h3`. */
  ns: string;
  ip: string;
  /** The veth end in the root namespace, e.g. `slw-v-h3`. */
  veth: string;
  /** Bits per second, each way. */
  rate: number;
  /** Its TCP congestion control (see CONGESTION_CONTROL); null keeps the default. */
  congestionControl: string | null;
}

/** The address of host `i` (0-based): 10.77.1.1, 10.77.1.2, … 10.77.1.250, 10.77.2.1, … */
export function hostIp(i: number): string {
  return `10.77.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

/** The namespace and root-side link names of a machine named `id` (`o`, `h1`, …). */
export function linkNames(id: string): { ns: string; veth: string } {
  return { ns: `${PREFIX}${id}`, veth: `${PREFIX}v-${id}` };
}

/**
 * IP packets shorter than this skip the link's FIFO. At 2.5 Mbit/s the FIFO holds 0.84 s: a host
 * sending at full rate had the ACKs of what it received wait that long behind its own data, and
 * received next to nothing while it sent (bench:fleet, 30 hosts); a 10 Gbit/s port drains the
 * same bytes in 0.2 ms.
 */
const SMALL_PACKET = 1024;

/**
 * The tc settings for a link of `rate` bits per second: htb (it meters whole GSO packets
 * correctly, where tbf would need a burst above the largest one) with a burst of 4 ms, at least
 * 64 KiB so one TCP flow is not held below the rate between timer ticks; under it a byte-limited
 * FIFO of 30 ms, at least 256 KiB: a switch port's share of buffer, enough that dozens of flows
 * converging on one port (every host pulling from the origin) do not lose packets, SYNs
 * included, on nearly every round trip, and small enough that queues never grow into seconds.
 * Packets under SMALL_PACKET bytes (ACKs, SYNs, requests) go first, as fq_codel, Linux's usual
 * default, serves sparse flows first; not every kernel build has fq_codel or sfq, so htb does
 * it: runs compare across machines.
 */
export function shapingArgs(rate: number): { burst: number; limit: number } {
  const bytesPerSecond = rate / 8;
  return {
    burst: Math.max(64 * 1024, Math.round(bytesPerSecond * 0.004)),
    limit: Math.max(256 * 1024, Math.round(bytesPerSecond * 0.03)),
  };
}

async function shape(dev: string, ns: string | null, rate: number): Promise<void> {
  const tc = ns ? ['tc', '-n', ns] : ['tc'];
  const { burst, limit } = shapingArgs(rate);
  const bits = (r: number) => `${Math.round(r)}bit`;
  const meter = ['burst', `${burst}b`, 'cburst', `${burst}b`];
  // htb derives the quantum from rate/r2q and warns when it is huge; these classes need no more.
  const quantum = ['quantum', '60000'];
  const htbClass = (parent: string, id: string, guaranteed: number, extra: string[] = []) =>
    run([
      ...tc,
      ...['class', 'add', 'dev', dev, 'parent', parent, 'classid', id, 'htb'],
      ...['rate', bits(guaranteed), 'ceil', bits(rate), ...meter, ...quantum, ...extra],
    ]);
  await run([
    ...tc,
    'qdisc',
    'replace',
    'dev',
    dev,
    'root',
    'handle',
    '1:',
    'htb',
    'default',
    '10',
  ]);
  // The link (1:1), shared by small packets (1:5, served first) and everything else (1:10).
  await htbClass('1:', '1:1', rate);
  await htbClass('1:1', '1:5', rate / 10, ['prio', '0']);
  await htbClass('1:1', '1:10', (rate * 9) / 10, ['prio', '1']);
  await run([...tc, 'qdisc', 'add', 'dev', dev, 'parent', '1:5', 'handle', '5:', 'pfifo']);
  await run([
    ...tc,
    ...['qdisc', 'add', 'dev', dev, 'parent', '1:10', 'handle', '10:', 'bfifo'],
    ...['limit', `${limit}b`],
  ]);
  // IPv4 total length (bytes 2-3 of the header) below SMALL_PACKET, a power of two.
  const mask = (0xffff & ~(SMALL_PACKET - 1)).toString(16);
  await run([
    ...tc,
    ...['filter', 'add', 'dev', dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32'],
    ...['match', 'u16', '0x0000', `0x${mask}`, 'at', '2', 'flowid', '1:5'],
  ]);
}

/** Creates the bridge and gives the harness its address on it. */
export async function createBridge(): Promise<void> {
  await run(['ip', 'link', 'add', BRIDGE, 'mtu', String(MTU), 'type', 'bridge']);
  await run(['ip', 'addr', 'add', `${CONTROL_IP}/${PREFIX_LEN}`, 'dev', BRIDGE]);
  await run(['ip', 'link', 'set', BRIDGE, 'up']);
}

/** Creates one machine: namespace, veth pair on the bridge, address, shaping both ways. */
export async function createMachine(link: Link): Promise<void> {
  const { ns, veth, ip, rate, congestionControl } = link;
  await run(['ip', 'netns', 'add', ns]);
  if (congestionControl) {
    const file = `${IPV4_SYSCTL}/tcp_congestion_control`;
    await run(['ip', 'netns', 'exec', ns, 'sh', '-c', `echo ${congestionControl} > ${file}`]);
  }
  await run([
    ...['ip', 'link', 'add', veth, 'mtu', String(MTU), 'type', 'veth'],
    ...['peer', 'name', 'eth0', 'mtu', String(MTU), 'netns', ns],
  ]);
  await run(['ip', 'link', 'set', veth, 'master', BRIDGE, 'up']);
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  await run(['ip', '-n', ns, 'addr', 'add', `${ip}/${PREFIX_LEN}`, 'dev', 'eth0']);
  await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  await shape('eth0', ns, rate);
  await shape(veth, null, rate);
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Bytes a machine received and sent on its link so far (IP packets with Ethernet headers). */
export function linkCounters(veth: string): { rx: number; tx: number } {
  const read = (name: string) =>
    Number(readFileSync(`/sys/class/net/${veth}/statistics/${name}`, 'utf8'));
  // The root end's transmit is the machine's receive, and the other way round.
  return { rx: read('tx_bytes'), tx: read('rx_bytes') };
}

/** The argv that runs `argv` inside namespace `ns`. */
export function inNamespace(ns: string, argv: string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}
