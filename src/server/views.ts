/** Turns stored rows (checked by the store) into the API's shapes. */
import type { HostObservation } from '../core/index.js';
import type * as api from '../api/index.js';
import type { DeploymentRow, HostRow, ImageRow, ReleaseRow } from '../store/index.js';
import { reportOf, type LiveHostRow } from './hosts/live-hosts.js';
import { isOnline } from './hosts/online.js';

export { DROPPED_POLL_GRACE_MS, ONLINE_WINDOW_MS, isOnline } from './hosts/online.js';

/** What a host said about a service; a host that is not registered (any more) was removed. */
export function observationOf(host: HostRow | undefined, service: string): HostObservation {
  if (!host) return { removed: true, staged: [], stagingFailed: null, active: null };
  const s = reportOf(host).services.find((x) => x.service === service);
  if (!s) return { staged: [], stagingFailed: null, active: null };
  return {
    staged: s.staged,
    stagingFailed: s.stagingFailed,
    activationFailed: s.activationFailed,
    active: s.active && {
      version: s.active.version,
      state: s.active.state,
      detail: s.active.detail,
    },
  };
}

export function hostView(h: LiveHostRow, now: number): api.Host {
  const report = reportOf(h);
  return {
    id: h.id,
    name: h.name,
    region: h.region,
    labels: h.labels,
    online: isOnline(h, now),
    lastSeenAt: h.lastSeenAt?.toISOString() ?? null,
    services: report.services,
    bytesReceived: report.bytesReceived,
    bytesServed: report.bytesServed,
    peerUrl: report.checkedPeerUrl,
    peerUrlProblem: report.peerUrlProblem,
    relay: h.relay,
  };
}

export function imageView(i: ImageRow): api.Image {
  return { ...i, createdAt: i.createdAt.toISOString() };
}

export function releaseView(r: ReleaseRow): api.Release {
  return {
    service: r.service,
    version: r.version,
    imageId: r.imageId,
    environment: r.environment,
    createdAt: r.createdAt.toISOString(),
  };
}

export function deploymentView(
  row: DeploymentRow,
  hostOf: (id: string) => HostRow | undefined,
): api.DeploymentView {
  const d = row.deployment;
  return {
    id: d.id,
    service: d.service,
    environment: d.environment,
    kind: d.kind,
    release: d.release,
    imageId: row.imageId,
    state: d.state,
    currentBatch: d.currentBatch,
    batchCount: d.batchCount,
    failureThreshold: d.failureThreshold,
    reason: d.reason,
    approval: d.approval
      ? {
          required: d.approval.required,
          requestedBy: d.approval.requestedBy,
          approvals: d.approval.approvals.map((a) => ({ by: a.by, at: iso(a.at) })),
          expiresAt: iso(d.approval.expiresAt),
          rejected: d.approval.rejected && {
            ...d.approval.rejected,
            at: iso(d.approval.rejected.at),
          },
        }
      : null,
    queuedBehind: d.queuedBehind ?? null,
    waves: (d.waves ?? []).map((w) => ({ ...w, gates: w.gates.length })),
    bake: d.bake
      ? {
          wave: d.waves?.[d.bake.wave]?.name ?? String(d.bake.wave),
          until: iso(d.bake.until),
          readings: d.bake.readings,
        }
      : null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    hosts: d.hosts.map((h) => {
      const host = hostOf(h.hostId);
      const fetching = host
        ? reportOf(host).services.find((s) => s.service === d.service)?.fetching
        : undefined;
      const mine = fetching && fetching.version === d.release ? fetching : null;
      return {
        hostId: h.hostId,
        hostName: h.hostName,
        region: h.region,
        batch: h.batch,
        previous: h.previous,
        state: h.state,
        detail: h.detail,
        bytesDone: mine?.bytesDone ?? null,
        bytesTotal: mine?.bytesTotal ?? null,
      };
    }),
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
