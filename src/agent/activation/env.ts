/** `env`: the environment the service process and its command probes get. */
import { processEnvironment } from '../../executor/index.js';
import type { ActivationHook } from './hook.js';

/**
 * Adds to `ctx.env` the few variables of the agent's own environment a service should see, the
 * release's `env`, what Slipway tells every service (its name, release, host and PORT), and the
 * port of each service it comes after that runs here, as `<SERVICE>_PORT`. A process taken over
 * keeps the environment it was started with: that one is read back, for the health probes.
 */
export function envHook(): ActivationHook {
  return {
    name: 'env',
    async prepare(ctx) {
      const { config, version } = ctx.release;
      Object.assign(ctx.env, {
        ...inherited(),
        ...config.env,
        SLIPWAY_SERVICE: ctx.service,
        SLIPWAY_RELEASE: `v${version}`,
        SLIPWAY_HOST: ctx.hostName,
        ...(ctx.port !== null ? { PORT: String(ctx.port) } : {}),
      });
      for (const dep of config.after) {
        const p = ctx.portOf(dep);
        if (p !== null) ctx.env[`${dep.toUpperCase().replace(/-/g, '_')}_PORT`] = String(p);
      }
      if (ctx.adopt) ctx.env = (await processEnvironment(ctx.adopt.pid)) ?? ctx.env;
    },
  };
}

/** The few variables of the agent's environment a service should see. */
function inherited(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG', 'TZ']) {
    const v = process.env[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
