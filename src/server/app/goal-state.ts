/**
 * What an agent must converge on: per service, the releases to hold and the one to run; and the
 * jobs it is to run.
 */
import type { AgentGoal, GoalRelease } from '../../api/index.js';
import type { HostRow } from '../../store/index.js';
import type { AppContext } from './context.js';
import { peeringOf } from './peering.js';

export async function goalOfHost(ctx: AppContext, host: HostRow): Promise<AgentGoal> {
  const goals = await ctx.goalBook.goalsOf(host.id, host.goalGeneration);
  const resolve = (service: string, version: number | null): Promise<GoalRelease | null> =>
    version === null ? Promise.resolve(null) : ctx.goalBook.release(service, version);
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
  const jobs = await ctx.goalBook.jobsOf(host.id, host.goalGeneration);
  return {
    generation: host.goalGeneration,
    services,
    peering: await peeringOf(ctx, host),
    reportWithinMs: ctx.reportSpread.answer(),
    jobs: jobs.map((j) => ({
      id: j.jobId,
      imageId: j.spec.imageId,
      script: j.spec.script,
      argv: j.spec.argv,
      env: j.spec.env,
      network: j.spec.network,
      limits: j.spec.limits,
      started: j.state === 'running',
      cancel: j.cancelRequested,
    })),
  };
}
