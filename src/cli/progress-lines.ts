/**
 * The lines `--wait` prints for a deployment's events: pure, so that what a user reads can be
 * tested without a server. Each line names the release it is about where two are in play:
 * after a failed activation a host goes back to the release it ran before, and the failure is
 * the new release's, not the one it is back on.
 */
import { ALREADY_ON_DISK, HOST_REMOVED, isTerminal, type DeploymentState } from '../core/index.js';
import type { DeploymentView, SlipwayEvent } from '../api/index.js';
import { formatBytes } from './output.js';
import { readingsText } from './waves-text.js';

/** What the lines need to know of the deployment they follow. */
export type Followed = Pick<DeploymentView, 'release' | 'batchCount' | 'hosts'>;

/** Formats one deployment's events into progress lines, host names aligned. */
export class ProgressLines {
  private readonly width: number;
  private readonly byId: ReadonlyMap<string, Followed['hosts'][number]>;
  /** Whether "every host staged" was said (activation resumes after bakes and pauses too). */
  private saidStaged = false;

  constructor(private readonly d: Followed) {
    this.width = d.hosts.reduce((w, h) => Math.max(w, h.hostName.length), 4);
    this.byId = new Map(d.hosts.map((h) => [h.hostId, h]));
  }

  /** The lines an event prints (none for most). */
  event(e: SlipwayEvent): string[] {
    const data = e.data;
    if (e.type === 'hosts.state') {
      const detail = typeof data.detail === 'string' ? data.detail : null;
      const moved = Array.isArray(data.hosts) ? (data.hosts as unknown[]) : [];
      const lines: string[] = [];
      for (const m of moved) {
        const { hostId, hostName } = (m ?? {}) as { hostId?: unknown; hostName?: unknown };
        const host = typeof hostId === 'string' ? this.byId.get(hostId) : undefined;
        const words = this.hostState(text(data.state), detail, host?.previous ?? null);
        if (words !== undefined)
          lines.push(this.hostLine(text(hostName ?? host?.hostName ?? hostId), words));
      }
      return lines;
    }
    if (e.type === 'batch.started') {
      const hosts = (data.hosts as string[] | undefined) ?? [];
      return [
        `  batch ${Number(data.batch) + 1}/${this.d.batchCount}: activating ${hosts.join(', ')}`,
      ];
    }
    if (e.type === 'wave.baking') {
      const until = new Date(Number(data.until)).toISOString().slice(11, 19);
      const gates = Number(data.gates) > 0 ? `, holding ${Number(data.gates)} gate(s)` : '';
      return [`  wave ${text(data.wave)}: healthy; baking until ${until} UTC${gates}`];
    }
    if (e.type === 'wave.gates') {
      const readings = (data.readings as Parameters<typeof readingsText>[0] | undefined) ?? [];
      return [`  wave ${text(data.wave)} gates:`, ...readingsText(readings)];
    }
    if (e.type === 'wave.passed') return [`  wave ${text(data.wave)} passed`];
    if (e.type === 'deployment.approved') {
      return [
        `  approved by ${text(data.by)} (${Number(data.approvals)} of ${Number(data.required)})`,
      ];
    }
    if (e.type === 'deployment.rejected') {
      return [`  rejected by ${text(data.by)}: ${text(data.reason)}`];
    }
    if (e.type === 'deployment.state') {
      const state = text(data.state);
      // A bake is told by its wave's events.
      if (state === 'staging' || state === 'baking' || isTerminal(state as DeploymentState))
        return [];
      if (state === 'activating') {
        if (this.saidStaged) return [];
        this.saidStaged = true;
        return ['  every host staged'];
      }
      return [`  ${state.replace('_', ' ')}${data.reason ? `: ${text(data.reason)}` : ''}`];
    }
    return [];
  }

  /** A host's fetch progress. */
  fetching(hostName: string, done: number, total: number): string {
    return this.hostLine(hostName, `fetching ${formatBytes(done)} / ${formatBytes(total)}`);
  }

  private hostLine(name: string, words: string): string {
    return `  ${name.padEnd(this.width)}  ${words}`;
  }

  private hostState(
    state: string,
    detail: string | null,
    previous: number | null,
  ): string | undefined {
    const release = `v${this.d.release}`;
    switch (state) {
      case 'pending':
        return undefined;
      case 'staging':
        return 'fetching';
      case 'staged':
        return detail === ALREADY_ON_DISK ? `${release} already on disk` : 'staged';
      case 'healthy':
        return 'healthy';
      case 'failed':
        return `FAILED${detail ? `: ${detail}` : ''}`;
      case 'reverting':
      case 'reverted': {
        if (detail === HOST_REMOVED) return `gone: ${detail}`;
        const where =
          previous === null
            ? state === 'reverting'
              ? `stopping ${release} (no release ran before)`
              : `stopped ${release} (no release ran before)`
            : state === 'reverting'
              ? `returning to v${previous}`
              : `back on v${previous}`;
        return `${where}${detail ? ` (${release} failed: ${detail})` : ''}`;
      }
      default:
        return `${state}${detail ? `: ${detail}` : ''}`;
    }
  }
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
