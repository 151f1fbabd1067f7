/**
 * The field schemas of the service map document (service-map-schema.ts): names, strings,
 * environment variables, selectors, commands, ports, durations, amounts of hosts, health checks.
 *
 * Fields are validated leaf by leaf (each leaf parses itself and reports at its own path) so that
 * one bad field never hides another: zod skips an object's transforms and refinements once a
 * child fails, so nothing that reports problems may live at object level.
 */
import { z } from 'zod';
import {
  isTimeZone,
  parseDuration,
  type Amount,
  type DeployWindow,
  type Freeze,
  type HealthProbe,
  type HealthSpec,
  type HostSelector,
  type RunSpec,
} from '../core/index.js';

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The variable the agent sets to the service's port; a user value would silently lose. */
const RESERVED_ENV = 'PORT';
/** How `strict` starts an unknown-keys message: zodIssuesToProblems looks for it. */
export const ALLOWED_PREFIX = '(allowed keys: ';

/** Batch size of a rollout that neither the service nor its environment sets. */
export const DEFAULT_BATCH_SIZE: Amount = { percent: 25 };
/** Failed hosts allowed per batch when neither the service nor its environment says. */
export const DEFAULT_FAILURE_THRESHOLD: Amount = { count: 0 };

/** A strict object whose unknown-key issue lists the keys that are allowed. */
export function strict<S extends z.core.$ZodLooseShape>(shape: S) {
  const allowed = `${ALLOWED_PREFIX}${Object.keys(shape).join(', ')})`;
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') return allowed;
      if (iss.code === 'invalid_type') return `must be a mapping, not ${describe(iss.input)}`;
      return undefined;
    },
  });
}

/** The input as the user sees it in a message: `the string "x"`, `a list`, `empty`. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'empty';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${v}`;
  return typeof v;
}

/** A service or environment name. */
export const name = (what: string) =>
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
  .transform(String)
  .refine((s) => !s.includes('\0'), {
    message: 'must not contain a NUL character (\\0): a process environment cannot hold one',
  });

/** Environment variables, values as strings; `PORT` is refused. */
export const envVars = z.record(
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

/** A list of region names. */
export const regionList = z.array(nonEmptyString('a region'), {
  error: (iss) => `must be a list of regions, not ${describe(iss.input)}`,
});

/** Hosts by region and labels; left out, a list or mapping selects everything. */
export const selector = strict({
  regions: regionList.default(() => []),
  labels: labels.default(() => ({})),
});

/** The selector that picks every host. */
export const everything = (): HostSelector => ({ regions: [], labels: {} });

/** `node server.js` runs under a shell; `[node, server.js]` runs without one. */
export const run = z
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

/** `port:` of a service: a fixed port, `dynamic` or, when left out, none. */
export const port = z
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
export function duration(defaultMs: number) {
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
export function amount(min: 0 | 1) {
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

/** A bounded whole number; `what` names it in the messages. */
export const integer = (min: number, max: number, what: string) =>
  z
    .number({ error: (iss) => `${what} must be a whole number, not ${describe(iss.input)}` })
    .int(`${what} must be a whole number`)
    .min(min, `${what} must be at least ${min}`)
    .max(max, `${what} must be at most ${max}`);

/** `health:` of a service: exactly one probe, and how often and how long to try it. */
export const health = strict({
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

/** Whether `v` is a YAML mapping. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** `mon-fri`, `sat,sun`, `[mon, wed]`: the days a window starts on. */
function daysOf(v: unknown): (typeof DAY_NAMES)[number][] | undefined {
  const items = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : undefined;
  if (!items || items.length === 0) return undefined;
  const out = new Set<(typeof DAY_NAMES)[number]>();
  for (const item of items) {
    if (typeof item !== 'string') return undefined;
    const [a, b] = item.trim().toLowerCase().split('-') as [string, string | undefined];
    const from = DAY_NAMES.indexOf(a as (typeof DAY_NAMES)[number]);
    const to = b === undefined ? from : DAY_NAMES.indexOf(b as (typeof DAY_NAMES)[number]);
    if (from < 0 || to < 0) return undefined;
    for (let i = from; ; i = (i + 1) % 7) {
      out.add(DAY_NAMES[i]!);
      if (i === to) break;
    }
  }
  return DAY_NAMES.filter((d) => out.has(d));
}

const clock = (what: string) =>
  z
    .string({ error: `${what} must be a time such as "17:00"` })
    .regex(
      /^([01]\d|2[0-3]):[0-5]\d$/,
      `${what} must be a time such as "17:00" (24-hour, quoted in YAML)`,
    )
    .transform((t) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3)));

/** One deploy window of an environment's policy. */
export const deployWindow = strict({
  days: z.unknown().transform((v, ctx) => {
    const days = daysOf(v ?? 'sun-sat');
    if (days) return days;
    ctx.addIssue({
      code: 'custom',
      message: `invalid days ${JSON.stringify(v)} (use e.g. mon-fri, or sat,sun)`,
    });
    return z.NEVER;
  }),
  from: clock('from'),
  to: clock('to'),
  timezone: z
    .string({ error: 'must be a time zone such as America/New_York' })
    .refine(isTimeZone, {
      error: (iss) =>
        `unknown time zone ${JSON.stringify(iss.input)} (use e.g. America/New_York, Europe/London, UTC)`,
    })
    .default('UTC'),
}).transform((w): DeployWindow => ({
  days: w.days,
  fromMinute: w.from,
  toMinute: w.to,
  timezone: w.timezone,
}));

/** A date (midnight UTC) or a date and time with its offset. */
const instant = (what: string) =>
  z
    .union([z.string(), z.date()], {
      error: `${what} must be a date such as 2026-12-24 or 2026-12-24T17:00:00-05:00`,
    })
    .transform((v, ctx) => {
      const t =
        v instanceof Date
          ? v.getTime()
          : /^\d{4}-\d{2}-\d{2}(T.*(Z|[+-]\d{2}:\d{2}))?$/.test(v)
            ? Date.parse(v)
            : NaN;
      if (Number.isFinite(t)) return t;
      ctx.addIssue({
        code: 'custom',
        message: `${what} must be a date such as 2026-12-24 or 2026-12-24T17:00:00-05:00, not ${JSON.stringify(v)}`,
      });
      return z.NEVER;
    });

/** A dated range in which no deployment starts. */
export const freeze = strict({
  from: instant('from'),
  to: instant('to'),
  reason: z.string({ error: 'must say why, e.g. "year-end freeze"' }).min(1, 'must say why'),
}).transform((f): Freeze => ({ from: f.from, to: f.to, reason: f.reason }));
