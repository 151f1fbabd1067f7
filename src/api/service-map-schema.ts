/**
 * The service map document users write (`slipway.yaml`, already parsed from YAML): its zod
 * schema, which turns the raw format into core's normalized `ServiceMap` with defaults filled,
 * and `parseServiceMap`, which adds the semantic checks and reports every problem at once.
 *
 * Fields are validated leaf by leaf (each leaf parses itself and reports at its own path) so that
 * one bad field never hides another: zod skips an object's transforms and refinements once a
 * child fails, so nothing that reports problems may live at object level.
 */
import { z } from 'zod';
import {
  ValidationError,
  checkServiceMap,
  formatPath,
  parseDuration,
  type Amount,
  type EnvironmentSpec,
  type HealthProbe,
  type HealthSpec,
  type HostSelector,
  type PathSegment,
  type Problem,
  type RunSpec,
  type ServiceMap,
  type ServiceOverride,
  type ServiceSpec,
} from '../core/index.js';

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The variable the agent sets to the service's port; a user value would silently lose. */
const RESERVED_ENV = 'PORT';
const ALLOWED_PREFIX = '(allowed keys: ';

const DEFAULT_BATCH_SIZE: Amount = { percent: 25 };
const DEFAULT_FAILURE_THRESHOLD: Amount = { count: 0 };

/** A strict object whose unknown-key issue lists the keys that are allowed. */
function strict<S extends z.core.$ZodLooseShape>(shape: S) {
  const allowed = `${ALLOWED_PREFIX}${Object.keys(shape).join(', ')})`;
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') return allowed;
      if (iss.code === 'invalid_type') return `must be a mapping, not ${describe(iss.input)}`;
      return undefined;
    },
  });
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'empty';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${v}`;
  return typeof v;
}

const name = (what: string) =>
  z
    .string()
    .regex(
      NAME,
      `invalid ${what} name: use lowercase letters, digits and dashes (1-63), starting with a letter`,
    );

const nonEmptyString = (what: string) =>
  z.string({ error: `${what} must be a string` }).refine((s) => s.trim() !== '', {
    message: `${what} must not be empty`,
  });

/** A scalar YAML value as a string: `PORT_OFFSET: 2` and `DEBUG: true` mean the strings. */
const scalarString = z
  .union([z.string(), z.number(), z.boolean()], {
    error: (iss) => `must be a string, number or boolean, not ${describe(iss.input)}`,
  })
  .transform(String);

const envVars = z.record(
  z
    .string()
    .regex(ENV_KEY, 'invalid variable name: use letters, digits and _, not starting with a digit')
    .refine((k) => k !== RESERVED_ENV, {
      message: `${RESERVED_ENV} is reserved: the agent sets it to the service's port`,
    }),
  scalarString,
  { error: (iss) => `must be a mapping of variables, not ${describe(iss.input)}` },
);

const labels = z.record(z.string().min(1, 'label names must not be empty'), scalarString, {
  error: (iss) => `must be a mapping of labels, not ${describe(iss.input)}`,
});

const regionList = z.array(nonEmptyString('a region'), {
  error: (iss) => `must be a list of regions, not ${describe(iss.input)}`,
});

const selector = strict({
  regions: regionList.default(() => []),
  labels: labels.default(() => ({})),
});
const everything = (): HostSelector => ({ regions: [], labels: {} });

/** `node server.js` runs under a shell; `[node, server.js]` runs without one. */
const run = z
  .unknown()
  .optional()
  .transform((v, ctx): RunSpec => {
    if (typeof v === 'string' && v.trim() !== '') return { shell: v };
    if (Array.isArray(v) && v.length > 0 && v.every((a) => typeof a === 'string' && a !== '')) {
      return { argv: v as string[] };
    }
    ctx.addIssue({
      code: 'custom',
      message:
        v === undefined
          ? 'is required: a command string or a list of arguments'
          : Array.isArray(v)
            ? 'must be a non-empty list of non-empty strings'
            : `must be a command string or a list of arguments, not ${describe(v)}`,
    });
    return z.NEVER;
  });

