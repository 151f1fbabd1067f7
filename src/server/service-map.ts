/** The service map in force, read back from the store and checked. */
import { SlipwayError, type ServiceMap } from '../core/index.js';
import { normalizedServiceMap, type ServiceMapRecord } from '../api/index.js';
import type { Store } from '../store/index.js';

export async function currentServiceMap(store: Store): Promise<ServiceMapRecord | undefined> {
  const row = await store.currentServiceMap();
  if (!row) return undefined;
  return {
    version: row.version,
    appliedAt: row.appliedAt.toISOString(),
    document: row.document,
    map: normalizedServiceMap.parse(row.normalized),
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
