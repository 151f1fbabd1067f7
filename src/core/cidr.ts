/**
 * IP addresses and CIDR networks (`10.0.0.0/8`, `fd00::/8`), for the operator's list of networks
 * whose addresses agents may advertise when they sit behind NAT. Pure: no DNS, no sockets.
 */
import { SlipwayError } from './errors.js';

/** An address as bytes: 4 for IPv4, 16 for IPv6 (an IPv4-mapped IPv6 address is IPv4). */
export type IpBytes = readonly number[];

export interface Cidr {
  /** As the operator wrote it, for messages. */
  text: string;
  bytes: IpBytes;
  prefix: number;
}

function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => (/^(0|[1-9]\d{0,2})$/.test(p) ? Number(p) : NaN));
  return bytes.every((b) => b >= 0 && b <= 255) ? bytes : null;
}

function parseIpv6(text: string): number[] | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (const [i, p] of parts.entries()) {
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-f]{1,4}$/i.test(p)) out.push(parseInt(p, 16));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array<number>(missing).fill(0), ...tail];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

const MAPPED_V4 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * The bytes of an IP address (IPv6 possibly in brackets, without a zone); an IPv4-mapped IPv6
 * address (`::ffff:10.0.0.1`) becomes its IPv4 address. Null when it is not an IP address.
 */
export function parseIp(text: string): IpBytes | null {
  const t = text.replace(/^\[(.*)\]$/, '$1');
  if (!t.includes(':')) return parseIpv4(t);
  const v6 = parseIpv6(t);
  if (v6 && MAPPED_V4.every((b, i) => v6[i] === b)) return v6.slice(12);
  return v6;
}

/** Whether two addresses are the same (after IPv4-mapped IPv6 addresses are made IPv4). */
export function sameIp(a: IpBytes, b: IpBytes): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Parses `ADDRESS/PREFIX`; throws an INVALID error naming `where` when it is not one. */
export function parseCidr(text: string, where = 'network'): Cidr {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  const bytes = m ? parseIp(m[1]!) : null;
  const prefix = Number(m?.[2]);
  if (!bytes || prefix > bytes.length * 8) {
    throw new SlipwayError(
      'INVALID',
      `${where} ${JSON.stringify(text)}: expected an address and prefix length like 10.0.0.0/8 or fd00::/8`,
    );
  }
  return { text: text.trim(), bytes, prefix };
}

/** Whether `ip` lies in `net` (an IPv4 address is never in an IPv6 network, and vice versa). */
export function inCidr(ip: IpBytes, net: Cidr): boolean {
  if (ip.length !== net.bytes.length) return false;
  for (let bit = 0; bit < net.prefix; bit++) {
    const i = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((ip[i]! & mask) !== (net.bytes[i]! & mask)) return false;
  }
  return true;
}
