import { describe, expect, it } from 'vitest';
import { inCidr, parseCidr, parseIp, sameIp } from './cidr.js';

const ip = (t: string) => {
  const b = parseIp(t);
  if (!b) throw new Error(`not an address: ${t}`);
  return b;
};

describe('IP addresses and CIDR networks', () => {
  it('parses IPv4 and IPv6, and makes an IPv4-mapped IPv6 address IPv4', () => {
    expect(parseIp('10.1.2.3')).toEqual([10, 1, 2, 3]);
    expect(parseIp('::1')).toEqual([...Array<number>(15).fill(0), 1]);
    expect(parseIp('[fe80::1:2]')?.slice(0, 2)).toEqual([0xfe, 0x80]);
    expect(parseIp('::ffff:10.0.0.1')).toEqual([10, 0, 0, 1]);
    expect(parseIp('::ffff:a00:1')).toEqual([10, 0, 0, 1]);
    expect(sameIp(ip('::ffff:127.0.0.1'), ip('127.0.0.1'))).toBe(true);
    expect(sameIp(ip('127.0.0.1'), ip('127.0.0.2'))).toBe(false);
  });

  it('refuses what is not an address', () => {
    for (const bad of [
      '',
      'localhost',
      '10.0.0',
      '10.0.0.256',
      '010.0.0.1',
      '1.2.3.4.5',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '12345::',
      'fe80::1%eth0',
    ]) {
      expect(parseIp(bad), bad).toBeNull();
    }
  });

  it('matches addresses against networks by prefix', () => {
    const net = parseCidr('10.8.0.0/14');
    expect(inCidr(ip('10.8.0.1'), net)).toBe(true);
    expect(inCidr(ip('10.11.255.255'), net)).toBe(true);
    expect(inCidr(ip('10.12.0.0'), net)).toBe(false);
    expect(inCidr(ip('::ffff:10.9.1.1'), net)).toBe(true);
    expect(inCidr(ip('1.2.3.4'), parseCidr('0.0.0.0/0'))).toBe(true);
    expect(inCidr(ip('1.2.3.4'), parseCidr('1.2.3.4/32'))).toBe(true);
    expect(inCidr(ip('1.2.3.5'), parseCidr('1.2.3.4/32'))).toBe(false);
    const v6 = parseCidr('fd00::/8');
    expect(inCidr(ip('fd12::1'), v6)).toBe(true);
    expect(inCidr(ip('fe80::1'), v6)).toBe(false);
    // Families never mix.
    expect(inCidr(ip('10.0.0.1'), parseCidr('::/0'))).toBe(false);
  });

  it('says what is wrong with a network', () => {
    expect(() => parseCidr('10.0.0.0', '--peer-networks')).toThrow(
      /--peer-networks "10.0.0.0": expected an address and prefix length/,
    );
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/expected/);
    expect(() => parseCidr('example.com/8')).toThrow(/expected/);
    expect(parseCidr(' fd00::/8 ').text).toBe('fd00::/8');
  });
});
