import { describe, expect, it } from 'vitest';
import { ValidationError } from '../core/index.js';
import { sha256Hex } from './digest.js';
import {
  checkManifest,
  imageIdOf,
  manifestChunks,
  manifestSize,
  parseManifest,
} from './manifest.js';
import type { Manifest, ManifestEntry } from './manifest.js';

const d1 = sha256Hex('one');
const d2 = sha256Hex('two');

function manifest(...entries: ManifestEntry[]): Manifest {
  return { format: 1, entries };
}

const valid = manifest(
  { path: 'bin', type: 'dir', mode: 0o755 },
  { path: 'bin/run', type: 'file', mode: 0o755, size: 7, chunks: [{ digest: d1, size: 7 }] },
  { path: 'data', type: 'dir', mode: 0o750 },
  {
    path: 'data/a',
    type: 'file',
    mode: 0o644,
    size: 10,
    chunks: [
      { digest: d1, size: 7 },
      { digest: d2, size: 3 },
    ],
  },
  { path: 'data/current', type: 'symlink', target: '../bin/run' },
  { path: 'data/empty', type: 'file', mode: 0o600, size: 0, chunks: [] },
  { path: 'self', type: 'symlink', target: '.' },
);

/** The problems of a manifest, as `path: message` lines, for readable assertions. */
function problemsOf(m: Manifest): string[] {
  return checkManifest(m).map((p) => `${p.path}: ${p.message}`);
}

describe('checkManifest', () => {
  it('refuses setuid, setgid, sticky and world-writable modes, naming the path and mode', () => {
    const file = (path: string, mode: number): ManifestEntry => ({
      path,
      type: 'file',
      mode,
      size: 0,
      chunks: [],
    });
    const m = manifest(
      file('a', 0o4755),
      file('b', 0o2755),
      { path: 'c', type: 'dir', mode: 0o1777 },
      file('d', 0o666),
      file('e', 0o775), // group-writable is the owner's business
    );
    expect(problemsOf(m)).toEqual([
      'entries[0].mode: file "a" has mode 0o4755 (setuid): an image may not hold setuid, setgid, sticky or world-writable paths (slipway build strips those bits)',
      'entries[1].mode: file "b" has mode 0o2755 (setgid): an image may not hold setuid, setgid, sticky or world-writable paths (slipway build strips those bits)',
      'entries[2].mode: dir "c" has mode 0o1777 (sticky, world-writable): an image may not hold setuid, setgid, sticky or world-writable paths (slipway build strips those bits)',
      'entries[3].mode: file "d" has mode 0o666 (world-writable): an image may not hold setuid, setgid, sticky or world-writable paths (slipway build strips those bits)',
    ]);
    expect(() => parseManifest(manifest(file('a', 0o4755)))).toThrow(ValidationError);
  });

  it('accepts a well-formed manifest', () => {
    expect(checkManifest(valid)).toEqual([]);
    expect(parseManifest(JSON.parse(JSON.stringify(valid)))).toEqual(valid);
    expect(checkManifest(manifest())).toEqual([]);
  });

  it('refuses absolute paths, dot segments and empty segments', () => {
    const p = problemsOf(
      manifest(
        { path: '', type: 'dir', mode: 0o755 },
        { path: '../etc/passwd', type: 'symlink', target: 'x' },
        { path: '/abs', type: 'dir', mode: 0o755 },
        { path: 'a', type: 'dir', mode: 0o755 },
        { path: 'a/', type: 'dir', mode: 0o755 },
        { path: 'a/.', type: 'dir', mode: 0o755 },
        { path: 'a//b', type: 'dir', mode: 0o755 },
      ),
    );
    expect(p).toEqual([
      'entries[0].path: "": empty path',
      'entries[1].path: "../etc/passwd": \'..\' segment',
      'entries[2].path: "/abs": absolute path (paths are relative to the image root)',
      'entries[4].path: "a/": empty segment',
      'entries[5].path: "a/.": \'.\' segment',
      'entries[6].path: "a//b": empty segment',
    ]);
  });

  it('refuses duplicate and unsorted paths, in UTF-8 byte order', () => {
    expect(
      problemsOf(
        manifest(
          { path: 'b', type: 'dir', mode: 0o755 },
          { path: 'a', type: 'dir', mode: 0o755 },
          { path: 'b', type: 'dir', mode: 0o755 },
        ),
      ),
    ).toEqual([
      'entries[1].path: "a" is out of order (must sort after "b")',
      'entries[2].path: duplicate path "b"',
    ]);
    // U+FF5E sorts before U+1F600 in UTF-8 bytes, after it in UTF-16 code units.
    expect(
      checkManifest(
        manifest(
          { path: '\uff5e', type: 'dir', mode: 0 },
          { path: '\u{1f600}', type: 'dir', mode: 0 },
        ),
      ),
    ).toEqual([]);
    // '-' sorts before '/', so a directory's children need not follow it directly.
    expect(
      checkManifest(
        manifest(
          { path: 'a', type: 'dir', mode: 0o755 },
          { path: 'a-b', type: 'dir', mode: 0o755 },
          { path: 'a/b', type: 'dir', mode: 0o755 },
        ),
      ),
    ).toEqual([]);
  });

  it('refuses file sizes that disagree with the chunks, and bad digests', () => {
    expect(
      problemsOf(
        manifest({
          path: 'f',
          type: 'file',
          mode: 0o644,
          size: 11,
          chunks: [
            { digest: d1, size: 7 },
            { digest: d2.toUpperCase(), size: 3 },
            { digest: 'abc', size: 1 },
          ],
        }),
      ),
    ).toEqual([
      `entries[0].chunks[1].digest: "${d2.toUpperCase()}" is not a SHA-256 digest (64 lowercase hex characters)`,
      'entries[0].chunks[2].digest: "abc" is not a SHA-256 digest (64 lowercase hex characters)',
    ]);
    expect(
      problemsOf(
        manifest({
          path: 'f',
          type: 'file',
          mode: 0o644,
          size: 8,
          chunks: [{ digest: d1, size: 7 }],
        }),
      ),
    ).toEqual(['entries[0].size: file "f" has size 8 but its chunks add up to 7']);
  });

  it('refuses entries whose parent is missing or not a directory', () => {
    expect(
      problemsOf(
        manifest(
          { path: 'f', type: 'file', mode: 0o644, size: 0, chunks: [] },
          { path: 'f/x', type: 'dir', mode: 0o755 },
          { path: 'l', type: 'symlink', target: 'x' },
          { path: 'l/passwd', type: 'file', mode: 0o644, size: 0, chunks: [] },
          { path: 'missing/x', type: 'dir', mode: 0o755 },
        ),
      ),
    ).toEqual([
      'entries[1].path: parent "f" of "f/x" is a file, not a directory',
      'entries[3].path: parent "l" of "l/passwd" is a symlink, not a directory',
      'entries[4].path: parent directory "missing" of "missing/x" is not in the manifest',
    ]);
  });

  it('refuses symlinks that are absolute or lead out of the image', () => {
    const p = problemsOf(
      manifest(
        { path: 'a', type: 'dir', mode: 0o755 },
        { path: 'a/abs', type: 'symlink', target: '/etc/passwd' },
        { path: 'a/b', type: 'symlink', target: '../../x' },
        { path: 'a/in', type: 'symlink', target: '../a/./c/../x' },
        { path: 'a/through', type: 'symlink', target: './b' },
        { path: 'a/via-root', type: 'symlink', target: '../r/../x' },
        { path: 'loop1', type: 'symlink', target: 'loop2' },
        { path: 'loop2', type: 'symlink', target: 'loop1/..' },
        { path: 'r', type: 'symlink', target: '.' },
        { path: 'up', type: 'symlink', target: '..' },
      ),
    );
    expect(p).toEqual([
      'entries[1].target: symlink "a/abs" -> "/etc/passwd": absolute target',
      'entries[2].target: symlink "a/b" -> "../../x": target escapes the image root',
      // Lexically inside, but `r` is the root itself, so `r/..` is its parent.
      // Lexically inside, but it follows a/b out.
      'entries[4].target: symlink "a/through" -> "./b": target escapes the image root',
      'entries[5].target: symlink "a/via-root" -> "../r/../x": target escapes the image root',
      'entries[9].target: symlink "up" -> "..": target escapes the image root',
    ]);
  });
});

