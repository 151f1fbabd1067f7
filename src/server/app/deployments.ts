/**
 * Deployments: creating one (resolve the image and environment, check the plan against the
 * service map, topology and dependencies, then persist release, deployment and event in one
 * unit of work) and cancelling one.
 */
import { randomUUID } from 'node:crypto';
import {
  NotFoundError,
  SlipwayError,
  ValidationError,
  effectiveConfig,
  isSlipwayError,
  planDeployment,
  requestCancel,
  resolveEnvironment,
  targetHosts,
  type ServiceMap,
} from '../../core/index.js';
import type { CreateDeploymentRequest, DeploymentView } from '../../api/index.js';
import type { DeploymentRow, ReleaseRow, Store } from '../../store/index.js';
import { actorOf, type Identity } from '../authz/identity.js';
import { deploymentView, isOnline } from '../views.js';
import type { AppContext } from './context.js';
import { idOfUuidPrefix } from './id-prefix.js';
import { resolveImage } from './images.js';
import { requireServiceMap } from './service-map.js';
import type { Work } from './unit-of-work.js';
import {
  checkDependencies,
  checkPromoted,
  checkWindow,
  promotedImage,
} from './deployment-policy.js';

/** Offline hosts a deployment's creation event names; the rest it counts. */
const SKIPPED_NAMED = 100;

export async function createDeployment(
  ctx: AppContext,
  actor: Identity,
  req: CreateDeploymentRequest,
): Promise<DeploymentView> {
  return viewOf(ctx, await makeDeployment(ctx, actor, req, null));
}

/**
 * What deploying would do, and nothing more: the deployment as it would be planned (hosts and
 * batches, approvals asked), and every policy that would refuse it, with why. Everything is
 * made as for real in a transaction that is then rolled back.
 */
export async function dryRunDeployment(
  ctx: AppContext,
  actor: Identity,
  req: CreateDeploymentRequest,
): Promise<{ deployment: DeploymentView; refusals: string[] }> {
  const refusals: string[] = [];
  const rolledBack = new Error('dry run');
  let planned: DeploymentRow | undefined;
  await makeDeployment(ctx, actor, req, refusals, (row) => {
    planned = row;
    throw rolledBack;
  }).catch((e: unknown) => {
    if (e !== rolledBack) throw e;
  });
  return { deployment: await viewOf(ctx, planned!), refusals };
}

/**
 * Creates a deployment. With `refusals` (a dry run) policy refusals are collected there instead
 * of thrown, and `done` sees the row inside the transaction (and rolls it back by throwing).
 */
