/** What an agent must converge on: per service, the releases to hold and the one to run. */
import type { AgentGoal, GoalRelease } from '../../api/index.js';
import type { HostRow } from '../../store/index.js';
import type { AppContext } from './context.js';
import { peeringOf } from './peering.js';

export async function goalOfHost(ctx: AppContext, host: HostRow): Promise<AgentGoal> {
  const goals = await ctx.store.goals.ofHost(host.id);
  const cache = new Map<string, GoalRelease | null>();
  const resolve = async (service: string, version: number | null): Promise<GoalRelease | null> => {
    if (version === null) return null;
    const key = `${service}:${version}`;
    if (!cache.has(key)) {
      const r = await ctx.store.releases.get(service, version);
      cache.set(key, r ? { version: r.version, imageId: r.imageId, config: r.config } : null);
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
    peering: await peeringOf(ctx, host),
  };
}