describe('parseManifest', () => {
  it('reports every problem at once, each with its path', () => {
    const bad = {
      format: 1,
      entries: [
        { path: '/etc', type: 'dir', mode: 0o755 },
        { path: 'a', type: 'dir', mode: 0o755 },
        { path: 'a/b', type: 'symlink', target: '../../x' },
        { path: 'a/f', type: 'file', mode: 0o644, size: 3, chunks: [{ digest: 'nope', size: 2 }] },
        { path: 'a/b/c', type: 'dir', mode: 0o755 },
      ],
    };
    let error: unknown;
    try {
      parseManifest(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const problems = (error as ValidationError).problems.map((p) => p.path);
    expect(problems).toEqual([
      'entries[0].path',
      'entries[2].target',
      'entries[3].chunks[0].digest',
      'entries[3].size',
      'entries[4].path', // out of order
      'entries[4].path', // parent is a symlink
    ]);
    expect((error as ValidationError).message).toMatch(/^invalid image manifest:/);
  });

  it('reports shape problems with their paths, including unknown keys', () => {
    const bad = {
      format: 2,
      entries: [
        { path: 'a', type: 'dir', mode: 0o10000 },
        { path: 'b', type: 'fifo' },
        { path: 'c', type: 'file', mode: 0o644, size: -1, chunks: [], extra: true },
      ],
    };
    let error: unknown;
    try {
      parseManifest(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const paths = (error as ValidationError).problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'format',
        'entries[0].mode',
        'entries[1].type',
        'entries[2].size',
        'entries[2]',
      ]),
    );
    expect(() => parseManifest(null)).toThrow(ValidationError);
  });
});

describe('image ids and totals', () => {
  it('gives the same id whatever the key order', () => {
    const reordered = JSON.parse(
      JSON.stringify({
        entries: valid.entries.map((e) => Object.fromEntries(Object.entries(e).reverse())),
        format: 1,
      }),
    ) as Manifest;
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(valid));
    expect(imageIdOf(reordered)).toBe(imageIdOf(valid));
    expect(imageIdOf(valid)).toMatch(/^[0-9a-f]{64}$/);
    expect(imageIdOf(manifest())).not.toBe(imageIdOf(valid));
  });

  it('lists distinct chunks and totals the file bytes', () => {
    expect(manifestChunks(valid)).toEqual([
      { digest: d1, size: 7 },
      { digest: d2, size: 3 },
    ]);
    expect(manifestSize(valid)).toBe(17);
  });
});
