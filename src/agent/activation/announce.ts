/** `announce`: from here on the host reports the new release, `activating`, on its port. */
import type { ActivationHook } from './hook.js';

/** Publishes the activation's status with the port `port` chose, and says so in the log. */
export function announceHook(): ActivationHook {
  return {
    name: 'announce',
    prepare(ctx) {
      ctx.status.port = ctx.port;
      ctx.publish();
      ctx.log(
        `${ctx.service}: activating v${ctx.release.version}${ctx.port !== null ? ` on port ${ctx.port}` : ''}`,
      );
    },
  };
}
