/** Hosts that report as agents do, without running anything: for tests of the control plane. */
import { SlipwayClient, type ServiceReport } from '../../src/api/index.js';
import type { InProcessServer } from './in-process-server.js';

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

/** Enrolls hosts of these names in region `r`, each reporting it runs nothing yet. */
export async function enrollHosts(
  s: Pick<InProcessServer, 'joiner' | 'url'>,
  names: readonly string[],
): Promise<SlipwayClient[]> {
  const hosts: SlipwayClient[] = [];
  for (const name of names) {
    const h = await s.joiner.enroll({ name, region: 'r', labels: {} });
    const c = new SlipwayClient({ server: s.url, token: h.token });
    await c.agentReport({ services: [] });
    hosts.push(c);
  }
  return hosts;
}
