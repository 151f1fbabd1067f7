/**
 * `publish`: the zero-downtime switch of a service with a public port (`publish:` in the service
 * map), in place of `switch`. The release being replaced serves on while the new one starts on
 * a port of its own (`port` picks a free one) and is checked; once it is healthy, the public port
 * points at it (see public-ports.ts), connections already open finish on the old release, and
 * that one is stopped after the drain time. A new release that fails never touched the public
 * port: the old one serves on until the control plane rolls back.
 */
import { realpath } from 'node:fs/promises';
import { sleep } from '../../core/index.js';
import { acceptQueueDrained } from './accept-queue.js';
import type { ActivationHook } from './hook.js';
import { swapLink } from './switch.js';

/** How long, past the drain, a release replaced may take to accept what the kernel queued for it. */
const ACCEPT_WAIT_MAX_MS = 5_000;

export function publishHook(): ActivationHook {
  return {
    name: 'publish',
    async prepare(ctx) {
      await swapLink(ctx.layout.current(ctx.service), `releases/v${ctx.release.version}`);
      ctx.dir = await realpath(ctx.layout.release(ctx.service, ctx.release.version));
    },
    async commit(ctx) {
      const publish = ctx.release.config.publish!;
      if (ctx.port === null) throw new Error('a published service needs a port of its own');
      const via = await ctx.publicPorts.point(ctx.service, publish.port, ctx.port, publish.via);
      ctx.status.published = { port: publish.port, via };
      ctx.changed();
      ctx.log(
        `${ctx.service}: public port ${publish.port} now serves v${ctx.release.version} (port ${ctx.port}, through ${via})`,
      );
      if (ctx.previous?.live) {
        // Connections opened before the switch finish on the old release meanwhile.
        await sleep(publish.drainMs, ctx.signal).catch(() => {});
        // And those it has not even accepted yet (a busy host) are taken before it stops
        // listening, which would reset them.
        if (ctx.previous.port !== null) {
          await acceptQueueDrained(ctx.previous.port, {
            maxMs: ACCEPT_WAIT_MAX_MS,
            signal: ctx.signal,
          });
        }
        await ctx.previous.stop();
      }
    },
  };
}
