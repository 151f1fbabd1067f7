/** `port`: the port the service listens on. */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { freePort } from '../../executor/index.js';
import type { ActivationContext, ActivationHook } from './hook.js';

/** Sets `ctx.port`: the release's fixed port, a dynamic one kept for the host, or none. */
export function portHook(): ActivationHook {
  return {
    name: 'port',
    async prepare(ctx) {
      // A process taken over listens where it was started: the service runner checked it is
      // the port the release asks for (the dynamic one this host keeps, or the fixed one).
      if (ctx.adopt) {
        ctx.port = ctx.adopt.port;
        return;
      }
      const port = ctx.release.config.port;
      ctx.port = port === 'dynamic' ? await stablePort(ctx) : port;
    },
  };
}

/**
 * A dynamic port is chosen once per host and kept across releases, so services that depend
 * on this one keep reaching it after an upgrade. The saved one is given up only when something
 * else took it; the replaced release, if it still runs, holds it for the service.
 */
async function stablePort(ctx: ActivationContext): Promise<number> {
  const file = ctx.layout.portFile(ctx.service);
  const saved = Number(await readFile(file, 'utf8').catch(() => ''));
  if (Number.isInteger(saved) && saved > 0) {
    const heldByPrevious = ctx.previous?.live === true && ctx.previous.port === saved;
    // Published, the new release runs beside the old one: it needs a port of its own.
    const beside = heldByPrevious && ctx.release.config.publish !== undefined;
    if (!beside && (heldByPrevious || (await isBindable(saved)))) return saved;
  }
  const port = await freePort();
  await writeFile(file, String(port));
  return port;
}

function isBindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
