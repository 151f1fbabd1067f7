import { describe, expect, it } from 'vitest';
import type { Peer, Peering } from '../api/index.js';
import { ticketFor } from './peer-ticket-guard.js';

const a: Peer = { hostId: 'h-a', name: 'a', url: 'http://10.0.0.1:7401', relay: false };
const b: Peer = { hostId: 'h-b', name: 'b', url: 'http://10.0.0.2:7401', relay: false };
const answer = (...peers: Peer[]): Peering => ({
  ticket: 'T',
  serverKey: 'K',
  peers,
  share: null,
});

describe('ticketFor', () => {
  it('shows the ticket to a peer the last answer names, or leaves out (a random few are named)', () => {
    expect(ticketFor(a, answer(a, b))).toBe('T');
    expect(ticketFor(a, answer(b))).toBe('T');
  });

  it('refuses a peer the last answer places elsewhere, or whose URL it gives to another host', () => {
    expect(() => ticketFor(a, answer({ ...a, url: 'http://10.0.0.9:7401' }))).toThrow(
      'not showing the peer ticket to a at http://10.0.0.1:7401: the last goal answer places a at http://10.0.0.9:7401',
    );
    expect(() => ticketFor(a, answer({ ...b, url: a.url }))).toThrow(
      'the last goal answer gives that URL to b',
    );
  });

  it('refuses without peering, and a URL that is not plain http://host:port', () => {
    expect(() => ticketFor(a, null)).toThrow('the last goal answer has no peering');
    const sneaky = { ...a, url: 'http://x:y@10.0.0.1:7401' };
    expect(() => ticketFor(sneaky, answer(sneaky))).toThrow('it carries user info');
  });
});
