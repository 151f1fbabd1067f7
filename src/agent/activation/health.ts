/** `health`: whether the release became healthy, and whether it stays so. */
import { sleep } from '../../core/index.js';
import {
  HealthMonitor,
  describeExit,
  describeOutput,
  waitHealthy,
  type ProcessExit,
} from '../../executor/index.js';
import type { ActivationHook, RunningProcess } from './hook.js';
import { runLifecycle } from './commands.js';
import { watchProcess } from './process-watch.js';

/** Without a health check, a process that stays up this long counts as healthy. */
const NO_CHECK_GRACE_MS = 1_000;

/**
 * Waits for the release's health check (or, without one, for the process to stay up), reports
 * `healthy` or `unhealthy` with the reason, and watches a healthy release from then on (by its
 * health check and its process's exits, or, without one, by the exits: see watchProcess). A
 * process that exits before then is unhealthy at once, the reason saying how it ended and what
 * it wrote last.
 * An unhealthy release keeps running (its process restarted by the supervisor): the control
 * plane sees the report and rolls back. A newer goal ends the wait without a verdict.
 */
export function healthHook(): ActivationHook {
  let monitor: HealthMonitor | null = null;
  let stopWatch: (() => void) | null = null;
  return {
    name: 'health',
    async verify(ctx) {
      const { status } = ctx;
      const { version, config } = ctx.release;
      const target = { host: '127.0.0.1', port: ctx.port, cwd: ctx.dir, env: ctx.env };
      const health = config.health;
      // Ends the wait when the activation is not wanted any more, or when the process exits.
      const waiting = new AbortController();
      const endWait = () => waiting.abort();
      if (ctx.signal.aborted) endWait();
      ctx.signal.addEventListener('abort', endWait, { once: true });
      const exited = exitOf(ctx.process, waiting.signal);
      let result: { healthy: boolean; detail: string };
      try {
        const verdict = health
          ? waitHealthy(health, target, { signal: waiting.signal })
          : sleep(NO_CHECK_GRACE_MS, waiting.signal).then(() =>
              ctx.process?.running === true && ctx.process.restarts === 0
                ? { healthy: true, detail: 'process running' }
                : { healthy: false, detail: 'process exited' },
            );
        const exit = await Promise.race([exited, verdict.then(() => null)]);
        result = exit
          ? {
              healthy: false,
              detail: `${describeExit(exit)} during activation${describeOutput(exit.output)}`,
            }
          : await verdict;
      } finally {
        endWait();
        ctx.signal.removeEventListener('abort', endWait);
      }
      if (ctx.signal.aborted || !ctx.isCurrent()) return;
      // The release's own check, before it is said healthy: a failure is a failed health check.
      const invalid = result.healthy ? await runLifecycle(ctx, 'validate') : null;
      if (invalid) result = { healthy: false, detail: invalid };
      if (ctx.signal.aborted || !ctx.isCurrent()) return;
      status.state = result.healthy ? 'healthy' : 'unhealthy';
      status.detail = result.healthy ? null : result.detail;
      ctx.log(
        `${ctx.service}: v${version} ${status.state}${status.detail ? `: ${status.detail}` : ''}`,
      );
      ctx.changed();
      if (result.healthy && health) {
        const watching = new HealthMonitor(health, target, (healthy, detail) => {
          if (!ctx.isCurrent()) return;
          status.state = healthy ? 'healthy' : 'unhealthy';
          status.detail = healthy ? null : detail;
          ctx.changed();
        });
        monitor = watching;
        monitor.start();
        // An exit is unhealthy at once: the supervisor restarts the process within a fraction
        // of a second, between two probes, and the restart was not checked yet.
        stopWatch =
          ctx.process?.onExit((exit) =>
            watching.markUnhealthy(
              `${describeExit(exit)} after activation${describeOutput(exit.output)}; restarting it`,
            ),
          ) ?? null;
      } else if (result.healthy && ctx.process) {
        stopWatch = watchProcess(ctx.process, NO_CHECK_GRACE_MS, (healthy, detail) => {
          if (!ctx.isCurrent()) return;
          status.state = healthy ? 'healthy' : 'unhealthy';
          status.detail = detail;
          ctx.changed();
        });
      }
    },
    stop() {
      monitor?.stop();
      monitor = null;
      stopWatch?.();
      stopWatch = null;
    },
  };
}

/**
 * Resolves with the process's first exit (at once if it exited already), or with null once
 * `signal` is aborted.
 */
function exitOf(process: RunningProcess | null, signal: AbortSignal): Promise<ProcessExit | null> {
  if (!process) return Promise.resolve(null);
  if (process.firstExit) return Promise.resolve(process.firstExit);
  return new Promise((resolve) => {
    const done = (exit: ProcessExit | null) => {
      stopListening();
      signal.removeEventListener('abort', onAbort);
      resolve(exit);
    };
    const onAbort = () => done(null);
    const stopListening = process.onExit(done);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