async function makeDeployment(
  ctx: AppContext,
  actor: Identity,
  req: CreateDeploymentRequest,
  refusals: string[] | null,
  done: (row: DeploymentRow) => void = () => {},
): Promise<DeploymentRow> {
  /** A policy says no: thrown, or noted in a dry run. */
  const refuse = async (check: () => unknown): Promise<void> => {
    try {
      await check();
    } catch (e) {
      if (refusals === null || !isSlipwayError(e) || !['POLICY', 'CONFLICT'].includes(e.code))
        throw e;
      refusals.push(e.message);
    }
  };
  // From memory: reading 10,000 host rows in the transaction took 0.4 s. A host enrolled on
  // another server in the last second may be missing, as if the request had come a second
  // earlier; one removed meanwhile is dropped by the orchestrator. Before the transaction: the
  // first read of the hosts goes to the store, and over PGlite's one connection it would wait
  // for this transaction forever.
  const all = await ctx.hosts.list();
  return ctx.uow.run(actor, async (work) => {
    const { tx, emit } = work;
    const map = await requireServiceMap(tx);
    const spec = map.services[req.service];
    if (!spec) throw new NotFoundError('service', req.service);
    const env = resolveEnvironment(map, req.environment);
    // One at a time per service and environment: a new one queues behind those under way,
    // or (--replace) has them cancelled and queues behind them while they wind down.
    const ahead = await tx.deployments.underWay(req.service, env.name);
    if (req.replace) await replace(tx, emit, ahead);
    await refuse(() => checkDependencies(tx, map, req.service, env.name));

    const kind = req.kind ?? 'deploy';
    const now = ctx.now();
    // A rollback returns to what ran before and staging changes nothing that runs: only a
    // deploy waits for its window.
    let overridden: string | null = null;
    if (kind === 'deploy') await refuse(() => (overridden = checkWindow(env, now, req.breakGlass)));
    const release =
      kind === 'rollback'
        ? await rollbackTarget(tx, req, env.name)
        : await releaseFor(tx, map, req, env.name);
    const from = env.policy?.promoteFrom;
    if (kind === 'deploy' && from)
      await refuse(() => checkPromoted(tx, req.service, from, env.name, release));

    const targets = targetHosts(map, req.service, env.name, all);
    if (targets.length === 0) {
      throw new ValidationError('nothing to deploy to', [
        {
          path: `services.${req.service}.placement`,
          message: `no registered host matches both the placement of ${req.service} and the hosts of environment ${env.name}`,
        },
      ]);
    }
    const byId = new Map(all.map((h) => [h.id, h]));
    const online = targets.filter((h) => isOnline(byId.get(h.id)!, now));
    const onlineIds = new Set(online.map((h) => h.id));
    const skippedOffline = targets.filter((h) => !onlineIds.has(h.id)).map((h) => h.name);
    if (online.length === 0) {
      throw new SlipwayError(
        'UNAVAILABLE',
        `every target host is offline: ${skippedOffline.join(', ')}`,
      );
    }
    const goals = await tx.goals.ofService(req.service);
    const required = kind === 'deploy' ? (env.policy?.approvals ?? 0) : 0;
    const deployment = planDeployment({
      id: randomUUID(),
      service: req.service,
      environment: env.name,
      kind,
      release: release.version,
      hosts: online,
      previous: new Map(goals.map((g) => [g.hostId, g.activeVersion])),
      rollout: release.config.rollout,
      approval:
        required > 0
          ? {
              required,
              requestedBy: actorOf(actor),
              expiresAt: now + env.policy!.approvalTimeoutMs,
            }
          : undefined,
    });
    // Made through a closed window on purpose: its waves do not pause for it either.
    if (overridden !== null) deployment.windowOverridden = true;
    // What was asked and how it is planned; the hosts themselves are in the deployment (at
    // 10,000 hosts they made the event 1 MB, written on the way to the first goal).
    const { hosts, ...plan } = deployment;
    emit(
      'deployment.created',
      {
        ...plan,
        hosts: hosts.length,
        skippedOffline: skippedOffline.slice(0, SKIPPED_NAMED),
        skippedOfflineCount: skippedOffline.length,
      },
      deployment.id,
    );
    if (overridden !== null) {
      emit(
        'deployment.break-glass',
        { reason: req.breakGlass!.reason, overrode: overridden },
        deployment.id,
      );
    }
    if (ahead.length > 0) {
      deployment.state = 'queued';
      deployment.queuedBehind = ahead.at(-1)!.id;
    }
    // The first step (stage goals for every host) commits with the deployment; the
    // orchestrator's next tick takes the one after. A queued one waits for its turn.
    const started = ahead.length > 0 ? null : await ctx.steps.take(work, deployment, now, now);
    const added = await tx.deployments.add(started?.deployment ?? deployment, release.imageId);
    done(added);
    return added;
  });
}

/** A deployment by its id or a unique prefix of it (what `slipway status` shows, e.g.). */
export async function getDeployment(store: Store, ref: string): Promise<DeploymentRow> {
  const row =
    (await store.deployments.get(ref)) ??
    (await store.deployments.get(await idOfPrefix(store, ref)));
  if (!row) throw new NotFoundError('deployment', ref);
  return row;
}

/** The shortest prefix of a deployment id looked up. Ids are UUIDs: 4 hex digits tell apart most. */
export const DEPLOYMENT_PREFIX_MIN = 4;

/** The full id of the deployment `ref` names: its id, or a unique prefix of it. */
export async function resolveDeploymentId(store: Store, ref: string): Promise<string> {
  return (await store.deployments.get(ref)) ? ref : idOfPrefix(store, ref);
}

