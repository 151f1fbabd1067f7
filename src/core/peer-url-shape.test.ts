import { describe, expect, it } from 'vitest';
import { peerUrlProblem, plainPeerUrl } from './peer-url.js';

describe('peer URLs', () => {
  it('are plain http://host:port', () => {
    expect(plainPeerUrl('http://10.0.0.7:7401')).toBe('http://10.0.0.7:7401');
    expect(plainPeerUrl('http://10.0.0.7:7401/')).toBe('http://10.0.0.7:7401');
    expect(plainPeerUrl('http://[fd00::7]:7401')).toBe('http://[fd00::7]:7401');
    expect(plainPeerUrl('http://peer.internal')).toBe('http://peer.internal');
  });

  it('refuses anything that could carry the ticket, or a request, elsewhere', () => {
    const refused = {
      'http://user:pw@10.0.0.7:7401': 'it carries user info',
      'http://user@10.0.0.7:7401': 'it carries user info',
      'http://10.0.0.7:7401/v1':
        'it has a path, query or fragment (a peer URL is http://host:port)',
      'http://10.0.0.7:7401/?to=evil':
        'it has a path, query or fragment (a peer URL is http://host:port)',
      'http://10.0.0.7:7401#x': 'it has a path, query or fragment (a peer URL is http://host:port)',
      'https://10.0.0.7:7401': 'scheme https (peers speak http)',
      'file:///etc/passwd': 'scheme file (peers speak http)',
      'not a url': 'not a URL',
    };
    for (const [url, why] of Object.entries(refused)) {
      expect(peerUrlProblem(url), url).toBe(why);
      expect(() => plainPeerUrl(url)).toThrow(`refusing peer URL ${JSON.stringify(url)}: ${why}`);
    }
  });
});
