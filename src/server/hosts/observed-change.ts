/**
 * Whether a host's report changed what a deployment step reads of it (per service: releases
 * staged, a staging failure, the active release's version, state and detail). Progress
 * figures, byte counts and peer URLs change with most reports and move no deployment: a report
 * that changes only those does not make the orchestrator look at the host again.
 */
import type { HostReport, ServiceReport } from '../../api/index.js';

export function observedChanged(a: HostReport | null, b: HostReport | null): boolean {
  if (a === b) return false;
  const x = a?.services ?? [];
  const y = b?.services ?? [];
  if (x.length !== y.length) return true;
  for (let i = 0; i < x.length; i++) if (serviceChanged(x[i]!, y[i]!)) return true;
  return false;
}

function serviceChanged(a: ServiceReport, b: ServiceReport): boolean {
  if (a.service !== b.service) return true;
  if (a.staged.length !== b.staged.length) return true;
  for (let i = 0; i < a.staged.length; i++) if (a.staged[i] !== b.staged[i]) return true;
  const f = a.stagingFailed;
  const g = b.stagingFailed;
  if (f === null || g === null ? f !== g : f.version !== g.version || f.error !== g.error)
    return true;
  const u = a.activationFailed;
  const v = b.activationFailed;
  if (u === null || v === null ? u !== v : u.version !== v.version || u.error !== v.error)
    return true;
  const p = a.active;
  const q = b.active;
  if (p === null || q === null) return p !== q;
  return p.version !== q.version || p.state !== q.state || p.detail !== q.detail;
}
