/** `switch`: makes the new release the service's `current` one, once the old one has stopped. */
import { realpath, rename, symlink } from 'node:fs/promises';
import type { ActivationHook } from './hook.js';

/**
 * Stops the release being replaced, then points `current` at the new one. The process runs in
 * the release's own directory, links resolved, so a later swap does not move it.
 */
export function switchHook(): ActivationHook {
  return {
    name: 'switch',
    async prepare(ctx) {
      await ctx.previous?.stop();
      await swapLink(ctx.layout.current(ctx.service), `releases/v${ctx.release.version}`);
      ctx.dir = await realpath(ctx.layout.release(ctx.service, ctx.release.version));
    },
  };
}

/** Points `link` at `target` atomically: a new link is made beside it and renamed over it. */
export async function swapLink(link: string, target: string): Promise<void> {
  const tmp = `${link}.tmp-${process.pid}-${Date.now()}`;
  await symlink(target, tmp);
  await rename(tmp, link);
}
