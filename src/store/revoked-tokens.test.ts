import { describe, expect, it } from 'vitest';
import { parseRevoked, revokedPayload } from './revoked-tokens.js';

describe('the tokens announcement', () => {
  it('names the revoked hashes and hosts', () => {
    const r = { hashes: ['a'.repeat(64)], hostIds: ['h-1'] };
    expect(parseRevoked(revokedPayload(r))).toEqual(r);
  });

  it('says "all" rather than pass PostgreSQL’s 8000-byte payload limit', () => {
    const hashes = Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(64, '0'));
    const payload = revokedPayload({ hashes, hostIds: [] });
    expect(payload.length).toBeLessThan(8_000);
    expect(parseRevoked(payload)).toBe('all');
  });

  it('reads a payload it does not understand as "all"', () => {
    for (const p of ['', 'h1,h2', '{"hashes":[1]}', 'null', '{"hostIds":["h"]}'])
      expect(parseRevoked(p)).toBe('all');
  });
});
