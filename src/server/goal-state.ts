/** What an agent must converge on: per service, the releases to hold and the one to run. */
import { serviceSpec, type AgentGoal, type GoalRelease } from '../api/index.js';
import type { HostRow, Store } from '../store/index.js';
import { peeringOf } from './peering.js';

export async function goalOfHost(
  store: Store,
  host: HostRow,
  now: number = Date.now(),
): Promise<AgentGoal> {
  const goals = await store.goalsOfHost(host.id);
  const cache = new Map<string, GoalRelease | null>();
  const resolve = async (service: string, version: number | null): Promise<GoalRelease | null> => {
    if (version === null) return null;
    const key = `${service}:${version}`;
    if (!cache.has(key)) {
      const r = await store.release(service, version);
      cache.set(
        key,
        r ? { version: r.version, imageId: r.imageId, config: serviceSpec.parse(r.config) } : null,
      );
    }
    return cache.get(key) ?? null;
  };
  const services: AgentGoal['services'] = [];
  for (const g of goals) {
    const active = await resolve(g.service, g.activeVersion);
    const staged = await resolve(g.service, g.stageVersion);
    const stage = [active, staged].filter((r): r is GoalRelease => r !== null);
    if (stage.length === 0) continue;
    services.push({
      service: g.service,
      stage: stage.filter((r, i) => stage.findIndex((x) => x.version === r.version) === i),
      active,
    });
  }
  return {
    generation: host.goalGeneration,
    services,
    peering: await peeringOf(store, host, now),
  };
}
