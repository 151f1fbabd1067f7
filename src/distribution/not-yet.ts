/**
 * "Not yet": what a relay answers a host asking for a chunk it cannot get from its own source,
 * the origin, right now (the control plane restarting, or out of reach for a moment). It is not
 * an error of the relay: the host asks it again shortly instead of counting it as failing, and
 * takes the chunk from the origin itself only once the relay has said so for RELAY_WAIT_MS
 * (source-state.ts). Without this, a control-plane restart in the middle of a stage sent each
 * region's hosts to the origin for a large part of the image once it was back.
 *
 * On the wire: HTTP 503 with `Retry-After` (seconds) and RETRY_AFTER_MS_HEADER (milliseconds),
 * the reason as the body.
 */
import { SlipwayError } from '../core/index.js';
import { RETRY_AFTER_MS_HEADER } from './relay-ledger.js';

/**
 * How soon a relay asks its hosts to ask again: each host's request is also what makes the relay
 * try the origin again, so the relay resumes within this long of the origin's return.
 */
export const NOT_YET_RETRY_MS = 1_000;

/** A relay cannot get the chunk before `retryAfterMs`: its origin is away. */
export class ChunkNotYetError extends SlipwayError {
  constructor(
    source: string,
    digest: string,
    /** How soon to ask again. */
    readonly retryAfterMs: number,
    /** Why, in a few words (the body of the answer on the wire). */
    readonly why: string,
  ) {
    super('UNAVAILABLE', `${source} cannot send chunk ${digest.slice(0, 12)} yet: ${why}`, {
      digest,
      retryAfterMs,
    });
    this.name = 'ChunkNotYetError';
  }
}

/** The headers of a "not yet" answer. */
export function notYetHeaders(retryAfterMs: number): Record<string, string> {
  return {
    'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
    [RETRY_AFTER_MS_HEADER]: String(Math.ceil(retryAfterMs)),
  };
}

/**
 * How soon to ask again, when an HTTP answer is a "not yet"; null when it is not (a 503
 * without a retry header is the source's own trouble: an error).
 */
export function notYetRetryMs(
  status: number,
  headers: Record<string, string | string[] | undefined>,
): number | null {
  if (status !== 503) return null;
  const ms = Number(headers[RETRY_AFTER_MS_HEADER]);
  if (ms > 0) return ms;
  const seconds = Number(headers['retry-after']);
  if (seconds > 0) return seconds * 1000;
  return null;
}
