import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';
import { isDigest, sha256Hex } from './digest.js';

describe('canonicalJson', () => {
  it('sorts object keys at every level and keeps array order', () => {
    const a = { b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } };
    const b = { a: { c: 'x', d: [3, { y: 2, z: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it('writes no whitespace and escapes strings like JSON', () => {
    expect(canonicalJson({ 'k"ey': 'a\nb', n: null, t: true, f: -1.5 })).toBe(
      '{"f":-1.5,"k\\"ey":"a\\nb","n":null,"t":true}',
    );
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson({})).toBe('{}');
  });

  it('leaves out undefined properties but refuses undefined in arrays', () => {
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
    expect(() => canonicalJson([1, undefined])).toThrow(/\$\[1\]/);
  });

  it('refuses non-finite numbers and bigints', () => {
    expect(() => canonicalJson({ x: NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson([Infinity])).toThrow(/non-finite/);
    expect(() => canonicalJson({ x: 1n })).toThrow(/bigint/);
  });
});

describe('digests', () => {
  it('hashes strings as UTF-8 and recognizes digests', () => {
    expect(sha256Hex('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(sha256Hex(new TextEncoder().encode('abc'))).toBe(sha256Hex('abc'));
    expect(isDigest(sha256Hex(''))).toBe(true);
    expect(isDigest(sha256Hex('').toUpperCase())).toBe(false);
    expect(isDigest('ab')).toBe(false);
    expect(isDigest(`${sha256Hex('')}0`)).toBe(false);
  });
});
