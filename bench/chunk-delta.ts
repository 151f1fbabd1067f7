/**
 * Which sub-chunk sizes the chunk delta codec should cut with: delta size against the bytes the
 * edits changed, and encode and apply throughput, for a few candidate sizes side by side.
 *
 *   npm run bench:delta [-- --trials 16]
 *
 * Each scenario edits pseudo-random base chunks of the image chunker's average size (CHUNKING)
 * at pseudo-random places, the same ones for
 * every candidate. Random bytes are the hard case for matching (nothing but the unchanged bytes
 * can be shared); the many tiny overwrites stand for a rebuilt binary, where moved code shifts
 * addresses all over. Changed bytes are those the edits write (an overwrite's or an insertion's
 * length); a deletion writes none, so the deletion-only row shows delta bytes instead of a ratio.
 * A delta the encoder refuses counts as the whole target. The "no-ext" column turns off the
 * byte-level part (common prefix and suffix, extending matches), leaving sub-chunk matching only.
 * Throughput is MB/s of target per core: the fastest of several runs in process CPU time, so that
 * other load on the machine distorts it less; the reference line gives the machine's scale.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  CHUNKING,
  DELTA_CHUNKING,
  applyChunkDelta,
  chunkBoundaries,
  encodeChunkDelta,
} from '../src/image/index.js';
import type { ChunkDeltaOptions } from '../src/image/index.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '16' },
  },
});
const TRIALS = Number(values.trials);
const MIN_ROUNDS = 5;
const MIN_MICROS = 200_000;
const KiB = 1024;
/** Base chunks of the image chunker's average size: what a delta is usually made against. */
const CHUNK = CHUNKING.avgSize;
/** The largest target a delta may rebuild here: room for the largest insertion below. */
const MAX_TARGET = CHUNK + 128 * KiB;

