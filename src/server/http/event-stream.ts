/**
 * Server-sent events: first what is stored after `after`, then events as the feed reads them
 * from the outbox. A deployment's stream ends once the deployment has ended.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isTerminal } from '../../core/index.js';
import type { EventRow, Store } from '../../store/index.js';
import type { EventFeed } from '../events/event-feed.js';

const HEARTBEAT_MS = 15_000;

export async function streamEvents(
  store: Store,
  feed: EventFeed,
  request: FastifyRequest,
  reply: FastifyReply,
  opts: { deploymentId: string | null; after: number },
): Promise<FastifyReply> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  // Now, not with the first event or heartbeat: the caller knows at once the stream is open.
  res.flushHeaders();
  let last = opts.after;
  let ended = false;
  const queue: EventRow[] = [];
  const send = (e: EventRow) => {
    if (ended || e.id <= last) return;
    if (opts.deploymentId !== null && e.deploymentId !== opts.deploymentId) return;
    last = e.id;
    const wire = {
      id: e.id,
      at: e.at.toISOString(),
      deploymentId: e.deploymentId,
      type: e.type,
      actor: e.actor,
      data: e.data,
    };
    res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(wire)}\n\n`);
    if (
      opts.deploymentId !== null &&
      e.type === 'deployment.state' &&
      isTerminal((e.data as { state: never }).state)
    ) {
      finish();
    }
  };
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  // Buffer live events while the backlog is read, so none falls between the two.
  let live = false;
  const unsubscribe = feed.subscribe((e) => (live ? send(e) : void queue.push(e)));
  const finish = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    unsubscribe();
    res.end();
  };
  request.raw.once('close', finish);
  for (;;) {
    const batch = await store.events.after(last, opts.deploymentId, 1000);
    for (const e of batch) send(e);
    if (batch.length < 1000 || ended) break;
  }
  for (const e of queue.splice(0)) send(e);
  live = true;
  return reply;
}
