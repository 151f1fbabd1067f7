import { describe, expect, it } from 'vitest';
import { parseCidr } from './cidr.js';
import { checkPeerUrl } from './peer-url.js';

describe('a reported peer URL', () => {
  it('is accepted at the address the report came from, IPv4-mapped or not', () => {
    expect(checkPeerUrl('http://10.0.0.5:7401', '10.0.0.5', [])).toEqual({
      ok: true,
      url: 'http://10.0.0.5:7401',
    });
    expect(checkPeerUrl('http://10.0.0.5:7401/', '::ffff:10.0.0.5', [])).toEqual({
      ok: true,
      url: 'http://10.0.0.5:7401',
    });
    expect(checkPeerUrl('http://[::1]:7401', '::1', [])).toEqual({
      ok: true,
      url: 'http://[::1]:7401',
    });
  });

  it('is refused at another address, unless the operator allowed its network', () => {
    const elsewhere = checkPeerUrl('http://169.254.169.254:80', '10.0.0.5', []);
    expect(elsewhere).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/--peer-networks/),
    });
    const nets = [parseCidr('192.168.0.0/16')];
    expect(checkPeerUrl('http://192.168.4.2:7401', '203.0.113.9', nets)).toMatchObject({
      ok: true,
    });
    expect(checkPeerUrl('http://192.169.4.2:7401', '203.0.113.9', nets)).toMatchObject({
      ok: false,
    });
  });

  it('must be plain http://ADDRESS:PORT', () => {
    for (const bad of [
      'not a url',
      'file:///etc/passwd',
      'https://10.0.0.5:7401',
      'gopher://10.0.0.5:70',
      'http://user:pw@10.0.0.5:7401',
      'http://10.0.0.5:7401/admin',
      'http://10.0.0.5:7401?x=1',
      'http://10.0.0.5:7401#x',
      'http://metadata.internal:80',
      `http://10.0.0.5:7401/${'a'.repeat(300)}`,
    ]) {
      expect(checkPeerUrl(bad, '10.0.0.5', []), bad).toMatchObject({ ok: false });
    }
  });
});
