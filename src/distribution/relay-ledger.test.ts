import { describe, expect, it } from 'vitest';
import { RelayLedger } from './relay-ledger.js';

describe('RelayLedger', () => {
  const D = 'd'.repeat(64);

  it('gives a chunk to the first host and refuses the others while it is sent and just after', () => {
    const ledger = new RelayLedger(5_000);
    expect(ledger.claim(D, 'a', 0)).toBe(0);
    // Still being sent to a: the others wait the whole window.
    expect(ledger.claim(D, 'b', 1_000)).toBe(5_000);
    ledger.delivered(D, 'a', 2_000);
    expect(ledger.claim(D, 'b', 3_000)).toBe(4_000);
    // a itself may ask again.
    expect(ledger.claim(D, 'a', 3_000)).toBe(0);
  });

  it('sends again once the window after delivery has passed', () => {
    const ledger = new RelayLedger(5_000);
    ledger.claim(D, 'a', 0);
    ledger.delivered(D, 'a', 100);
    expect(ledger.claim(D, 'b', 5_100)).toBe(0);
    expect(ledger.claim(D, 'a', 5_200)).toBe(5_000);
  });

  it('lets the next host have a chunk whose sending failed', () => {
    const ledger = new RelayLedger(5_000);
    ledger.claim(D, 'a', 0);
    ledger.failed(D, 'a');
    expect(ledger.claim(D, 'b', 10)).toBe(0);
  });
});
