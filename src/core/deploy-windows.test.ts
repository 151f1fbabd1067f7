import { describe, expect, it } from 'vitest';
import { deployWindowCheck, nextAllowed, type DeployWindow } from './deploy-windows.js';

const at = (iso: string) => Date.parse(iso);
/** Evenings and nights in New York, Monday to Friday: 17:00 to 08:00 the next morning. */
const nights: DeployWindow = {
  days: ['mon', 'tue', 'wed', 'thu', 'fri'],
  fromMinute: 17 * 60,
  toMinute: 8 * 60,
  timezone: 'America/New_York',
};

describe('deploy windows', () => {
  it('allows inside a window that runs past midnight, in its own time zone', () => {
    // Tuesday 2026-12-08 18:00 in New York is 23:00 UTC (EST, UTC-5).
    expect(deployWindowCheck([nights], [], at('2026-12-08T23:00:00Z'))).toEqual({ allowed: true });
    // Wednesday 07:59 New York: still Tuesday's window.
    expect(deployWindowCheck([nights], [], at('2026-12-09T12:59:00Z')).allowed).toBe(true);
    // Saturday 07:00 New York: Friday's window.
    expect(deployWindowCheck([nights], [], at('2026-12-12T12:00:00Z')).allowed).toBe(true);
  });

  it('refuses outside, saying when the next window opens', () => {
    // Wednesday 12:00 New York: market hours.
    const v = deployWindowCheck([nights], [], at('2026-12-09T17:00:00Z'));
    expect(v).toEqual({
      allowed: false,
      reason: 'outside the deploy windows (mon,tue,wed,thu,fri 17:00-08:00 America/New_York)',
      nextAllowed: at('2026-12-09T22:00:00Z'),
    });
    // Saturday noon: the next is Monday 17:00.
    expect(nextAllowed([nights], [], at('2026-12-12T17:00:00Z'))).toBe(at('2026-12-14T22:00:00Z'));
  });

  it('follows daylight saving time', () => {
    // Monday 2027-03-15 (EDT, UTC-4): the window opens at 21:00 UTC.
    expect(nextAllowed([nights], [], at('2027-03-15T16:00:00Z'))).toBe(at('2027-03-15T21:00:00Z'));
  });

  it('refuses in a freeze, and the next allowed time is after it, in a window', () => {
    const freeze = {
      from: at('2026-12-24T00:00:00Z'),
      to: at('2026-12-28T15:00:00Z'),
      reason: 'year end',
    };
    const v = deployWindowCheck([nights], [freeze], at('2026-12-24T23:00:00Z'));
    expect(v).toEqual({
      allowed: false,
      reason: 'frozen until 2026-12-28T15:00:00.000Z: year end',
      nextAllowed: at('2026-12-28T22:00:00Z'),
    });
    // No windows at all: any time outside a freeze.
    expect(nextAllowed([], [freeze], at('2026-12-25T00:00:00Z'))).toBe(freeze.to);
    expect(deployWindowCheck([], [], 0)).toEqual({ allowed: true });
  });
});
