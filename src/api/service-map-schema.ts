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
  type EnvironmentSpec,
  type ServiceMap,
  type ServiceOverride,
  type ServiceSpec,
} from '../core/index.js';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_FAILURE_THRESHOLD,
  deployWindow,
  describe,
  duration,
  freeze,
  envVars,
  everything,
  health,
  integer,
  name,
  port,
  regionList,
  run,
  selector,
  strict,
} from './service-map-fields.js';
import { salvagedProblems, zodIssuesToProblems } from './service-map-problems.js';
import { rollout } from './service-map-rollout.js';

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
    ...(r?.waves && { waves: r.waves }),
    ...(r?.stage && { stage: r.stage }),
  })),
  keepReleases: integer(1, 50, 'keepReleases').default(3),
  publish: strict({
    port: integer(1, 65535, 'port'),
    drain: duration(2_000),
    via: z
      .enum(['auto', 'nftables', 'proxy'], { error: 'must be auto, nftables or proxy' })
      .default('auto'),
  })
    .optional()
    .transform((p) => p && { port: p.port, drainMs: p.drain, via: p.via }),
  hooks: strict({
    beforeActivate: run.optional(),
    validate: run.optional(),
    afterActivate: run.optional(),
    timeout: duration(60_000),
  })
    .optional()
    .transform((h) =>
      h === undefined
        ? undefined
        : {
            beforeActivate: h.beforeActivate ?? null,
            validate: h.validate ?? null,
            afterActivate: h.afterActivate ?? null,
            timeoutMs: h.timeout,
          },
    ),
}).transform(({ hooks, publish, ...s }) => ({
  ...s,
  ...(hooks && { hooks }),
  ...(publish && { publish }),
}));

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
    if (o.rollout.waves) out.rollout.waves = o.rollout.waves;
    if (o.rollout.stage) out.rollout.stage = o.rollout.stage;
  }
  return out;
});

/** Approvals wait a day by default before the deployment expires. */
const DEFAULT_APPROVAL_TIMEOUT_MS = 24 * 3_600_000;

const policy = strict({
  approvals: integer(0, 5, 'approvals').default(0),
  approvalTimeout: duration(DEFAULT_APPROVAL_TIMEOUT_MS),
  windows: z
    .array(deployWindow, {
      error:
        'must be a list of windows such as { days: mon-fri, from: "17:00", to: "08:00", timezone: America/New_York }',
    })
    .default(() => []),
  freezes: z
    .array(freeze, {
      error:
        'must be a list of freezes such as { from: 2026-12-24, to: 2027-01-02, reason: year end }',
    })
    .default(() => []),
  promoteFrom: z.string({ error: 'must be an environment name' }).nullable().default(null),
}).transform((p) => ({
  approvals: p.approvals,
  approvalTimeoutMs: p.approvalTimeout,
  windows: p.windows,
  freezes: p.freezes,
  promoteFrom: p.promoteFrom,
}));

const environment = strict({
  hosts: selector.default(everything),
  policy: policy.default(() => ({
    approvals: 0,
    approvalTimeoutMs: DEFAULT_APPROVAL_TIMEOUT_MS,
    windows: [],
    freezes: [],
    promoteFrom: null,
  })),
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
