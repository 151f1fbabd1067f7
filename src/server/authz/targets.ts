/**
 * What a call with a scoped permission acts on (the route table's `target`), found the way its
 * handler finds it: the deployment asked for (service, and environment as the service map
 * resolves it), a deployment by id or prefix, an image by id or the service it is registered for.
 */
import { resolveEnvironment, type Target } from '../../core/index.js';
import type { TargetOf } from '../../api/index.js';
import { getDeployment } from '../app/deployments.js';
import { currentServiceMap } from '../app/service-map.js';
import { getImage } from '../app/images.js';
import type { AppContext } from '../app/context.js';

export type TargetResolver = (
  of: TargetOf,
  call: { params: Record<string, string>; body: unknown },
) => Promise<Target>;

export function targetResolver(ctx: AppContext): TargetResolver {
  return async (of, { params, body }) => {
    const b = (body ?? {}) as { service?: string; environment?: string };
    switch (of) {
      case 'new-image':
        return { service: b.service };
      case 'new-deployment': {
        // Without a service map the handler refuses the deployment anyway; the environment
        // left unnamed is then not what decides.
        const map = (await currentServiceMap(ctx.store))?.map;
        const environment = map ? resolveEnvironment(map, b.environment).name : b.environment;
        return { service: b.service, environment };
      }
      case 'deployment': {
        const { deployment } = await getDeployment(ctx.store, params.id ?? '');
        return { service: deployment.service, environment: deployment.environment };
      }
      case 'image':
        return { service: (await getImage(ctx.store, params.id ?? '')).service };
    }
  };
}
