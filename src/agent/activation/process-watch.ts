/** Watching the process of a release without a health check, once it counted as healthy. */
import { describeExit, describeOutput } from '../../executor/index.js';
import type { RunningProcess } from './hook.js';

/**
 * Reports the process unhealthy at each exit, with how it ended and what it last wrote, and
 * healthy again once it has run `graceMs` with neither an exit nor a restart: a crash loop
 * shows as the service's state while the supervisor restarts it. Returns what stops the watch.
 */
export function watchProcess(
  process: RunningProcess,
  graceMs: number,
  onChange: (healthy: boolean, detail: string | null) => void,
): () => void {
  let timer: NodeJS.Timeout | null = null;
  let exited = false;
  let restarts = process.restarts;
  // Every `graceMs` while unhealthy: healthy once the same process ran the whole interval.
  const tick = () => {
    if (process.running && !exited && process.restarts === restarts) {
      timer = null;
      onChange(true, null);
      return;
    }
    exited = false;
    restarts = process.restarts;
    timer = setTimeout(tick, graceMs);
  };
  const stopListening = process.onExit((exit) => {
    exited = true;
    timer ??= setTimeout(tick, graceMs);
    onChange(
      false,
      `${describeExit(exit)} after activation${describeOutput(exit.output)}; restarting it`,
    );
  });
  return () => {
    stopListening();
    if (timer) clearTimeout(timer);
    timer = null;
  };
}
