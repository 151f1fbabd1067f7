/**
 * Which compression, if any, pays for itself on the wire between agents: ratio and throughput of
 * each codec and level on chunks cut the way images are cut, and what that means per chunk at a
 * few link rates.
 *
 *   npm run bench:codec [-- --max-mb 64]
 *
 * Corpora: the JavaScript files of this repository's node_modules (each file chunked on its own,
 * as `scanTree` does, so small files make small chunks), the running `node` executable, and random
 * bytes. Each codec compresses and decompresses every chunk on one core, synchronously, so the
 * figures are CPU throughput without the thread-pool hop.
 *
 * Per chunk, at link rate R: serial = compress + compressed bytes / R + decompress (one chunk
 * alone, what a single missing chunk costs), against raw = bytes / R. "pays below" is the link rate
 * under which serial beats raw; "streamed" is the same when many chunks are in flight and each side
 * has 2 cores compressing or decompressing while the link carries others (the slowest stage sets
 * the pace): compression pays while the link is slower than 2 × the slower side's MB/s of input.
 */
import { readFile, readdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  brotliCompressSync,
  brotliDecompressSync,
  constants,
  gunzipSync,
  gzipSync,
} from 'node:zlib';
import { chunkBoundaries } from '../src/image/index.js';

const { values } = parseArgs({
  options: { 'max-mb': { type: 'string', default: '64' } },
});
const maxBytes = Number(values['max-mb']) * 1024 * 1024;
const CORES = 2;
const LINKS = [
  { name: '100 Mbit/s', bitsPerSecond: 100e6 },
  { name: '1 Gbit/s', bitsPerSecond: 1e9 },
  { name: '10 Gbit/s', bitsPerSecond: 10e9 },
];

interface Codec {
  name: string;
  compress(data: Buffer): Buffer;
  decompress(data: Buffer): Buffer;
}

const brotli = (quality: number): Codec => ({
  name: `brotli-${quality}`,
  compress: (data) =>
    brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: quality,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    }),
  decompress: (data) => brotliDecompressSync(data),
});

const gzip = (level: number): Codec => ({
  name: `gzip-${level}`,
  compress: (data) => gzipSync(data, { level }),
  decompress: (data) => gunzipSync(data),
});

const CODECS: Codec[] = [gzip(1), gzip(6), brotli(1), brotli(4), brotli(6)];

/** Chunks of one file, cut by the image chunker. */
function cut(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (const end of chunkBoundaries(data)) {
    out.push(data.subarray(start, end));
    start = end;
  }
  return out;
}

/** At most `maxBytes` of chunks, taken evenly across the list so every part of a file is seen. */
function sample(chunks: Buffer[]): Buffer[] {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  if (total <= maxBytes) return chunks;
  const step = total / maxBytes;
  return chunks.filter((_, i) => Math.floor(i % step) === 0);
}

async function jsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await jsFiles(path)));
    else if (d.isFile() && /\.(c|m)?js$/.test(d.name)) out.push(path);
  }
  return out.sort();
}

async function corpora(): Promise<{ name: string; chunks: Buffer[] }[]> {
  const modules = fileURLToPath(new URL('../node_modules/', import.meta.url));
  const js: Buffer[] = [];
  for (const file of await jsFiles(modules)) js.push(...cut(await readFile(file)));
  return [
    { name: 'node_modules JS files', chunks: sample(js) },
    { name: 'node executable', chunks: sample(cut(await readFile(process.execPath))) },
    { name: 'random bytes', chunks: cut(randomBytes(Math.min(maxBytes, 16 * 1024 * 1024))) },
  ];
}

interface Measure {
  codec: string;
  raw: number;
  compressed: number;
  compressMs: number;
  decompressMs: number;
}

function measure(codec: Codec, chunks: Buffer[]): Measure {
  // Warm up: first calls pay for allocation and code loading.
  for (const c of chunks.slice(0, 3)) codec.decompress(codec.compress(c));
  const packed: Buffer[] = [];
  let t = performance.now();
  for (const c of chunks) packed.push(codec.compress(c));
  const compressMs = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < packed.length; i++) {
    const out = codec.decompress(packed[i]!);
    if (out.length !== chunks[i]!.length) throw new Error(`${codec.name} did not round-trip`);
  }
  const decompressMs = performance.now() - t;
  return {
    codec: codec.name,
    raw: sum(chunks),
    compressed: sum(packed),
    compressMs,
    decompressMs,
  };
}

function sum(chunks: Buffer[]): number {
  return chunks.reduce((n, c) => n + c.length, 0);
}

const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
const fmtRate = (bitsPerSecond: number): string =>
  !Number.isFinite(bitsPerSecond)
    ? 'always'
    : bitsPerSecond <= 0
      ? 'never'
      : bitsPerSecond >= 1e9
        ? `${(bitsPerSecond / 1e9).toFixed(1)} Gbit/s`
        : `${Math.round(bitsPerSecond / 1e6)} Mbit/s`;

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

const all = await corpora();
console.log(`node ${process.version}, ${CORES}-core model, sync zlib on one core, times per chunk`);
for (const { name, chunks } of all) {
  const raw = sum(chunks);
  console.log(
    `\n${name}: ${chunks.length} chunks, ${(raw / 1048576).toFixed(1)} MiB, average ${Math.round(raw / chunks.length / 1024)} KiB`,
  );
  const header = [
    'codec',
    'ratio',
    'comp MB/s',
    'decomp MB/s',
    ...LINKS.map((l) => l.name),
    'pays below',
    'streamed',
  ];
  const widths = [11, 6, 10, 12, 17, 17, 17, 12, 12];
  console.log(row(header, widths));
  const perChunk = (bytes: number, link: number): number => (bytes * 8) / link / chunks.length;
  console.log(
    row(
      [
        'identity',
        '1.00',
        '-',
        '-',
        ...LINKS.map((l) => `${(perChunk(raw, l.bitsPerSecond) * 1000).toFixed(2)} ms`),
        '-',
        '-',
      ],
      widths,
    ),
  );
  for (const codec of CODECS) {
    const m = measure(codec, chunks);
    const cpuS = (m.compressMs + m.decompressMs) / 1000;
    const cells = LINKS.map((l) => {
      const plain = perChunk(raw, l.bitsPerSecond);
      const serial = cpuS / chunks.length + perChunk(m.compressed, l.bitsPerSecond);
      return `${(serial * 1000).toFixed(2)} ms ×${(plain / serial).toFixed(2)}`;
    });
    const saved = (m.raw - m.compressed) * 8;
    const slowerSide = Math.max(m.compressMs, m.decompressMs) / 1000;
    console.log(
      row(
        [
          m.codec,
          (m.raw / m.compressed).toFixed(2),
          mbps(m.raw, m.compressMs).toFixed(0),
          mbps(m.raw, m.decompressMs).toFixed(0),
          ...cells,
          fmtRate(saved / cpuS),
          fmtRate(saved > 0 ? (CORES * m.raw * 8) / slowerSide : 0),
        ],
        widths,
      ),
    );
  }
}