const port = z
  .unknown()
  .optional()
  .transform((v, ctx): number | 'dynamic' | null => {
    if (v === undefined || v === null) return null;
    if (v === 'dynamic') return v;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535) return v;
    ctx.addIssue({
      code: 'custom',
      message: `must be a port number from 1 to 65535 or "dynamic", not ${describe(v)}`,
    });
    return z.NEVER;
  });

/** A duration leaf; `positive` refuses 0 where waiting no time at all makes no sense. */
function duration(defaultMs: number) {
  return z
    .unknown()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined) return defaultMs;
      const ms = typeof v === 'string' || typeof v === 'number' ? parseDuration(v) : undefined;
      if (ms === undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `invalid duration ${JSON.stringify(v)} (use e.g. 500ms, 2s, 1m)`,
        });
        return z.NEVER;
      }
      if (ms <= 0) {
        ctx.addIssue({
          code: 'custom',
          message: `must be longer than 0, not ${JSON.stringify(v)}`,
        });
        return z.NEVER;
      }
      return ms;
    });
}

const PERCENT = /^(\d+(?:\.\d+)?)\s*%$/;

/**
 * An amount of hosts: a whole number (at least `min`) or a percentage (`min`-100%). A batch
 * needs at least one host; a failure threshold may be zero.
 */
function amount(min: 0 | 1) {
  const hint = `use a whole number of hosts (${min} or more) or a percentage such as 25%`;
  return z
    .unknown()
    .optional()
    .transform((v, ctx): Amount | undefined => {
      if (v === undefined) return undefined;
      const fail = (message: string): never => {
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      };
      if (typeof v === 'number') {
        if (Number.isInteger(v) && v >= min) return { count: v };
        return fail(`invalid amount ${v}: ${hint}`);
      }
      if (typeof v === 'string') {
        const m = PERCENT.exec(v.trim());
        if (m) {
          const percent = Number(m[1]);
          if (percent >= min && percent <= 100) return { percent };
          return fail(`invalid percentage ${JSON.stringify(v)}: must be from ${min}% to 100%`);
        }
        if (/^\d+$/.test(v.trim()) && Number(v) >= min) return { count: Number(v) };
      }
      return fail(`invalid amount ${JSON.stringify(v)}: ${hint}`);
    });
}

const integer = (min: number, max: number, what: string) =>
  z
    .number({ error: (iss) => `${what} must be a whole number, not ${describe(iss.input)}` })
    .int(`${what} must be a whole number`)
    .min(min, `${what} must be at least ${min}`)
    .max(max, `${what} must be at most ${max}`);

const health = strict({
  http: z
    .string({ error: 'must be a path such as /healthz' })
    .startsWith('/', 'must be a path starting with /, such as /healthz')
    .optional(),
  tcp: z.literal(true, { error: 'must be true (omit it for no TCP check)' }).optional(),
  command: run.optional(),
  timeout: duration(2_000),
  interval: duration(1_000),
  healthyAfter: integer(1, 1_000, 'healthyAfter').default(1),
  deadline: duration(30_000),
})
  // Runs even when a sibling field failed (`when`), so a missing probe shows up alongside them.
  .refine((h) => probeCount(h) === 1, {
    when: (payload) => isRecord(payload.value),
    error: (iss) =>
      probeCount(iss.input) === 0
        ? 'needs a probe: one of http, tcp, command'
        : `has ${probeNames(iss.input).join(' and ')}: use exactly one probe`,
  })
  .transform((h): HealthSpec => ({
    probe: probeOf(h),
    timeoutMs: h.timeout,
    intervalMs: h.interval,
    healthyAfter: h.healthyAfter,
    deadlineMs: h.deadline,
  }));

function probeNames(h: unknown): string[] {
  if (typeof h !== 'object' || h === null) return [];
  const rec = h as Record<string, unknown>;
  return ['http', 'tcp', 'command'].filter((k) => rec[k] !== undefined);
}

function probeCount(h: unknown): number {
  return probeNames(h).length;
}

function probeOf(h: { http?: string; tcp?: true; command?: RunSpec }): HealthProbe {
  if (h.http !== undefined) return { kind: 'http', path: h.http };
  if (h.command !== undefined) return { kind: 'command', run: h.command };
  return { kind: 'tcp' };
}

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

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

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
