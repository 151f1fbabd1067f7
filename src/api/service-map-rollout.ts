/**
 * `rollout:` of a service (or of a service in an environment): batch size, failure threshold,
 * and the waves it goes in, each with its hosts, batches, bake time and metric gates:
 *
 *     rollout:
 *       waves:
 *         - { name: canary, hosts: 1, bake: 5m }
 *         - { name: first-region, regions: [ap-south], batchSize: 25%, bake: 10m,
 *             gates: [{ prometheus: { url: http://prom:9090, query: "...", max: 0.01 } }] }
 *         - { name: rest, batchSize: 20% }
 */
import { z } from 'zod';
import type { GateSpec, WaveSpec } from '../core/index.js';
import { amount, describe, duration, name, regionList, strict } from './service-map-fields.js';

const url = z.string({ error: 'must be an http:// or https:// URL' }).refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an http:// or https:// URL');

const bound = z
  .number({ error: (iss) => `must be a number, not ${describe(iss.input)}` })
  .nullable()
  .default(null);

const BOUND_NEEDED = 'give max, min or both: the bounds the reading must stay within';

const httpGate = strict({ url, min: bound, max: bound }).refine(
  (g) => g.min !== null || g.max !== null,
  BOUND_NEEDED,
);
const prometheusGate = strict({
  url,
  query: z.string({ error: 'must be a PromQL query' }).min(1, 'must be a PromQL query'),
  min: bound,
  max: bound,
}).refine((g) => g.min !== null || g.max !== null, BOUND_NEEDED);

/** One gate: `{ http: { url, max } }` or `{ prometheus: { url, query, max } }`. */
const gate = strict({ http: httpGate.optional(), prometheus: prometheusGate.optional() })
  .refine(
    (g) => (g.http === undefined) !== (g.prometheus === undefined),
    'must be exactly one of { http: { url, max } } or { prometheus: { url, query, max } }',
  )
  .transform((g): GateSpec =>
    g.http ? { kind: 'http', ...g.http } : { kind: 'prometheus', ...g.prometheus! },
  );

const wave = strict({
  name: name('wave'),
  hosts: amount(1),
  regions: regionList.default(() => []),
  batchSize: amount(1),
  failureThreshold: amount(0),
  bake: duration(0),
  gates: z
    .array(gate, { error: (iss) => `must be a list of gates, not ${describe(iss.input)}` })
    .default(() => []),
}).transform((w): WaveSpec => ({
  name: w.name,
  hosts: w.hosts ?? null,
  regions: w.regions,
  batchSize: w.batchSize ?? null,
  failureThreshold: w.failureThreshold ?? null,
  bakeMs: w.bake,
  gates: w.gates,
}));

export const rollout = strict({
  batchSize: amount(1),
  failureThreshold: amount(0),
  waves: z
    .array(wave, {
      error: (iss) =>
        `must be a list of waves such as { name: canary, hosts: 1, bake: 5m }, not ${describe(iss.input)}`,
    })
    .max(20, 'at most 20 waves')
    .optional(),
  stage: z
    .enum(['all', 'per-wave'], {
      error: 'must be all (every host staged first) or per-wave (each wave just before it starts)',
    })
    .optional(),
});
