/** How `slipway status ID`, `slipway plan` and `--wait` show a deployment's waves and bakes. */
import { formatDuration } from '../core/index.js';
import type { DeploymentView } from '../api/index.js';

type Reading = NonNullable<DeploymentView['bake']>['readings'][number];

/** One line per wave: its batches, bake and gates, and where the deployment is in it. */
export function wavesText(d: DeploymentView, now: number): string[] {
  return d.waves.map((w) => {
    const batches =
      w.batchCount === 0
        ? 'no host'
        : w.batchCount === 1
          ? `batch ${w.firstBatch + 1}`
          : `batches ${w.firstBatch + 1}-${w.firstBatch + w.batchCount}`;
    const hosts = d.hosts.filter(
      (h) => h.batch >= w.firstBatch && h.batch < w.firstBatch + w.batchCount,
    ).length;
    const bake = w.bakeMs > 0 ? `, bake ${formatDuration(w.bakeMs)}` : '';
    const gates = w.gates > 0 ? `, ${w.gates} gate(s)` : '';
    return `  wave ${w.name}: ${batches} (${hosts} host(s))${bake}${gates}${whereIn(d, w, now)}`;
  });
}

function whereIn(d: DeploymentView, w: DeploymentView['waves'][number], now: number): string {
  if (d.bake?.wave === w.name) {
    const left = Date.parse(d.bake.until) - now;
    return left > 0 ? ` — baking, ${formatDuration(left)} left` : ' — baking, reading its gates';
  }
  const end = w.firstBatch + w.batchCount;
  if (d.state === 'succeeded' || d.currentBatch >= end) return ' — done';
  if (d.currentBatch >= w.firstBatch && d.state === 'activating') return ' — activating';
  return '';
}

/** The gates' last readings during a bake. */
export function readingsText(readings: readonly Reading[]): string[] {
  return readings.map(
    (r) =>
      `    gate ${r.gate}: ${r.value ?? 'unread'} ${r.ok ? '(holds)' : `(does not hold: ${r.problem ?? ''})`}`,
  );
}
