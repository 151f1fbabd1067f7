/**
 * Creating deployments: resolve the image and environment, check the plan against the service
 * map, topology and dependencies, then persist release + deployment in one transaction.
 */
import { randomUUID } from 'node:crypto';
import {
  ConflictError,
  NotFoundError,
  PolicyError,
  SlipwayError,
  ValidationError,
  effectiveConfig,
  planDeployment,
  resolveEnvironment,
  targetHosts,
  type Deployment,
  type ServiceMap,
} from '../core/index.js';
import { serviceSpec, type CreateDeploymentRequest } from '../api/index.js';
import type { ReleaseRow, Store } from '../store/index.js';
import { deploymentOf, isOnline } from './views.js';
import { requireServiceMap } from './service-map.js';

export interface Created {
  deployment: Deployment;
  imageId: string;
  skippedOffline: string[];
}

/** Finds an image by full id, unique id prefix (12+ hex digits) or tag of the service. */
export async function resolveImage(store: Store, service: string, ref: string): Promise<string> {
  if (/^[0-9a-f]{64}$/.test(ref)) {
    if (await store.image(ref)) return ref;
    throw new NotFoundError('image', ref);
  }
  const tagged = await store.imageIdOfTag(service, ref);
  if (tagged) return tagged;
  if (/^[0-9a-f]{12,63}$/.test(ref)) {
    const matches = (await store.listImages(service, 1000)).filter((i) => i.id.startsWith(ref));
    if (matches.length === 1) return matches[0]!.id;
    if (matches.length > 1) throw new SlipwayError('INVALID', `image prefix ${ref} is ambiguous`);
  }
  throw new SlipwayError(
    'NOT_FOUND',
    `no image ${JSON.stringify(ref)} for service ${service} (neither an id nor a tag)`,
    {
      service,
      ref,
    },
  );
}

export async function createDeployment(
  store: Store,
  req: CreateDeploymentRequest,
  now: number,
): Promise<Created> {
  return store.transaction(async (tx) => {
    const map = await requireServiceMap(tx);
    const spec = map.services[req.service];
    if (!spec) throw new NotFoundError('service', req.service);
    const env = resolveEnvironment(map, req.environment);
    const running = await tx.runningDeploymentFor(req.service, env.name);
    if (running) {
      throw new ConflictError(
        `deployment ${running} of ${req.service} to ${env.name} is still running; wait for it or cancel it`,
        {
          deploymentId: running,
        },
      );
    }
    await checkDependencies(tx, map, req.service, env.name);

    const kind = req.kind ?? 'deploy';
    const release =
      kind === 'rollback'
        ? await rollbackTarget(tx, req, env.name)
        : await releaseFor(tx, map, req, env.name);

    const all = await tx.listHosts();
    const targets = targetHosts(map, req.service, env.name, all);
    if (targets.length === 0) {
      throw new ValidationError('nothing to deploy to', [
        {
          path: `services.${req.service}.placement`,
          message: `no registered host matches both the placement of ${req.service} and the hosts of environment ${env.name}`,
        },
      ]);
    }
    const online = targets.filter((h) =>
      isOnline(
        all.find((a) => a.id === h.id)!,
        now,
      ),
    );
    const skippedOffline = targets.filter((h) => !online.includes(h)).map((h) => h.name);
    if (online.length === 0) {
      throw new SlipwayError(
        'UNAVAILABLE',
        `every target host is offline: ${skippedOffline.join(', ')}`,
      );
    }
    const goals = await tx.goalsOfService(req.service);
    const config = serviceSpec.parse(release.config);
    const deployment = planDeployment({
      id: randomUUID(),
      service: req.service,
      environment: env.name,
      kind,
      release: release.version,
      hosts: online,
      previous: new Map(goals.map((g) => [g.hostId, g.activeVersion])),
      rollout: config.rollout,
    });
    await tx.addDeployment(deployment, release.imageId);
    return { deployment, imageId: release.imageId, skippedOffline };
  });
}

/** A service runs `after:` its dependencies: each must have a release deployed in the environment. */
async function checkDependencies(
  store: Store,
  map: ServiceMap,
  service: string,
  env: string,
): Promise<void> {
  const missing: string[] = [];
  for (const dep of map.services[service]?.after ?? []) {
    if (!(await store.lastSucceeded(dep, env))) missing.push(dep);
  }
  if (missing.length > 0) {
    throw new PolicyError(
      `${service} runs after ${missing.join(', ')}, which ${missing.length === 1 ? 'has' : 'have'} no successful deployment in ${env} yet: deploy ${missing.join(', ')} first`,
      { missing },
    );
  }
}

/** The release to deploy: the newest one when it has the same image and config, else a new one. */
async function releaseFor(
  store: Store,
  map: ServiceMap,
  req: CreateDeploymentRequest,
  env: string,
): Promise<ReleaseRow> {
  if (!req.image)
    throw new SlipwayError('INVALID', `--image is required to ${req.kind ?? 'deploy'}`);
  const imageId = await resolveImage(store, req.service, req.image);
  const image = await store.image(imageId);
  if (image && image.service !== req.service) {
    throw new SlipwayError(
      'INVALID',
      `image ${imageId.slice(0, 12)} was built for service ${image.service}, not ${req.service}`,
    );
  }
  const config = effectiveConfig(map, req.service, env);
  const latest = (await store.listReleases(req.service))[0];
  if (
    latest &&
    latest.imageId === imageId &&
    latest.environment === env &&
    JSON.stringify(latest.config) === JSON.stringify(config)
  ) {
    return latest;
  }
  return store.addRelease({ service: req.service, imageId, environment: env, config });
}

/** The release a rollback returns to: `toVersion`, or the one that succeeded before the current one. */
async function rollbackTarget(
  store: Store,
  req: CreateDeploymentRequest,
  env: string,
): Promise<ReleaseRow> {
  if (req.toVersion !== undefined) {
    const r = await store.release(req.service, req.toVersion);
    if (!r) throw new NotFoundError('release', `${req.service} v${req.toVersion}`);
    if (r.environment !== env) {
      throw new SlipwayError(
        'INVALID',
        `release v${r.version} of ${req.service} was made for environment ${r.environment}, not ${env}`,
      );
    }
    return r;
  }
  const history = (await store.listDeployments(req.service, 200))
    .map(deploymentOf)
    .filter((d) => d.environment === env && d.state === 'succeeded' && d.kind !== 'stage');
  const current = history[0]?.release;
  const previous = history.find((d) => d.release !== current)?.release;
  if (current === undefined || previous === undefined) {
    throw new SlipwayError(
      'CONFLICT',
      `${req.service} has no earlier release in ${env} to roll back to`,
    );
  }
  const r = await store.release(req.service, previous);
  if (!r) throw new NotFoundError('release', `${req.service} v${previous}`);
  return r;
}
