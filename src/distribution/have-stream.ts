/**
 * The "have" stream: how a peer tells the agents fetching an image from it which chunks it
 * holds, as BitTorrent's HAVE messages do. One long-lived response per watcher instead of a
 * bitmap polled every fraction of a second: a new chunk is known to the region within a
 * fraction of a second (the peer sends the chunks it got in batches, see peer-server.ts), and an
 * idle region costs nothing.
 *
 *   u32 n, then n bytes      the bitmap over the image's distinct chunks in manifest order
 *   u32 i                    chunk i is held now (repeated)
 *   u32 0xFFFFFFFF           heartbeat, every HAVE_HEARTBEAT_MS, so a watcher notices a peer
 *                            that vanished without closing the connection
 *
 * All integers big-endian.
 */
import { request } from 'node:http';
import { SlipwayError } from '../core/index.js';
import { setBit } from './availability.js';
import { closedBeforeAnswer, keepAlive } from './http-get.js';

export const HAVE_HEARTBEAT_MS = 5_000;
/** A watcher that hears nothing for this long takes the peer for gone. */
export const HAVE_IDLE_MS = 3 * HAVE_HEARTBEAT_MS;
const HEARTBEAT_VALUE = 0xffffffff;
/** The largest bitmap accepted: 8 million chunks, far beyond any image. */
const MAX_BITMAP_BYTES = 1 << 20;

export function bitmapFrame(bits: Uint8Array): Buffer {
  const frame = Buffer.alloc(4 + bits.length);
  frame.writeUInt32BE(bits.length, 0);
  frame.set(bits, 4);
  return frame;
}

export function chunkFrame(i: number): Buffer {
  const frame = Buffer.alloc(4);
  frame.writeUInt32BE(i, 0);
  return frame;
}

export const heartbeatFrame = (): Buffer => chunkFrame(HEARTBEAT_VALUE);

/**
 * Reads a have stream as it arrives: the bitmap, kept up to date as chunk messages come.
 * `onChange` is called after the bitmap and after every chunk message.
 */
export class HaveDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private bitmapBytes: number | null = null;
  /** The source's bitmap, once its first frame arrived. */
  private bits: Uint8Array | null = null;

  constructor(private readonly onChange: (bits: Uint8Array) => void) {}

  push(data: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, data]) : data;
    let off = 0;
    for (;;) {
      if (this.bitmapBytes === null) {
        if (this.pending.length - off < 4) break;
        this.bitmapBytes = this.pending.readUInt32BE(off);
        if (this.bitmapBytes > MAX_BITMAP_BYTES) {
          throw new SlipwayError('INVALID', `have stream: bitmap of ${this.bitmapBytes} bytes`);
        }
        off += 4;
      }
      if (!this.bits) {
        if (this.pending.length - off < this.bitmapBytes) break;
        this.bits = new Uint8Array(this.pending.subarray(off, off + this.bitmapBytes));
        off += this.bitmapBytes;
        this.onChange(this.bits);
        continue;
      }
      if (this.pending.length - off < 4) break;
      const i = this.pending.readUInt32BE(off);
      off += 4;
      if (i === HEARTBEAT_VALUE) continue;
      if (i >= this.bits.length * 8) {
        throw new SlipwayError('INVALID', `have stream: chunk ${i} beyond the bitmap`);
      }
      setBit(this.bits, i);
      this.onChange(this.bits);
    }
    this.pending = this.pending.subarray(off);
  }
}

/**
 * Follows `url`'s have stream: `onChange` gets the bitmap when the stream starts and again
 * after each chunk message. Resolves when the stream ends (false when the source does not hold
 * the image, HTTP 404); rejects when the source cannot be reached, answers otherwise, sends
 * nonsense or falls silent for HAVE_IDLE_MS.
 */
export function watchHaves(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
  onChange: (bits: Uint8Array) => void,
  retryClosed = true,
): Promise<boolean> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve(true);
    let answered = false;
    // From the keep-alive pool: a source that does not offer the image yet is asked again on
    // the same connection instead of a new one every time.
    const req = request(url, { headers, agent: keepAlive }, (res) => {
      answered = true;
      if (res.statusCode === 404) {
        res.resume();
        return resolve(false);
      }
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new SlipwayError('UNAVAILABLE', `${url} answered HTTP ${res.statusCode}`));
      }
      const decoder = new HaveDecoder(onChange);
      res.on('data', (data: Buffer) => {
        try {
          decoder.push(data);
        } catch (e) {
          req.destroy(e as Error);
        }
      });
      res.once('end', () => resolve(true));
      res.once('error', reject);
    });
    const onAbort = () => {
      req.destroy();
      resolve(true);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    req.once('close', () => signal.removeEventListener('abort', onAbort));
    req.setTimeout(HAVE_IDLE_MS, () =>
      req.destroy(new SlipwayError('UNAVAILABLE', `${url} fell silent for ${HAVE_IDLE_MS} ms`)),
    );
    req.once('error', (e) => {
      if (retryClosed && closedBeforeAnswer(req, answered, e)) {
        resolve(watchHaves(url, headers, signal, onChange, false));
      } else reject(e);
    });
    req.end();
  });
}
