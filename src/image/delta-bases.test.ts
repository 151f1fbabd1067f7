import { describe, expect, it } from 'vitest';
import { deltaBases } from './delta-bases.js';
import type { ChunkRef, Manifest } from './manifest.js';

const c = (digest: string, size = 100): ChunkRef => ({ digest, size });
const file = (path: string, chunks: ChunkRef[]): Manifest['entries'][number] => ({
  path,
  type: 'file',
  mode: 0o644,
  size: chunks.reduce((n, x) => n + x.size, 0),
  chunks,
});
const manifest = (...entries: Manifest['entries']): Manifest => ({ format: 1, entries });

describe('deltaBases', () => {
  const old = manifest(file('bin/app', [c('a'), c('b'), c('c'), c('d'), c('e')]));

  it('pairs a changed chunk with the one it replaced', () => {
    const next = manifest(file('bin/app', [c('a'), c('b'), c('C2'), c('d'), c('e')]));
    expect([...deltaBases(next, [old])]).toEqual([['C2', ['c']]]);
  });

  it('pairs a run by offset when an edit split or merged chunks', () => {
    const next = manifest(
      file('bin/app', [c('a'), c('X', 60), c('Y', 60), c('Z', 80), c('e')]), // b c d → X Y Z
    );
    expect(Object.fromEntries(deltaBases(next, [old]))).toEqual({
      // The old run b c d (300 bytes) became X Y Z (200): scaled by 1.5, X covers old bytes
      // 0–90 (b), Y 90–180 (b, c), Z 180–300 (c, d); each takes one more on either side.
      X: ['b', 'c'],
      Y: ['b', 'c', 'd'],
      Z: ['b', 'c', 'd'],
    });
  });

  it('uses the neighbour for a pure insertion', () => {
    const next = manifest(file('bin/app', [c('a'), c('b'), c('NEW'), c('c'), c('d'), c('e')]));
    expect([...deltaBases(next, [old])]).toEqual([['NEW', ['b']]]);
  });

  it('gives new files and unchanged chunks no base', () => {
    const next = manifest(file('lib/new.so', [c('q')]), file('bin/app', [c('a'), c('b')]));
    expect(deltaBases(next, [old]).size).toBe(0);
  });

  it('prefers the newest earlier image of a file', () => {
    const older = manifest(file('bin/app', [c('a'), c('OLD'), c('e')]));
    const newer = manifest(file('bin/app', [c('a'), c('MID'), c('e')]));
    const next = manifest(file('bin/app', [c('a'), c('NEXT'), c('e')]));
    expect(deltaBases(next, [newer, older])).toEqual(new Map([['NEXT', ['MID']]]));
  });
});
