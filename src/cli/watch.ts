/** `--wait`: follows a deployment's event stream and prints its story as it happens. */
import { isTerminal, type DeploymentState } from '../core/index.js';
import type { DeploymentView, SlipwayClient, SlipwayEvent } from '../api/index.js';
import { ProgressLines } from './progress-lines.js';

/** Describes a deployment in one line: what, where, how many hosts. */
export function describeDeployment(d: DeploymentView): string {
  const verb =
    d.kind === 'rollback' ? 'rolling back' : d.kind === 'stage' ? 'staging' : 'deploying';
  return `${verb} ${d.service} v${d.release} (image ${d.imageId.slice(0, 12)}) in ${d.environment}: ${d.hosts.length} host(s), ${d.batchCount} batch(es)`;
}

/** Waits for a deployment to end, printing progress; returns its final view. */
export async function watchDeployment(
  client: SlipwayClient,
  initial: DeploymentView,
  print: (line: string) => void,
): Promise<DeploymentView> {
  const started = Date.now();
  const lines = new ProgressLines(initial);
  const lastBytes = new Map<string, number>();
  const abort = new AbortController();
  const onEvent = (e: SlipwayEvent) => {
    if (e.type === 'deployment.state' && isTerminal(e.data.state as DeploymentState)) abort.abort();
    for (const line of lines.event(e)) print(line);
  };
  // Byte progress is not an event: poll it while the stream runs.
  const progress = setInterval(() => {
    void client
      .getDeployment(initial.id)
      .then((d) => {
        for (const h of d.hosts) {
          if (h.state !== 'staging' || h.bytesTotal === null || h.bytesDone === null) continue;
          if (lastBytes.get(h.hostId) === h.bytesDone) continue;
          lastBytes.set(h.hostId, h.bytesDone);
          print(lines.fetching(h.hostName, h.bytesDone, h.bytesTotal));
        }
      })
      .catch(() => {});
  }, 1000);
  try {
    for (let attempt = 0; !abort.signal.aborted; attempt++) {
      try {
        await client.streamEvents(initial.id, onEvent, abort.signal);
      } catch (e) {
        if (attempt > 20) throw e;
      }
      if (abort.signal.aborted) break;
      // The stream ended without a terminal state (server restarted): check, then follow again.
      const d = await client.getDeployment(initial.id).catch(() => null);
      if (d && isTerminal(d.state)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    clearInterval(progress);
  }
  const final = await client.getDeployment(initial.id);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  print(`${final.state.replace('_', ' ')} in ${secs}s${final.reason ? `: ${final.reason}` : ''}`);
  return final;
}
