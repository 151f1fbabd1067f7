/**
 * The service map document users write (`slipway.yaml`, already parsed from YAML): its zod
 * schema, which turns the raw format into core's normalized `ServiceMap` with defaults filled,
 * and `parseServiceMap`, which adds the semantic checks and reports every problem at once.
 *
 * Its fields are in service-map-fields.ts, validated leaf by leaf: no object here may report a
 * problem of its own (see there for why).
 */
import { z } from 'zod';
import {
  ValidationError,
  checkServiceMap,
  formatPath,
  type EnvironmentSpec,
  type HostSelector,
  type PathSegment,
  type Problem,
  type ServiceMap,
  type ServiceOverride,
  type ServiceSpec,
} from '../core/index.js';
import {
  ALLOWED_PREFIX,
  DEFAULT_BATCH_SIZE,
  DEFAULT_FAILURE_THRESHOLD,
  amount,
  describe,
  envVars,
  everything,
  health,
  integer,
  isRecord,
  name,
  port,
  regionList,
  run,
  selector,
  strict,
} from './service-map-fields.js';

const rollout = strict({
  batchSize: amount(1),
  failureThreshold: amount(0),
});

const service = strict({
  run,
  port,
  env: envVars.default(() => ({})),
  health: health.nullable().default(null),
  after: z
    .array(z.string({ error: 'must be a service name' }), {
      error: (iss) => `must be a list of service names, not ${describe(iss.input)}`,
    })
    .default(() => []),
  placement: selector.default(everything),
  rollout: rollout.optional().transform((r) => ({
    batchSize: r?.batchSize ?? { ...DEFAULT_BATCH_SIZE },
    failureThreshold: r?.failureThreshold ?? { ...DEFAULT_FAILURE_THRESHOLD },
  })),
  keepReleases: integer(1, 50, 'keepReleases').default(3),
});

const override = strict({
  env: envVars.optional(),
  rollout: rollout.optional(),
}).transform((o): ServiceOverride => {
  const out: ServiceOverride = {};
  if (o.env) out.env = o.env;
  if (o.rollout) {
    // Only what the environment sets, so the service's own value shows through the rest.
    out.rollout = {};
    if (o.rollout.batchSize) out.rollout.batchSize = o.rollout.batchSize;
    if (o.rollout.failureThreshold) out.rollout.failureThreshold = o.rollout.failureThreshold;
  }
  return out;
});

const environment = strict({
  hosts: selector.default(everything),
  env: envVars.default(() => ({})),
  services: z
    .record(z.string(), override, {
      error: (iss) => `must be a mapping of service names, not ${describe(iss.input)}`,
    })
    .default(() => ({})),
});

/** The raw service map document, transformed into core's normalized {@link ServiceMap}. */
export const serviceMapDocument: z.ZodType<ServiceMap, unknown> = strict({
  regions: regionList.default(() => []),
  services: z.record(name('service'), service, {
    error: (iss) =>
      iss.input === undefined
        ? 'is required: a mapping of service names to services'
        : `must be a mapping of service names to services, not ${describe(iss.input)}`,
  }),
  environments: z
    .record(name('environment'), environment, {
      error: (iss) => `must be a mapping of environment names, not ${describe(iss.input)}`,
    })
    .default(() => ({})),
}).transform((doc): ServiceMap => ({
  regions: doc.regions,
  services: Object.fromEntries(
    Object.entries(doc.services).map(([n, s]): [string, ServiceSpec] => [n, { name: n, ...s }]),
  ),
  environments: Object.fromEntries(
    Object.entries(doc.environments).map(([n, e]): [string, EnvironmentSpec] => [
      n,
      { name: n, ...e },
    ]),
  ),
}));

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

/**
 * Validates a service map document and returns it normalized. Throws one `ValidationError`
 * listing every problem: those of the shape and, as far as they can be judged on what is
 * well-formed, those of meaning (dependencies, regions, ports).
 */
export function parseServiceMap(doc: unknown): ServiceMap {
  const parsed = serviceMapDocument.safeParse(doc);
  const problems = parsed.success
    ? checkServiceMap(parsed.data)
    : [...zodIssuesToProblems(parsed.error.issues), ...salvagedProblems(doc)];
  if (problems.length > 0) throw new ValidationError('invalid service map', problems);
  return (parsed as { data: ServiceMap }).data;
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
function salvagedProblems(doc: unknown): Problem[] {
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
