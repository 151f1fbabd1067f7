/**
 * A service's lifecycle hooks (`hooks:` in the service map): commands the agent runs in the
 * release's directory with the service's environment, each within the hooks' timeout, its
 * whole process group killed at the timeout.
 *
 * - `beforeActivate` runs first of all (the hook is first in the list): when it fails, nothing
 *   was stopped, and the release that runs serves on; the host reports the activation failed.
 * - `validate` runs once the health check passed, before the release is reported healthy (see
 *   health.ts): when it fails, the release is unhealthy, as if its health check had failed.
 * - `afterActivate` runs once the release is healthy; a failure is logged, and changes nothing.
 */
import type { RunSpec } from '../../core/index.js';
import { argvOf, runCommand } from '../../executor/index.js';
import type { ActivationContext, ActivationHook } from './hook.js';

/** Runs `beforeActivate` (prepare) and `afterActivate` (commit). */
export function lifecycleHook(): ActivationHook {
  return {
    name: 'beforeActivate',
    async prepare(ctx) {
      const failed = await runLifecycle(ctx, 'beforeActivate');
      if (failed) throw new Error(failed);
    },
    async commit(ctx) {
      const failed = await runLifecycle(ctx, 'afterActivate');
      if (failed) ctx.log(`${ctx.service}: v${ctx.release.version}: ${failed}`);
    },
  };
}

/** The most of a hook's output a failure carries (its end). */
const OUTPUT_SHOWN = 600;

/**
 * Runs one of the release's hooks, if it has it (not for a process taken over: it ran when
 * that one was activated); answers why it failed, or null.
 */
export async function runLifecycle(
  ctx: Pick<
    ActivationContext,
    'release' | 'layout' | 'service' | 'hostName' | 'adopt' | 'signal' | 'log'
  >,
  which: 'beforeActivate' | 'validate' | 'afterActivate',
): Promise<string | null> {
  const hooks = ctx.release.config.hooks;
  const spec: RunSpec | null | undefined = hooks?.[which];
  if (!hooks || !spec || ctx.adopt) return null;
  const { version, config } = ctx.release;
  const r = await runCommand(argvOf(spec), {
    cwd: ctx.layout.release(ctx.service, version),
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...config.env,
      SLIPWAY_SERVICE: ctx.service,
      SLIPWAY_RELEASE: `v${version}`,
      SLIPWAY_HOST: ctx.hostName,
      SLIPWAY_HOOK: which,
    },
    timeoutMs: hooks.timeoutMs,
    signal: ctx.signal,
  }).catch((e: unknown) => ({ error: (e as Error).message }));
  if ('error' in r) return `${which} could not run: ${r.error}`;
  const output = `${r.stdout}${r.stderr}`.trim();
  if (r.code === 0 && !r.timedOut) {
    ctx.log(`${ctx.service}: v${version}: ${which} ran${output ? `: ${tail(output)}` : ''}`);
    return null;
  }
  const how = r.timedOut
    ? `timed out after ${hooks.timeoutMs} ms`
    : r.code !== null
      ? `exited ${r.code}`
      : `killed by ${r.signal}`;
  return `${which} ${how}${output ? `: ${tail(output)}` : ''}`;
}

function tail(s: string): string {
  const t = s.length > OUTPUT_SHOWN ? `…${s.slice(-OUTPUT_SHOWN)}` : s;
  return t.replace(/\s*\n\s*/g, ' | ');
}
