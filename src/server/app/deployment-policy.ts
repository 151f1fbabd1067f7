/**
 * What an environment's policy and the service map ask of a new deployment: its dependencies
 * deployed first, a deploy window open and no freeze (unless the glass is broken), the image
 * promoted from where the policy says. Each throws POLICY saying why and what to do.
 */
import {
  PolicyError,
  deployWindowCheck,
  resolveEnvironment,
  type EnvironmentSpec,
  type ServiceMap,
} from '../../core/index.js';
import type { ReleaseRow, Store } from '../../store/index.js';

/** A service runs `after:` its dependencies: each must have a release deployed in the environment. */
export async function checkDependencies(
  store: Store,
  map: ServiceMap,
  service: string,
  env: string,
): Promise<void> {
  const missing: string[] = [];
  for (const dep of map.services[service]?.after ?? []) {
    if (!(await store.deployments.hasSucceeded(dep, env))) missing.push(dep);
  }
  if (missing.length > 0) {
    throw new PolicyError(
      `${service} runs after ${missing.join(', ')}, which ${missing.length === 1 ? 'has' : 'have'} no successful deployment in ${env} yet: deploy ${missing.join(', ')} first`,
      { missing },
    );
  }
}

/**
 * Refuses a deploy outside the environment's windows or in a freeze, saying when it may start,
 * unless it breaks the glass (the route checked the permission); returns what was overridden.
 */
export function checkWindow(
  env: EnvironmentSpec,
  now: number,
  breakGlass: { reason: string } | undefined,
): string | null {
  const verdict = deployWindowCheck(env.policy?.windows ?? [], env.policy?.freezes ?? [], now);
  if (verdict.allowed) return null;
  if (breakGlass) return verdict.reason;
  const next =
    verdict.nextAllowed === null
      ? 'none within a year'
      : `next allowed ${new Date(verdict.nextAllowed).toISOString()}`;
  throw new PolicyError(
    `${env.name} takes no deployment now: ${verdict.reason}; ${next} (or --break-glass --reason "…", for those allowed to)`,
    { nextAllowed: verdict.nextAllowed },
  );
}

/** The image of the release that last succeeded in `from` (what `slipway promote` deploys). */
export async function promotedImage(
  store: Store,
  map: ServiceMap,
  service: string,
  from: string,
): Promise<string> {
  const env = resolveEnvironment(map, from);
  const [last] = await store.deployments.succeededReleases(service, env.name, 1);
  if (!last) {
    throw new PolicyError(
      `no release of ${service} has succeeded in ${env.name} yet: nothing to promote`,
    );
  }
  return last.imageId;
}

/** An environment whose policy says `promoteFrom` takes only images that succeeded there. */
export async function checkPromoted(
  store: Store,
  service: string,
  from: string,
  to: string,
  release: ReleaseRow,
): Promise<void> {
  const succeeded = await store.deployments.succeededReleases(service, from, 200);
  if (succeeded.some((r) => r.imageId === release.imageId)) return;
  throw new PolicyError(
    `${to} takes only releases that succeeded in ${from} first (its policy's promoteFrom): image ${release.imageId.slice(0, 12)} has not; deploy it to ${from}, then: slipway promote ${service} --from ${from} --to ${to}`,
    { promoteFrom: from },
  );
}
