/** The service map: applying one (checked whole first) and reading the one in force. */
import { SlipwayError, type ServiceMap } from '../../core/index.js';
import { parseServiceMap, type ServiceMapRecord } from '../../api/index.js';
import type { Store } from '../../store/index.js';
import type { Identity } from '../authz/identity.js';
import type { AppContext } from './context.js';

export async function currentServiceMap(store: Store): Promise<ServiceMapRecord | undefined> {
  const row = await store.serviceMaps.current();
  if (!row) return undefined;
  return {
    version: row.version,
    appliedAt: row.appliedAt.toISOString(),
    document: row.document,
    map: row.map,
  };
}

export async function requireServiceMap(store: Store): Promise<ServiceMap> {
  const rec = await currentServiceMap(store);
  if (!rec) {
    throw new SlipwayError(
      'NOT_FOUND',
      'no service map has been applied yet: run `slipway apply -f slipway.yaml`',
    );
  }
  return rec.map;
}

/** Validates a service map document and makes it the one in force; nothing changes on a problem. */
export async function applyServiceMap(
  ctx: AppContext,
  actor: Identity,
  document: unknown,
): Promise<ServiceMapRecord> {
  const map = parseServiceMap(document); // throws one ValidationError listing every problem
  return ctx.uow.run(actor, async ({ tx, emit }) => {
    const { version } = await tx.serviceMaps.save(document, map);
    emit('service-map.applied', { version });
    return (await currentServiceMap(tx))!;
  });
}
