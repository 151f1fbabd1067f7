import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSealed, seal, unseal } from './sealing.js';

describe('sealing', () => {
  const key = randomBytes(32);
  const pem = '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n';

  it('opens what it sealed, and the sealed text shows nothing of it', () => {
    const sealed = seal(key, 'peer-tickets key', pem);
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain('PRIVATE KEY');
    expect(seal(key, 'peer-tickets key', pem)).not.toBe(sealed);
    expect(unseal(key, 'peer-tickets key', sealed)).toBe(pem);
  });

  it('refuses a changed text, another key or another label, saying what to do', () => {
    const sealed = seal(key, 'peer-tickets key', pem);
    const raw = Buffer.from(sealed.slice('slw-sealed-v1:'.length), 'base64');
    raw[raw.length - 1]! ^= 1;
    const tampered = 'slw-sealed-v1:' + raw.toString('base64');
    expect(() => unseal(key, 'peer-tickets key', tampered)).toThrow(/authentication tag/);
    expect(() => unseal(randomBytes(32), 'peer-tickets key', sealed)).toThrow(/same server\.key/);
    expect(() => unseal(key, 'other key', sealed)).toThrow(/cannot open the stored other key/);
    expect(() => unseal(key, 'peer-tickets key', 'slw-sealed-v1:AAAA')).toThrow(/truncated/);
    expect(() => unseal(key, 'peer-tickets key', pem)).toThrow(/not sealed/);
    expect(() => seal(randomBytes(16), 'x', 'y')).toThrow(/32 bytes/);
  });
});
