/**
 * How the problems of a service map document are reported: zod issues as problems at dotted
 * paths, and the semantic checks run on what can be read of a document whose shape is wrong, so
 * that one report holds them all.
 */
import type { z } from 'zod';
import {
  checkServiceMap,
  formatPath,
  type EnvironmentSpec,
  type HostSelector,
  type PathSegment,
  type Problem,
  type ServiceSpec,
} from '../core/index.js';
import {
  ALLOWED_PREFIX,
  DEFAULT_BATCH_SIZE,
  DEFAULT_FAILURE_THRESHOLD,
  everything,
  isRecord,
} from './service-map-fields.js';

/**
 * Converts zod issues to problems with dotted paths (`services.api.after[0]`). An unknown-keys
 * issue becomes one problem per key, at the key, so each can be located in the file.
 */
export function zodIssuesToProblems(issues: readonly z.core.$ZodIssue[]): Problem[] {
  const problems: Problem[] = [];
  for (const iss of issues) {
    const path: PathSegment[] = iss.path.map((p) => (typeof p === 'number' ? p : String(p)));
    if (iss.code === 'unrecognized_keys') {
      const allowed = iss.message.startsWith(ALLOWED_PREFIX) ? ` ${iss.message}` : '';
      for (const key of iss.keys) {
        problems.push({
          path: formatPath([...path, key]),
          message: `unknown key ${JSON.stringify(key)}${allowed}`,
        });
      }
    } else if (iss.code === 'invalid_key') {
      problems.push({
        path: formatPath(path),
        message: iss.issues.map((i) => i.message).join('; '),
      });
    } else if (iss.code === 'invalid_type' && iss.message.endsWith('received undefined')) {
      problems.push({ path: formatPath(path), message: 'is required' });
    } else {
      problems.push({ path: formatPath(path), message: iss.message });
    }
  }
  return problems;
}

// ---- semantic checks of a document whose shape is wrong somewhere ----

/** Strings of a list; a list holding anything else is left out whole, to keep indices honest. */
function strings(v: unknown): string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : [];
}

function salvageSelector(v: unknown): HostSelector {
  if (!isRecord(v)) return everything();
  const labelsOf = isRecord(v.labels) ? v.labels : {};
  return {
    regions: strings(v.regions),
    labels: Object.fromEntries(Object.entries(labelsOf).map(([k, l]) => [k, String(l)])),
  };
}

/**
 * Runs the semantic checks on what can be read of an ill-shaped document, so the user sees a
 * dependency cycle in the same report as a typo elsewhere. Fields that are themselves ill-shaped
 * are read as their defaults; their own problem is already reported.
 */
export function salvagedProblems(doc: unknown): Problem[] {
  if (!isRecord(doc) || !isRecord(doc.services)) return [];
  const services: Record<string, ServiceSpec> = {};
  for (const [n, raw] of Object.entries(doc.services)) {
    const s = isRecord(raw) ? raw : {};
    services[n] = {
      name: n,
      run: { argv: ['true'] },
      port:
        typeof s.port === 'number' && Number.isInteger(s.port) && s.port >= 1 && s.port <= 65535
          ? s.port
          : null,
      env: {},
      health: null,
      after: strings(s.after),
      placement: salvageSelector(s.placement),
      rollout: { batchSize: DEFAULT_BATCH_SIZE, failureThreshold: DEFAULT_FAILURE_THRESHOLD },
      keepReleases: 3,
    };
  }
  const environments: Record<string, EnvironmentSpec> = {};
  for (const [n, raw] of Object.entries(isRecord(doc.environments) ? doc.environments : {})) {
    const e = isRecord(raw) ? raw : {};
    environments[n] = {
      name: n,
      hosts: salvageSelector(e.hosts),
      env: {},
      services: Object.fromEntries(
        Object.keys(isRecord(e.services) ? e.services : {}).map((k) => [k, {}]),
      ),
    };
  }
  return checkServiceMap({ regions: strings(doc.regions), services, environments });
}
