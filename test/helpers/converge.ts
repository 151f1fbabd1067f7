/** Hosts that report as agents do, without running anything: for tests of the control plane. */
import type { ServiceReport, SlipwayClient } from '../../src/api/index.js';

/** Each host holds what its goal names and runs it, healthy: what an agent would report. */
export function converge(hosts: readonly SlipwayClient[]): Promise<void[]> {
  return Promise.all(
    hosts.map(async (h) => {
      const goal = await h.agentGoal(-1, 0);
      const services: ServiceReport[] = goal.services.map((g) => ({
        service: g.service,
        staged: g.stage.map((r) => r.version),
        stagingFailed: null,
        activationFailed: null,
        fetching: null,
        active: g.active
          ? { version: g.active.version, state: 'healthy', detail: null, port: null, pid: null }
          : null,
      }));
      await h.agentReport({ services });
    }),
  );
}
