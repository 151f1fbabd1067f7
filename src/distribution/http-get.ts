/**
 * One GET over a kept-alive HTTP connection, its body read through the agent's download rate
 * limiter. Used for chunks from the origin, relays and peers alike.
 */
import { Agent, request, type ClientRequest } from 'node:http';
import { SlipwayError } from '../core/index.js';
import type { RateLimiter } from './rate-limiter.js';

/**
 * How long an idle connection stays in the pool. Peers keep theirs open longer (peer-server.ts),
 * so it is the asker that closes, never a server as a request arrives.
 */
export const IDLE_SOCKET_MS = 30_000;

/**
 * Connections are reused: a fetch is hundreds of small requests to the same few hosts. No TCP
 * keep-alive probes on them (`keepAliveMsecs` is their idle delay, 1 s by default): a pooled
 * connection is closed after IDLE_SOCKET_MS anyway, and each probe and its answer cost 132 bytes
 * on both links every second: bench:fleet (30 hosts) counted 2.2 KB/s of them received per idle
 * host; without them a host received 242 KiB for the 1% update instead of 251-255 KiB.
 */
export const keepAlive = new Agent({
  keepAlive: true,
  keepAliveMsecs: 2 * IDLE_SOCKET_MS,
  maxSockets: 16,
  timeout: IDLE_SOCKET_MS,
});

/**
 * The server closed a kept-alive connection just as this request went out on it (a server
 * with its own idle limit, or one restarted): nothing was answered, so the request may be sent
 * again on a fresh connection (what Node's documentation recommends for `reusedSocket`).
 */
export function closedBeforeAnswer(req: ClientRequest, answered: boolean, e: unknown): boolean {
  return !answered && req.reusedSocket && (e as NodeJS.ErrnoException).code === 'ECONNRESET';
}

export interface GetOptions {
  headers?: Record<string, string>;
  limiter?: RateLimiter | null;
  signal?: AbortSignal;
  /** Refuse bodies larger than this. */
  maxBytes: number;
  timeoutMs?: number;
  /**
   * Called when the answer's headers are in: a function returned gets each piece of the body
   * as it arrives (after the rate limiter), before the whole body is.
   */
  tee?: (status: number, headers: GetResult['headers']) => ((piece: Buffer) => void) | null;
}

export interface GetResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Performs the GET; rejects on network errors, resolves with any HTTP status. */
export function httpGet(url: string, opts: GetOptions, retryClosed = true): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const signal = opts.signal;
    if (signal?.aborted) return reject(signal.reason as Error);
    let answered = false;
    const req = request(url, { agent: keepAlive, headers: opts.headers }, (res) => {
      answered = true;
      const parts: Buffer[] = [];
      let size = 0;
      const tee = opts.tee?.(res.statusCode ?? 0, res.headers) ?? null;
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
            tee?.(piece);
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
    req.once('error', (e) => {
      if (retryClosed && closedBeforeAnswer(req, answered, e)) {
        resolve(httpGet(url, opts, false));
      } else reject(e);
    });
    req.end();
  });
}
