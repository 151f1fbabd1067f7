/** Making a multi-file .torrent of a test tree (aria2c can download and seed, not create). */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { bencode } from './bencode.js';
import type { Tree } from './image.js';

/** A torrent and the hash that names it to the tracker and the peers. */
export interface Torrent {
  data: Buffer;
  infoHash: Buffer;
  pieceLength: number;
  pieces: number;
}

/**
 * The piece length for an image: about 1,500 pieces, a power of two between 256 KiB and 1 MiB
 * (small pieces mean more hashes and requests; big ones, a longer wait before a host can
 * pass a piece on).
 */
export function pieceLengthFor(bytes: number): number {
  let len = 256 * 1024;
  while (len < 1024 * 1024 && bytes / len > 1500) len *= 2;
  return len;
}

/**
 * Builds the torrent of `tree`: its files in order under the directory `name` (so a client
 * with `--dir D` reads or writes `D/name/<path>`), SHA-1 of every piece across file borders.
 */
export async function createTorrent(tree: Tree, name: string, announce: string): Promise<Torrent> {
  const pieceLength = pieceLengthFor(tree.bytes);
  const hashes: Buffer[] = [];
  let piece = createHash('sha1');
  let inPiece = 0;
  for (const f of tree.files) {
    for await (const chunk of createReadStream(join(tree.dir, f.path), {
      highWaterMark: 1024 * 1024,
    })) {
      let b = chunk as Buffer;
      while (b.length > 0) {
        const take = Math.min(b.length, pieceLength - inPiece);
        piece.update(b.subarray(0, take));
        inPiece += take;
        b = b.subarray(take);
        if (inPiece === pieceLength) {
          hashes.push(piece.digest());
          piece = createHash('sha1');
          inPiece = 0;
        }
      }
    }
  }
  if (inPiece > 0) hashes.push(piece.digest());
  const info = {
    name,
    'piece length': pieceLength,
    pieces: Buffer.concat(hashes),
    files: tree.files.map((f) => ({ length: f.size, path: f.path.split('/') })),
  };
  const infoHash = createHash('sha1').update(bencode(info)).digest();
  return {
    data: bencode({ announce, 'created by': 'slipway bench', info }),
    infoHash,
    pieceLength,
    pieces: hashes.length,
  };
}