/** Reproducible pseudo-random bytes (AES-CTR keystream of a seed). */
function pseudoRandom(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

/** A small deterministic generator for edit positions. */
function positions(seed: string): () => number {
  const bytes = pseudoRandom(4096, `positions-${seed}`);
  let i = 0;
  return () => {
    const value = bytes.readUInt32LE(i % bytes.length) / 2 ** 32;
    i += 4;
    return value;
  };
}

interface Edit {
  kind: 'overwrite' | 'insert' | 'delete';
  size: number;
}

interface Scenario {
  name: string;
  edits: Edit[];
}

const ow = (size: number): Edit => ({ kind: 'overwrite', size });
const ins = (size: number): Edit => ({ kind: 'insert', size });
const del = (size: number): Edit => ({ kind: 'delete', size });

const SCENARIOS: Scenario[] = [
  { name: 'overwrite 1 KiB', edits: [ow(KiB)] },
  { name: 'overwrite 10 KiB', edits: [ow(10 * KiB)] },
  { name: 'overwrite 82 KiB', edits: [ow(82 * KiB)] },
  { name: 'insert 1 KiB', edits: [ins(KiB)] },
  { name: 'insert 10 KiB', edits: [ins(10 * KiB)] },
  { name: 'insert 82 KiB', edits: [ins(82 * KiB)] },
  { name: 'delete 10 KiB', edits: [del(10 * KiB)] },
  { name: '4 × overwrite 1 KiB', edits: [ow(KiB), ow(KiB), ow(KiB), ow(KiB)] },
  { name: '4 × overwrite 10 KiB', edits: [ow(10 * KiB), ow(10 * KiB), ow(10 * KiB), ow(10 * KiB)] },
  {
    name: 'mixed: ow 2K, ins 4K, del 3K, ow 10K',
    edits: [ow(2 * KiB), ins(4 * KiB), del(3 * KiB), ow(10 * KiB)],
  },
  { name: '32 × overwrite 16 B', edits: Array.from({ length: 32 }, () => ow(16)) },
  { name: '128 × overwrite 8 B', edits: Array.from({ length: 128 }, () => ow(8)) },
];

interface Candidate {
  name: string;
  options: ChunkDeltaOptions;
}

const sized = (avg: number, extend = true): Candidate => ({
  name: `${avg >= KiB ? `${avg / KiB}K` : avg}${extend ? '' : ' no-ext'}`,
  options: {
    params: { minSize: avg / 4, avgSize: avg, maxSize: avg * 8 },
    extend,
  },
});

const CANDIDATES: Candidate[] = [
  sized(256),
  sized(512),
  sized(KiB),
  sized(2 * KiB),
  sized(4 * KiB),
  sized(512, false),
];

/** Applies the edits at pseudo-random places, front to back so that each lands in the data. */
function edit(base: Buffer, edits: Edit[], seed: string): Buffer {
  const next = positions(seed);
  const slot = Math.floor(base.length / edits.length);
  const parts: Buffer[] = [];
  let at = 0;
  edits.forEach((e, i) => {
    const room = slot - (e.kind === 'insert' ? 0 : e.size);
    const pos = i * slot + Math.floor(next() * Math.max(room, 1));
    parts.push(base.subarray(at, pos));
    if (e.kind !== 'delete') parts.push(pseudoRandom(e.size, `${seed}-edit-${i}`));
    at = e.kind === 'insert' ? pos : pos + e.size;
  });
  parts.push(base.subarray(at));
  return Buffer.concat(parts);
}

interface Pair {
  base: Buffer;
  target: Buffer;
}

function pairsOf(scenario: Scenario): Pair[] {
  return Array.from({ length: TRIALS }, (_, i) => {
    const base = pseudoRandom(CHUNK, `base-${i}`);
    return { base, target: edit(base, scenario.edits, `${scenario.name}-${i}`) };
  });
}

/** CPU microseconds of the fastest of several runs of `fn` (the least disturbed by other load). */
function bestMicros(fn: () => void): number {
  let best = Infinity;
  let total = 0;
  for (let round = 0; round < MIN_ROUNDS || total < MIN_MICROS; round++) {
    const start = process.cpuUsage();
    fn();
    const used = process.cpuUsage(start);
    best = Math.min(best, used.user + used.system);
    total += used.user + used.system;
  }
  return Math.max(best, 1);
}

interface Result {
  deltaBytes: number;
  encodeMBps: number;
  applyMBps: number;
}

function measure(pairs: Pair[], options: ChunkDeltaOptions): Result {
  const deltas = pairs.map((p) => encodeChunkDelta(p.base, p.target, options));
  const applied = pairs.filter((p, i) => {
    const delta = deltas[i];
    if (delta && !applyChunkDelta(p.base, delta, MAX_TARGET).equals(p.target)) {
      throw new Error('round trip failed');
    }
    return delta !== null;
  });
  const bytes = (list: Pair[]): number => list.reduce((n, p) => n + p.target.length, 0);
  const encodeUs = bestMicros(() => {
    for (const p of pairs) encodeChunkDelta(p.base, p.target, options);
  });
  const applyUs = bestMicros(() => {
    deltas.forEach((d, i) => {
      if (d) applyChunkDelta(pairs[i]!.base, d, MAX_TARGET);
    });
  });
  const sent = deltas.reduce((n, d, i) => n + (d?.length ?? pairs[i]!.target.length), 0);
  return {
    deltaBytes: sent / pairs.length,
    encodeMBps: bytes(pairs) / encodeUs,
    applyMBps: bytes(applied) / applyUs,
  };
}

function changedBytes(scenario: Scenario): number {
  return scenario.edits.reduce((n, e) => n + (e.kind === 'delete' ? 0 : e.size), 0);
}

function cell(scenario: Scenario, r: Result): string {
  const changed = changedBytes(scenario);
  const size = changed > 0 ? (r.deltaBytes / changed).toFixed(3) : `${Math.round(r.deltaBytes)} B`;
  const apply = r.applyMBps > 0 ? r.applyMBps.toFixed(0) : '-';
  return `${size.padStart(7)} ${r.encodeMBps.toFixed(0).padStart(5)} ${apply.padStart(6)}`;
}

/** What the machine does with the same bytes elsewhere, to read the table against. */
function reference(): string {
  const data = pseudoRandom(CHUNK, 'reference');
  const rate = (fn: () => void): string => (data.length / bestMicros(fn)).toFixed(0);
  const chunking = rate(() => chunkBoundaries(data, CHUNKING));
  const sha256 = rate(() => createHash('sha256').update(data).digest());
  return `reference on this machine: image chunking ${chunking} MB/s, SHA-256 ${sha256} MB/s`;
}

function main(): void {
  const nameWidth = Math.max(...SCENARIOS.map((s) => s.name.length));
  const cellWidth = 21;
  console.log(
    `${TRIALS} ${CHUNK / KiB} KiB pseudo-random base chunks per scenario; sub-chunks min = avg/4, max = avg × 8`,
  );
  console.log('cells: delta bytes / changed bytes, encode MB/s, apply MB/s (of target, per core)');
  const { minSize, avgSize, maxSize } = DELTA_CHUNKING;
  console.log(`agents use DELTA_CHUNKING: min ${minSize}, avg ${avgSize}, max ${maxSize}`);
  console.log(`${reference()}\n`);
  console.log(
    [
      'scenario'.padEnd(nameWidth),
      ...CANDIDATES.map((c) => `avg ${c.name}`.padStart(cellWidth)),
    ].join(' |'),
  );
  console.log(['-'.repeat(nameWidth), ...CANDIDATES.map(() => '-'.repeat(cellWidth))].join('-+'));
  for (const scenario of SCENARIOS) {
    const pairs = pairsOf(scenario);
    const cells = CANDIDATES.map((c) =>
      cell(scenario, measure(pairs, c.options)).padStart(cellWidth),
    );
    console.log([scenario.name.padEnd(nameWidth), ...cells].join(' |'));
  }
}

main();
