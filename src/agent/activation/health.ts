/** `health`: whether the release became healthy, and whether it stays so. */
import { HealthMonitor, waitHealthy } from '../../executor/index.js';
import type { ActivationHook } from './hook.js';

/** Without a health check, a process that stays up this long counts as healthy. */
const NO_CHECK_GRACE_MS = 1_000;

/**
 * Waits for the release's health check (or, without one, for the process to stay up), reports
 * `healthy` or `unhealthy` with the reason, and watches a healthy release from then on. An
 * unhealthy release keeps running: the control plane sees the report and rolls back. A newer
 * goal ends the wait without a verdict.
 */
export function healthHook(): ActivationHook {
  let monitor: HealthMonitor | null = null;
  return {
    name: 'health',
    async verify(ctx) {
      const { status } = ctx;
      const { version, config } = ctx.release;
      const target = { host: '127.0.0.1', port: ctx.port, cwd: ctx.dir, env: ctx.env };
      const health = config.health;
      let result: { healthy: boolean; detail: string };
      if (health) {
        result = await waitHealthy(health, target, { signal: ctx.signal });
      } else {
        await new Promise((res) => setTimeout(res, NO_CHECK_GRACE_MS));
        result =
          ctx.process?.running === true && ctx.process.restarts === 0
            ? { healthy: true, detail: 'process running' }
            : { healthy: false, detail: 'process exited' };
      }
      if (ctx.signal.aborted || !ctx.isCurrent()) return;
      status.state = result.healthy ? 'healthy' : 'unhealthy';
      status.detail = result.healthy ? null : result.detail;
      ctx.log(
        `${ctx.service}: v${version} ${status.state}${status.detail ? `: ${status.detail}` : ''}`,
      );
      ctx.changed();
      if (result.healthy && health) {
        monitor = new HealthMonitor(health, target, (healthy, detail) => {
          if (!ctx.isCurrent()) return;
          status.state = healthy ? 'healthy' : 'unhealthy';
          status.detail = healthy ? null : detail;
          ctx.changed();
        });
        monitor.start();
      }
    },
    stop() {
      monitor?.stop();
      monitor = null;
    },
  };
}
