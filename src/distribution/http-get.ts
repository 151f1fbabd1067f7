/**
 * One GET over a kept-alive HTTP connection, its body read through the agent's download rate
 * limiter. Used for chunks from the origin, relays and peers alike.
 */
import { Agent, request } from 'node:http';
import { SlipwayError } from '../core/index.js';
import type { RateLimiter } from './rate-limiter.js';

/** Connections are reused: a fetch is hundreds of small requests to the same few hosts. */
export const keepAlive = new Agent({ keepAlive: true, maxSockets: 16 });

export interface GetOptions {
  headers?: Record<string, string>;
  limiter?: RateLimiter | null;
  signal?: AbortSignal;
  /** Refuse bodies larger than this. */
  maxBytes: number;
  timeoutMs?: number;
}

export interface GetResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Performs the GET; rejects on network errors, resolves with any HTTP status. */
export function httpGet(url: string, opts: GetOptions): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const signal = opts.signal;
    if (signal?.aborted) return reject(signal.reason as Error);
    const req = request(url, { agent: keepAlive, headers: opts.headers }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      void (async () => {
        try {
          for await (const piece of res as AsyncIterable<Buffer>) {
            size += piece.length;
            if (size > opts.maxBytes) {
              throw new SlipwayError(
                'INVALID',
                `response from ${url} exceeds ${opts.maxBytes} bytes`,
              );
            }
            // Not reading while the bucket refills is what slows the sender down (TCP backpressure).
            await opts.limiter?.take(piece.length, signal);
            parts.push(piece);
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts),
          });
        } catch (e) {
          res.destroy();
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      })();
    });
    const onAbort = () => req.destroy(signal?.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.setTimeout(opts.timeoutMs ?? 30_000, () =>
      req.destroy(
        new SlipwayError(
          'UNAVAILABLE',
          `no answer from ${url} within ${opts.timeoutMs ?? 30_000} ms`,
        ),
      ),
    );
    req.once('close', () => signal?.removeEventListener('abort', onAbort));
    req.once('error', reject);
    req.end();
  });
}