function idOfPrefix(store: Store, ref: string): Promise<string> {
  return idOfUuidPrefix(
    {
      kind: 'deployment',
      minLength: DEPLOYMENT_PREFIX_MIN,
      idsWithPrefix: (p, limit) => store.deployments.idsWithPrefix(p, limit),
    },
    ref,
    'slipway deployments',
  );
}

export async function listDeployments(
  ctx: AppContext,
  filter: { service?: string; environment?: string },
  limit: number,
): Promise<DeploymentView[]> {
  const rows = await ctx.store.deployments.list(filter, limit);
  await ctx.hosts.ready();
  return rows.map((r) => deploymentView(r, (id) => ctx.hosts.peek(id)));
}

/** A deployment's view: its hosts looked up in memory one by one, not the fleet listed per view. */
export async function viewOf(ctx: AppContext, row: DeploymentRow): Promise<DeploymentView> {
  await ctx.hosts.ready();
  return deploymentView(row, (id) => ctx.hosts.peek(id));
}

/** The release to deploy: the newest one when it has the same image and config, else a new one. */
async function releaseFor(
  store: Store,
  map: ServiceMap,
  req: CreateDeploymentRequest,
  env: string,
): Promise<ReleaseRow> {
  if (req.promoteFrom !== undefined && req.image !== undefined)
    throw new SlipwayError('INVALID', 'give an image or an environment to promote from, not both');
  if (req.promoteFrom === undefined && !req.image)
    throw new SlipwayError('INVALID', `--image is required to ${req.kind ?? 'deploy'}`);
  const imageId =
    req.promoteFrom !== undefined
      ? await promotedImage(store, map, req.service, req.promoteFrom)
      : await resolveImage(store, req.service, req.image!);
  const image = await store.images.byId(imageId);
  if (image && image.service !== req.service) {
    throw new SlipwayError(
      'INVALID',
      `image ${imageId.slice(0, 12)} was built for service ${image.service}, not ${req.service}`,
    );
  }
  const config = effectiveConfig(map, req.service, env);
  const latest = (await store.releases.list(req.service))[0];
  if (
    latest &&
    latest.imageId === imageId &&
    latest.environment === env &&
    JSON.stringify(latest.config) === JSON.stringify(config)
  ) {
    return latest;
  }
  return store.releases.add({ service: req.service, imageId, environment: env, config });
}

/** The release a rollback returns to: `toVersion`, or the one that succeeded before the current one. */
async function rollbackTarget(
  store: Store,
  req: CreateDeploymentRequest,
  env: string,
): Promise<ReleaseRow> {
  if (req.toVersion !== undefined) {
    const r = await store.releases.get(req.service, req.toVersion);
    if (!r) throw new NotFoundError('release', `${req.service} v${req.toVersion}`);
    if (r.environment !== env) {
      throw new SlipwayError(
        'INVALID',
        `release v${r.version} of ${req.service} was made for environment ${r.environment}, not ${env}`,
      );
    }
    return r;
  }
  // Release numbers only: a deployment's document names every host (1 MB at 10,000).
  const history = (await store.deployments.succeededReleases(req.service, env, 200)).map(
    (r) => r.version,
  );
  const current = history[0];
  const previous = history.find((v) => v !== current);
  if (current === undefined || previous === undefined) {
    throw new SlipwayError(
      'CONFLICT',
      `${req.service} has no earlier release in ${env} to roll back to`,
    );
  }
  const r = await store.releases.get(req.service, previous);
  if (!r) throw new NotFoundError('release', `${req.service} v${previous}`);
  return r;
}

/** Has the deployments `ahead` cancelled (their hosts go back as a cancel takes them). */
async function replace(
  tx: Store,
  emit: Work['emit'],
  ahead: readonly { id: string }[],
): Promise<void> {
  for (const { id } of ahead) {
    const row = await tx.deployments.getForUpdate(id);
    if (!row || row.deployment.cancelRequested) continue;
    await tx.deployments.update(requestCancel(row.deployment));
    emit('deployment.replaced', { by: 'a newer deployment (--replace)' }, id);
  }
}
