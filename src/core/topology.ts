/** Topology: which hosts an environment and a service select, and the config a service gets there. */
import { NotFoundError, SlipwayError } from './errors.js';
import type {
  EnvironmentSpec,
  HealthProbe,
  HostInfo,
  HostSelector,
  RolloutSpec,
  RunSpec,
  ServiceMap,
  ServiceSpec,
} from './types.js';

/** The environment a map without `environments:` implicitly has; it selects every host. */
export const DEFAULT_ENVIRONMENT = 'default';

/** True when the host is in one of the selector's regions (none listed: any) and has every label. */
export function matchesSelector(host: HostInfo, sel: HostSelector): boolean {
  if (sel.regions.length > 0 && !sel.regions.includes(host.region)) return false;
  return Object.entries(sel.labels).every(([k, v]) => host.labels[k] === v);
}

/** The names of the map's environments, sorted; `default` alone when the map declares none. */
export function environmentNames(map: ServiceMap): string[] {
  const names = Object.keys(map.environments).sort();
  return names.length > 0 ? names : [DEFAULT_ENVIRONMENT];
}

function implicitDefault(): EnvironmentSpec {
  return { name: DEFAULT_ENVIRONMENT, hosts: { regions: [], labels: {} }, env: {}, services: {} };
}

/**
 * Finds the environment a command means. Without a name: the only environment, or the implicit
 * `default` (every host, no overrides) when the map declares none; with several, the caller must
 * choose, so that a deploy never lands in prod by omission.
 */
export function resolveEnvironment(map: ServiceMap, name: string | undefined): EnvironmentSpec {
  const declared = Object.keys(map.environments).sort();
  if (name === undefined) {
    if (declared.length === 0) return implicitDefault();
    if (declared.length === 1) return map.environments[declared[0]!]!;
    throw new SlipwayError('INVALID', `--env is required: one of ${declared.join(', ')}`, {
      environments: declared,
    });
  }
  const env = Object.hasOwn(map.environments, name) ? map.environments[name] : undefined;
  if (env) return env;
  if (declared.length === 0 && name === DEFAULT_ENVIRONMENT) return implicitDefault();
  const known = declared.length > 0 ? declared : [DEFAULT_ENVIRONMENT];
  throw new SlipwayError(
    'NOT_FOUND',
    `environment ${JSON.stringify(name)} not found: one of ${known.join(', ')}`,
    { kind: 'environment', id: name, environments: known },
  );
}

function serviceOf(map: ServiceMap, service: string): ServiceSpec {
  const spec = Object.hasOwn(map.services, service) ? map.services[service] : undefined;
  if (!spec) throw new NotFoundError('service', service);
  return spec;
}

/**
 * The hosts a service runs on in an environment: those matching both the environment's `hosts`
 * and the service's `placement`, sorted by region then name so that rollouts go region by region
 * in a stable order. Extra fields of the hosts passed in are kept.
 */
export function targetHosts<H extends HostInfo>(
  map: ServiceMap,
  service: string,
  environment: string,
  hosts: readonly H[],
): H[] {
  const spec = serviceOf(map, service);
  const env = resolveEnvironment(map, environment);
  return hosts
    .filter((h) => matchesSelector(h, env.hosts) && matchesSelector(h, spec.placement))
    .sort((a, b) => compare(a.region, b.region) || compare(a.name, b.name));
}

// Plain code-unit order rather than localeCompare: the same on every machine and locale.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The spec a service runs with in an environment: the environment's `env` over the service's,
 * then the environment's per-service override (`env`, `rollout`) over both. Returns a copy.
 */
export function effectiveConfig(
  map: ServiceMap,
  service: string,
  environment: string,
): ServiceSpec {
  const spec = serviceOf(map, service);
  const env = resolveEnvironment(map, environment);
  const override = Object.hasOwn(env.services, service) ? env.services[service] : undefined;
  const rollout: RolloutSpec = { ...spec.rollout };
  if (override?.rollout?.batchSize) rollout.batchSize = override.rollout.batchSize;
  if (override?.rollout?.failureThreshold) {
    rollout.failureThreshold = override.rollout.failureThreshold;
  }
  // An environment's waves replace the service's whole: waves are planned together.
  if (override?.rollout?.waves) rollout.waves = override.rollout.waves;
  if (override?.rollout?.stage) rollout.stage = override.rollout.stage;
  return {
    ...spec,
    run: copyRun(spec.run),
    env: { ...spec.env, ...env.env, ...override?.env },
    health: spec.health ? { ...spec.health, probe: copyProbe(spec.health.probe) } : null,
    after: [...spec.after],
    placement: { regions: [...spec.placement.regions], labels: { ...spec.placement.labels } },
    rollout: {
      batchSize: { ...rollout.batchSize },
      failureThreshold: { ...rollout.failureThreshold },
      ...(rollout.waves && { waves: structuredClone(rollout.waves) }),
      ...(rollout.stage && { stage: rollout.stage }),
    },
  };
}

function copyRun(run: RunSpec): RunSpec {
  return 'argv' in run ? { argv: [...run.argv] } : { shell: run.shell };
}

function copyProbe(probe: HealthProbe): HealthProbe {
  return probe.kind === 'command' ? { kind: 'command', run: copyRun(probe.run) } : { ...probe };
}
