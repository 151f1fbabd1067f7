/**
 * Connections the kernel has accepted for a listener but its process has not taken yet. When a
 * release stops listening, those are reset: a release that was slow to accept (a busy host)
 * would drop the connections made just before the public port moved, whatever the drain time.
 * For a listening socket, /proc/net/tcp{,6} give the accept queue's length as `rx_queue`.
 */
import { readFile } from 'node:fs/promises';
import { sleep } from '../../core/index.js';

/** State of a listening socket in /proc/net/tcp. */
const TCP_LISTEN = '0A';

/**
 * Connections waiting in the accept queues of the TCP listeners on `port` (any address of this
 * network namespace); null when no listener is found or /proc cannot be read.
 */
export async function acceptQueueLength(port: number): Promise<number | null> {
  let found = false;
  let waiting = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue ...
      const [, local, , state, queues] = line.trim().split(/\s+/);
      if (state !== TCP_LISTEN || !local || !queues) continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
      found = true;
      waiting += Number.parseInt(queues.slice(queues.indexOf(':') + 1), 16) || 0;
    }
  }
  return found ? waiting : null;
}

/**
 * Waits until nothing waits to be accepted on `port` (or no listener is left), for at most
 * `maxMs`, looking every `everyMs`.
 */
export async function acceptQueueDrained(
  port: number,
  opts: { maxMs: number; everyMs?: number; signal?: AbortSignal },
): Promise<void> {
  const until = performance.now() + opts.maxMs;
  for (;;) {
    const waiting = await acceptQueueLength(port);
    if (!waiting || performance.now() >= until || opts.signal?.aborted) return;
    await sleep(opts.everyMs ?? 20, opts.signal);
  }
}
