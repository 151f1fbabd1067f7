/** Deployments as a table: the one listing of `slipway deployments` and `slipway status`. */
import { formatDuration, isTerminal } from '../core/index.js';
import type { DeploymentView } from '../api/index.js';
import { shortId, table } from './output.js';

/**
 * One row per deployment: its short id (which every verb taking a deployment accepts), what it
 * rolled out where, how it ended, when it started (UTC) and how long it took (so far, while it
 * runs; `now` is the time then).
 */
export function deploymentsTable(deployments: DeploymentView[], now: number): string {
  return table(
    ['ID', 'SERVICE', 'ENV', 'KIND', 'RELEASE', 'STATE', 'STARTED (UTC)', 'TOOK'],
    deployments.map((d) => [
      shortId(d.id),
      d.service,
      d.environment,
      d.kind,
      `v${d.release}`,
      d.state.replace('_', ' '),
      startedText(d.createdAt),
      tookText(d, now),
    ]),
  );
}

/** `2026-12-07 04:53:19` from an ISO time. */
function startedText(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19);
}

function tookText(d: DeploymentView, now: number): string {
  const start = Date.parse(d.createdAt);
  if (isTerminal(d.state)) return roughly(Date.parse(d.updatedAt) - start);
  return `${roughly(now - start)} so far`;
}

/** A duration to a tenth of a second: `12.3s`, `1m30.1s`. */
function roughly(ms: number): string {
  return formatDuration(Math.max(0, Math.round(ms / 100) * 100));
}
